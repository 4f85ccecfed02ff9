#include "files.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

vkdetr_status vd_pathlist_add(vd_pathlist *list, const char *path) {
    if (list->count == list->capacity) {
        int cap = list->capacity ? list->capacity * 2 : 16;
        char **items = realloc(list->items, (size_t)cap * sizeof *items);
        if (!items) return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
        list->items = items;
        list->capacity = cap;
    }
    char *copy = strdup(path);
    if (!copy) return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    list->items[list->count++] = copy;
    return VKDETR_OK;
}

void vd_pathlist_free(vd_pathlist *list) {
    if (!list) return;
    for (int i = 0; i < list->count; i++) free(list->items[i]);
    free(list->items);
    memset(list, 0, sizeof *list);
}

int vd_files_has_ext(const char *path, const char *ext) {
    size_t n = strlen(path), e = strlen(ext);
    if (n < e) return 0;
    for (size_t i = 0; i < e; i++)
        if (tolower((unsigned char)path[n - e + i]) != tolower((unsigned char)ext[i])) return 0;
    return 1;
}

int vd_files_is_image_name(const char *path) {
    static const char *const exts[] = {".jpg", ".jpeg", ".png", ".bmp", ".gif",
                                       ".tga", ".pnm",  ".ppm", ".pgm", ".pbm"};
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (vd_files_has_ext(path, exts[i])) return 1;
    return 0;
}

int vd_files_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *vd_files_basename(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

void vd_files_stem(const char *path, char *out, size_t out_size) {
    const char *base = vd_files_basename(path);
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    if (out_size == 0) return;
    if (n >= out_size) n = out_size - 1;
    memcpy(out, base, n);
    out[n] = '\0';
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join_path(const char *dir, const char *name) {
    size_t n = strlen(dir);
    int slash = n > 0 && dir[n - 1] == '/';
    size_t size = n + strlen(name) + 2;
    char *p = malloc(size);
    if (p) snprintf(p, size, "%s%s%s", dir, slash ? "" : "/", name);
    return p;
}

/* Lists the entries of dir (without "." and hidden names), sorted, as full paths. */
static vkdetr_status list_dir(const char *dir, vd_pathlist *entries) {
    DIR *d = opendir(dir);
    if (!d) return vd_app_error(VKDETR_ERR_IO, "%s: cannot list folder: %s", dir, strerror(errno));
    vkdetr_status st = VKDETR_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char *p = join_path(dir, e->d_name);
        if (!p) {
            st = vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
            break;
        }
        st = vd_pathlist_add(entries, p);
        free(p);
        if (st) break;
    }
    closedir(d);
    if (entries->count > 1)
        qsort(entries->items, (size_t)entries->count, sizeof(char *), compare_names);
    return st;
}

static vkdetr_status expand_dir(const char *dir, int recursive, int depth, vd_pathlist *out) {
    if (depth > 64) return vd_app_error(VKDETR_ERR_IO, "%s: folders nested too deep", dir);
    vd_pathlist entries = {0};
    vkdetr_status st = list_dir(dir, &entries);
    for (int i = 0; st == VKDETR_OK && i < entries.count; i++) {
        const char *p = entries.items[i];
        struct stat s;
        if (stat(p, &s) != 0) continue; /* a dangling link: not an image we could read */
        if (S_ISDIR(s.st_mode)) {
            if (recursive) st = expand_dir(p, recursive, depth + 1, out);
        } else if (S_ISREG(s.st_mode) && vd_files_is_image_name(p)) {
            st = vd_pathlist_add(out, p);
        }
    }
    vd_pathlist_free(&entries);
    return st;
}

static vkdetr_status expand_one(const char *input, int recursive, vd_pathlist *out) {
    if (vd_files_is_dir(input)) return expand_dir(input, recursive, 0, out);
    return vd_pathlist_add(out, input);
}

static vkdetr_status expand_stdin(FILE *in, int recursive, vd_pathlist *out) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    vkdetr_status st = VKDETR_OK;
    while (st == VKDETR_OK && (len = getline(&line, &cap, in)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        if (len == 0) continue;
        if (!strcmp(line, "-")) {
            st = vd_app_error(VKDETR_ERR_INVALID_ARG, "\"-\" inside the list read from stdin");
            break;
        }
        st = expand_one(line, recursive, out);
    }
    free(line);
    return st;
}

vkdetr_status vd_files_expand(const char *const *inputs, int n_inputs, int recursive,
                              FILE *stdin_list, vd_pathlist *out) {
    int stdin_used = 0;
    for (int i = 0; i < n_inputs; i++) {
        vkdetr_status st;
        if (!strcmp(inputs[i], "-")) {
            if (stdin_used) continue; /* stdin can be read once */
            stdin_used = 1;
            st = expand_stdin(stdin_list ? stdin_list : stdin, recursive, out);
        } else {
            st = expand_one(inputs[i], recursive, out);
        }
        if (st) return st;
    }
    return VKDETR_OK;
}

vkdetr_status vd_files_mkdirs(const char *path) {
    size_t n = strlen(path);
    char *p = malloc(n + 1);
    if (!p) return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    memcpy(p, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0') continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            vkdetr_status st = vd_app_error(VKDETR_ERR_IO, "cannot create folder %s: %s", p,
                                            strerror(errno));
            free(p);
            return st;
        }
        p[i] = c;
    }
    free(p);
    if (!vd_files_is_dir(path))
        return vd_app_error(VKDETR_ERR_IO, "%s exists and is not a folder", path);
    return VKDETR_OK;
}

