/* SHA-256 through OpenSSL's libcrypto, as lower-case hex strings. */
#ifndef VD_APP_SHA256_H
#define VD_APP_SHA256_H

#include <stddef.h>

#include "vkdetr.h"

#define VD_SHA256_HEX_SIZE 65 /* 64 hex digits and the NUL */

typedef struct vd_sha256 {
    void *ctx; /* EVP_MD_CTX */
} vd_sha256;

vkdetr_status vd_sha256_begin(vd_sha256 *h);
vkdetr_status vd_sha256_update(vd_sha256 *h, const void *data, size_t size);
/* Writes the digest and releases the context (also on failure). */
vkdetr_status vd_sha256_finish(vd_sha256 *h, char hex[VD_SHA256_HEX_SIZE]);
/* Releases a context without a digest; accepts a finished or zeroed one. */
void vd_sha256_abort(vd_sha256 *h);

/* One-shot digests. */
vkdetr_status vd_sha256_buffer(const void *data, size_t size, char hex[VD_SHA256_HEX_SIZE]);
vkdetr_status vd_sha256_file(const char *path, char hex[VD_SHA256_HEX_SIZE]);

#endif
