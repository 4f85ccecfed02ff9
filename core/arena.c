#include "arena.h"

#include <string.h>

#include "base.h"

struct vd_arena_block {
    vd_arena_block *next;
    size_t size; /* usable bytes after the header */
    size_t used;
};

#define HEADER ((sizeof(vd_arena_block) + 63) & ~(size_t)63)

void vd_arena_init(vd_arena *a, size_t block_size) {
    a->head = NULL;
    a->block_size = block_size ? block_size : (size_t)64 << 10;
    a->used = 0;
}

void *vd_arena_alloc(vd_arena *a, size_t size) {
    size = (size + 63) & ~(size_t)63;
    if (size == 0) size = 64;
    vd_arena_block *b = a->head;
    if (!b || b->size - b->used < size) {
        size_t bs = size > a->block_size ? size : a->block_size;
        if (bs > SIZE_MAX - HEADER) return NULL;
        b = vd_aligned_alloc(HEADER + bs);
        if (!b) return NULL;
        b->size = bs;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = (char *)b + HEADER + b->used;
    b->used += size;
    a->used += size;
    return p;
}

void *vd_arena_calloc(vd_arena *a, size_t n, size_t size) {
    size_t total;
    if (vd_mul_size(n, size, &total)) return NULL;
    void *p = vd_arena_alloc(a, total);
    if (p) memset(p, 0, total);
    return p;
}

char *vd_arena_strdup(vd_arena *a, const char *s) {
    size_t n = strlen(s) + 1;
    char *d = vd_arena_alloc(a, n);
    if (d) memcpy(d, s, n);
    return d;
}

void vd_arena_reset(vd_arena *a) {
    vd_arena_block *b = a->head;
    if (!b) return;
    /* keep the oldest block (the last in the list) */
    while (b->next) {
        vd_arena_block *next = b->next;
        vd_aligned_free(b);
        b = next;
    }
    b->used = 0;
    a->head = b;
    a->used = 0;
}

void vd_arena_free(vd_arena *a) {
    vd_arena_block *b = a->head;
    while (b) {
        vd_arena_block *next = b->next;
        vd_aligned_free(b);
        b = next;
    }
    a->head = NULL;
    a->used = 0;
}
