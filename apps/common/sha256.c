#include "sha256.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

vkdetr_status vd_sha256_begin(vd_sha256 *h) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    h->ctx = ctx;
    if (!ctx) return vd_app_error(VKDETR_ERR_NO_MEMORY, "sha256: out of memory");
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        vd_sha256_abort(h);
        return vd_app_error(VKDETR_ERR_INTERNAL, "sha256: cannot initialise");
    }
    return VKDETR_OK;
}

vkdetr_status vd_sha256_update(vd_sha256 *h, const void *data, size_t size) {
    if (size && EVP_DigestUpdate(h->ctx, data, size) != 1)
        return vd_app_error(VKDETR_ERR_INTERNAL, "sha256: update failed");
    return VKDETR_OK;
}

vkdetr_status vd_sha256_finish(vd_sha256 *h, char hex[VD_SHA256_HEX_SIZE]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    int ok = EVP_DigestFinal_ex(h->ctx, md, &n) == 1 && n == 32;
    vd_sha256_abort(h);
    if (!ok) return vd_app_error(VKDETR_ERR_INTERNAL, "sha256: final failed");
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
    return VKDETR_OK;
}

void vd_sha256_abort(vd_sha256 *h) {
    if (h && h->ctx) {
        EVP_MD_CTX_free(h->ctx);
        h->ctx = NULL;
    }
}

vkdetr_status vd_sha256_buffer(const void *data, size_t size, char hex[VD_SHA256_HEX_SIZE]) {
    vd_sha256 h;
    vkdetr_status st = vd_sha256_begin(&h);
    if (!st) st = vd_sha256_update(&h, data, size);
    if (!st) return vd_sha256_finish(&h, hex);
    vd_sha256_abort(&h);
    return st;
}

vkdetr_status vd_sha256_file(const char *path, char hex[VD_SHA256_HEX_SIZE]) {
    FILE *f = fopen(path, "rb");
    if (!f) return vd_app_error(VKDETR_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    vd_sha256 h;
    vkdetr_status st = vd_sha256_begin(&h);
    unsigned char *buf = malloc(1 << 20);
    if (!st && !buf) st = vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    size_t n;
    while (!st && (n = fread(buf, 1, 1 << 20, f)) > 0) st = vd_sha256_update(&h, buf, n);
    if (!st && ferror(f)) st = vd_app_error(VKDETR_ERR_IO, "cannot read %s", path);
    free(buf);
    fclose(f);
    if (!st) return vd_sha256_finish(&h, hex);
    vd_sha256_abort(&h);
    return st;
}
