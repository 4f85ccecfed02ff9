/* Files for the apps: input expansion (files, folders, recursion, a list on stdin) and output
 * files that appear complete or not at all (written under a temporary name, then renamed). */
#ifndef VD_APP_FILES_H
#define VD_APP_FILES_H

#include <stddef.h>
#include <stdio.h>

#include "vkdetr.h"

/* A growable list of paths; every string is owned by the list. */
typedef struct vd_pathlist {
    char **items;
    int count;
    int capacity;
} vd_pathlist;

/* Appends a copy of path. */
vkdetr_status vd_pathlist_add(vd_pathlist *list, const char *path);
void vd_pathlist_free(vd_pathlist *list);

/* 1 when the file name ends with an image extension the decoder reads (.jpg .jpeg .png .bmp
 * .gif .tga .pnm .ppm .pgm .pbm, any case). */
int vd_files_is_image_name(const char *path);

/* Expands inputs into image paths, in order:
 *   - a folder gives the image files directly in it (by extension, hidden files skipped),
 *     sorted by name, and with `recursive` those of its subfolders too (depth first, sorted);
 *   - "-" reads one path per line from stdin_list (blank lines skipped, each line expanded
 *     like an argument; "-" itself is not allowed there);
 *   - anything else is passed through unchanged, even when it does not exist, so that the
 *     caller reports it with the other unreadable inputs.
 * Appends to *out. Fails (VKDETR_ERR_IO) only when a folder cannot be listed. */
vkdetr_status vd_files_expand(const char *const *inputs, int n_inputs, int recursive,
                              FILE *stdin_list, vd_pathlist *out);

/* 1 when path is an existing directory. */
int vd_files_is_dir(const char *path);

/* Creates a directory and its parents (mode 0777 before umask); existing ones are fine. */
vkdetr_status vd_files_mkdirs(const char *path);

/* The file name of path without its folder ("a/b/c.jpg" -> "c.jpg"). Borrowed from path. */
const char *vd_files_basename(const char *path);

/* Writes the file name of path without folder and extension to out ("a/b/c.jpg" -> "c"). */
void vd_files_stem(const char *path, char *out, size_t out_size);

/* The extension with its dot, lower-case compare helper: 1 when path ends with ext (".png"),
 * case-insensitively. */
int vd_files_has_ext(const char *path, const char *ext);

/* An output file written under a temporary name in the same folder ("<path>.tmp-<pid>") and
 * renamed to path by vd_outfile_commit, so that readers never see a partial file and a failed
 * run leaves nothing behind. */
typedef struct vd_outfile {
    FILE *f;       /* write here */
    char *path;    /* the final name */
    char *tmp;     /* the temporary name */
} vd_outfile;

/* Opens the temporary file for writing (binary). */
vkdetr_status vd_outfile_open(vd_outfile *of, const char *path);

/* Flushes, closes and renames; on any failure removes the temporary file. Always releases
 * of's resources. */
vkdetr_status vd_outfile_commit(vd_outfile *of);

/* Closes and removes the temporary file; accepts an unopened (zeroed) or committed file. */
void vd_outfile_abort(vd_outfile *of);

/* Writes size bytes to path through a vd_outfile. */
vkdetr_status vd_files_write_atomic(const char *path, const void *data, size_t size);

/* Reads a whole file into a malloc'ed buffer with a terminating NUL (not counted in *size). */
vkdetr_status vd_files_read_all(const char *path, char **data, size_t *size);

#endif
