/* A bump allocator for scratch that lives as long as one graph or one inference. Blocks are
 * allocated through vd_aligned_alloc; every allocation is 64-byte aligned. */
#ifndef VD_ARENA_H
#define VD_ARENA_H

#include <stddef.h>

typedef struct vd_arena_block vd_arena_block;

typedef struct vd_arena {
    vd_arena_block *head; /* newest block first */
    size_t block_size;    /* default size of a new block */
    size_t used;          /* bytes handed out, for statistics */
} vd_arena;

/* block_size 0 selects 64 KiB. */
void vd_arena_init(vd_arena *a, size_t block_size);

/* Returns NULL when out of memory. size 0 returns a valid pointer. */
void *vd_arena_alloc(vd_arena *a, size_t size);
void *vd_arena_calloc(vd_arena *a, size_t n, size_t size);
char *vd_arena_strdup(vd_arena *a, const char *s);

/* Releases everything handed out, keeping the first block for reuse. */
void vd_arena_reset(vd_arena *a);

/* Releases all memory. */
void vd_arena_free(vd_arena *a);

#endif