vkdetr_status vd_outfile_open(vd_outfile *of, const char *path) {
    memset(of, 0, sizeof *of);
    size_t size = strlen(path) + 32;
    of->path = strdup(path);
    of->tmp = malloc(size);
    if (!of->path || !of->tmp) {
        vd_outfile_abort(of);
        return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    }
    snprintf(of->tmp, size, "%s.tmp-%ld", path, (long)getpid());
    of->f = fopen(of->tmp, "wb");
    if (!of->f) {
        vkdetr_status st = vd_app_error(VKDETR_ERR_IO, "cannot write %s: %s", path, strerror(errno));
        vd_outfile_abort(of);
        return st;
    }
    return VKDETR_OK;
}

vkdetr_status vd_outfile_commit(vd_outfile *of) {
    vkdetr_status st = VKDETR_OK;
    if (!of->f) {
        vd_outfile_abort(of);
        return vd_app_error(VKDETR_ERR_INVALID_ARG, "output file not open");
    }
    int bad = ferror(of->f) != 0;
    int err = bad ? EIO : 0;
    if (fflush(of->f) != 0 && !err) err = errno;
    if (fclose(of->f) != 0 && !err) err = errno;
    of->f = NULL;
    if (err || bad) {
        st = vd_app_error(VKDETR_ERR_IO, "cannot write %s: %s", of->path, strerror(err ? err : EIO));
    } else if (rename(of->tmp, of->path) != 0) {
        st = vd_app_error(VKDETR_ERR_IO, "cannot rename %s to %s: %s", of->tmp, of->path,
                          strerror(errno));
    } else {
        free(of->tmp);
        of->tmp = NULL;
    }
    vd_outfile_abort(of);
    return st;
}

void vd_outfile_abort(vd_outfile *of) {
    if (!of) return;
    if (of->f) fclose(of->f);
    if (of->tmp) remove(of->tmp);
    free(of->tmp);
    free(of->path);
    memset(of, 0, sizeof *of);
}

vkdetr_status vd_files_write_atomic(const char *path, const void *data, size_t size) {
    vd_outfile of;
    vkdetr_status st = vd_outfile_open(&of, path);
    if (st) return st;
    if (size && fwrite(data, 1, size, of.f) != size) {
        st = vd_app_error(VKDETR_ERR_IO, "cannot write %s: %s", path, strerror(errno));
        vd_outfile_abort(&of);
        return st;
    }
    return vd_outfile_commit(&of);
}

vkdetr_status vd_files_read_all(const char *path, char **data, size_t *size) {
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return vd_app_error(VKDETR_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    vkdetr_status st = VKDETR_OK;
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        char *bigger = realloc(buf, cap * 2 + 1);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    if (!buf) {
        st = vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory reading %s", path);
    } else if (ferror(f)) {
        st = vd_app_error(VKDETR_ERR_IO, "cannot read %s: %s", path, strerror(errno));
        free(buf);
    } else {
        buf[n] = '\0';
        *data = buf;
        *size = n;
    }
    fclose(f);
    return st;
}
