/* vd_source_open: picks the source for a spec; the shared clock. */
#include "source.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "error.h"
#include "files.h"

vd_source_params vd_source_default_params(void) {
    vd_source_params p;
    memset(&p, 0, sizeof p);
    p.pixel_format = "auto";
    return p;
}

double vd_source_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int is_char_device(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISCHR(st.st_mode);
}

static int is_regular_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

vkdetr_status vd_source_open(const vd_source_params *p, vd_source **out) {
    *out = NULL;
    if (!p || !p->spec || !p->spec[0])
        return vd_app_error(VKDETR_ERR_INVALID_ARG, "no input given");
    const char *s = p->spec;
    if (!strncmp(s, "synth:", 6)) return vd_source_open_synth(p, out);
    if (!strncmp(s, "/dev/video", 10) || is_char_device(s)) return vd_source_open_v4l2(p, out);
    if (vd_files_is_dir(s)) return vd_source_open_images(p, out);
    if (vd_files_is_image_name(s) && is_regular_file(s)) return vd_source_open_images(p, out);
    return vd_source_open_av(p, out);
}

int vd_source_read(vd_source *s, vd_frame *f, int timeout_ms) {
    return s->ops->read(s, f, timeout_ms);
}

void vd_source_close(vd_source *s) {
    if (s) s->ops->close(s);
}
