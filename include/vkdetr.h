/* vkdetr — DETR-family object detection in C, on Vulkan GPUs and plain CPUs.
 *
 * Usage (one model, one session per thread; error handling shortened):
 *
 *     #include <vkdetr.h>
 *
 *     vkdetr_model_params mp = vkdetr_model_default_params();
 *     vkdetr_model *model;
 *     if (vkdetr_model_load("path/to/checkpoint", &mp, &model) != VKDETR_OK) {
 *         fprintf(stderr, "%s\n", vkdetr_last_error());
 *         return 1;
 *     }
 *     vkdetr_session_params sp = vkdetr_session_default_params();
 *     sp.threshold = 0.4f;
 *     vkdetr_session *s;
 *     if (vkdetr_session_create(model, &sp, &s) != VKDETR_OK) { ... vkdetr_last_error() ... }
 *     vkdetr_result *r;
 *     if (vkdetr_session_detect_file(s, "image.jpg", &r) == VKDETR_OK) {
 *         for (int i = 0; i < r->count; i++) {
 *             const vkdetr_detection *d = &r->detections[i];
 *             printf("%s %.2f [%.1f %.1f %.1f %.1f]\n", d->label, d->score,
 *                    d->box[0], d->box[1], d->box[2], d->box[3]);
 *         }
 *         vkdetr_result_free(r);
 *     } else {
 *         fprintf(stderr, "%s\n", vkdetr_session_last_error(s));
 *     }
 *     // pixels already in memory (a video frame, a camera buffer): no copy is made
 *     vkdetr_image img = {frame, width, height, row_bytes, VKDETR_PIXEL_BGRA};
 *     vkdetr_session_detect(s, &img, &r);
 *     ...
 *     vkdetr_session_free(s);      // every session of a model first,
 *     vkdetr_model_free(model);    // then the model
 *
 * A checkpoint is a folder in the Hugging Face layout: config.json, model.safetensors and
 * preprocessor_config.json, as published on the hub (RT-DETR v1 and v2 today). The shaders
 * are compiled into the library: nothing else is read at run time. C++ programs may use
 * vkdetr.hpp, a header-only RAII wrapper over this header.
 *
 * Build against an installed vkdetr with CMake (`find_package(vkdetr)`, then link
 * `vkdetr::vkdetr`, or `vkdetr::vkdetr_static` for the static library) or with pkg-config
 * (`pkg-config --cflags --libs vkdetr`).
 *
 * Conventions
 *   - Boxes in results are (x0, y0, x1, y1) in pixels of the ORIGINAL image (the image
 *     given to the call, before any resize), x to the right, y down, origin at the top-left
 *     corner of the top-left pixel: a box covering exactly pixel (0, 0) is (0, 0, 1, 1).
 *     They are not clipped to the image and may extend past its edges.
 *   - Scores are probabilities in [0, 1]; class ids index the model's classes
 *     (config.json id2label), 0 <= class_id < vkdetr_model_info.num_classes.
 *   - Masks (models that predict them) cover the original image and are given as COCO
 *     run-length encodings, and on request also as bitmaps; see vkdetr_mask.
 *   - Sizes are in pixels, times in milliseconds, image rows top to bottom.
 *
 * Errors
 *   Every function that can fail returns a vkdetr_status: VKDETR_OK is 0, failures are
 *   negative, and out-pointers are set to NULL (or cleared) on failure. The one-line message
 *   of the last failure is in vkdetr_last_error() (per thread; every failing call sets it)
 *   and, for calls on a session, also in vkdetr_session_last_error(). The library never
 *   exits the process, never aborts on bad input, and never prints except through the log
 *   callback.
 *
 * Ownership
 *   "Caller owns": free it with the matching *_free function (each accepts NULL).
 *   "Borrowed": owned by the library; valid for the time stated at the declaration.
 *   Pointers the caller passes in are borrowed for the duration of the call only, unless
 *   stated otherwise.
 *
 * Thread safety
 *   - A model is immutable after loading and may be shared by any number of threads:
 *     vkdetr_model_get_info, vkdetr_model_class_name and vkdetr_session_create may be called
 *     concurrently on one model. vkdetr_model_free must not overlap any other call on the
 *     model or its sessions.
 *   - A session belongs to one thread at a time: calls on the same session must not overlap
 *     (use one session per thread). Different sessions, of the same or different models,
 *     may be used concurrently; their results are the same as if they ran one at a time.
 *   - Results are independent objects: a result may be read and freed on any thread, before
 *     or after its session is freed (its labels are borrowed from the model).
 *   - vkdetr_version, vkdetr_status_string, vkdetr_last_error, vkdetr_device_list,
 *     vkdetr_image_load/free, vkdetr_mask_decode and the *_default_params functions are
 *     thread-safe. vkdetr_log_set is process-wide; call it before loading models.
 */
#ifndef VKDETR_H
#define VKDETR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define VKDETR_API __declspec(dllexport)
#elif defined(__GNUC__)
#define VKDETR_API __attribute__((visibility("default")))
#else
#define VKDETR_API
#endif

#define VKDETR_VERSION_MAJOR 0
#define VKDETR_VERSION_MINOR 1
#define VKDETR_VERSION_PATCH 0

/* The version of the library the program runs with, "MAJOR.MINOR.PATCH" (the VKDETR_VERSION_*
 * macros give the version of the header it was compiled with). Static storage; never NULL. */
VKDETR_API const char *vkdetr_version(void);

/* ---- status and errors ---------------------------------------------------------------- */

typedef enum vkdetr_status {
    VKDETR_OK = 0,
    VKDETR_ERR_INVALID_ARG = -1, /* a NULL or out-of-range argument */
    VKDETR_ERR_NO_MEMORY = -2,   /* host or device allocation failed */
    VKDETR_ERR_IO = -3,          /* a file is missing or cannot be read or written */
    VKDETR_ERR_FORMAT = -4,      /* a file is corrupt: safetensors, JSON, image */
    VKDETR_ERR_UNSUPPORTED = -5, /* a model type, configuration value or option we do not run */
    VKDETR_ERR_SHAPE = -6,       /* a tensor is missing or has the wrong shape */
    VKDETR_ERR_BACKEND = -7,     /* the requested backend or device is not available */
    VKDETR_ERR_DEVICE_LOST = -8, /* the GPU was lost during execution */
    VKDETR_ERR_INTERNAL = -9     /* a bug: please report it */
} vkdetr_status;

/* A short description of a status code ("invalid argument", ...; "unknown status" for a
 * value not in the enum). Static storage; never NULL. */
VKDETR_API const char *vkdetr_status_string(vkdetr_status status);

/* The message of the last failure on the calling thread, one line naming the problem (the
 * file, tensor, argument or device), without a trailing newline. Successful calls do not
 * clear it. Borrowed; valid until the next vkdetr call on this thread. Never NULL. */
VKDETR_API const char *vkdetr_last_error(void);

/* ---- logging -------------------------------------------------------------------------- */

typedef enum vkdetr_log_level {
    VKDETR_LOG_ERROR = 0,
    VKDETR_LOG_WARN = 1,
    VKDETR_LOG_INFO = 2,
    VKDETR_LOG_DEBUG = 3
} vkdetr_log_level;

/* msg is one line without the trailing newline, borrowed for the duration of the call.
 * The callback may be called from any thread, concurrently, and must not call back into
 * vkdetr. */
typedef void (*vkdetr_log_fn)(vkdetr_log_level level, const char *msg, void *user);

/* Sets the process-wide log callback and the most verbose level passed to it (the default:
 * VKDETR_LOG_WARN). fn NULL restores the default callback, which writes to stderr
 * ("vkdetr: warning: ..."). user is passed to fn unchanged. Not synchronised with messages
 * logged concurrently: set it before loading models. */
VKDETR_API void vkdetr_log_set(vkdetr_log_fn fn, void *user, vkdetr_log_level max_level);

/* ---- models --------------------------------------------------------------------------- */

typedef enum vkdetr_backend {
    VKDETR_BACKEND_AUTO = 0,  /* a real GPU through Vulkan when there is one, else the CPU */
    VKDETR_BACKEND_CPU = 1,
    VKDETR_BACKEND_VULKAN = 2 /* fails with VKDETR_ERR_BACKEND when no device is usable */
} vkdetr_backend;

/* Arithmetic precision of the Vulkan backend. The CPU backend always computes in fp32 and
 * ignores this setting. */
typedef enum vkdetr_precision {
    VKDETR_PRECISION_AUTO = 0, /* fp16 storage on Vulkan devices that have it, else fp32 */
    VKDETR_PRECISION_FP32 = 1,
    VKDETR_PRECISION_FP16 = 2  /* fp16 storage, fp32 for sensitive parts; fails with
                                  VKDETR_ERR_UNSUPPORTED on devices without 16-bit storage */
} vkdetr_precision;

/* Model parameters: start from vkdetr_model_default_params() and change fields, so that
 * fields added in later versions keep their defaults. Fields are only ever appended. */
typedef struct vkdetr_model_params {
    vkdetr_backend backend;     /* default VKDETR_BACKEND_AUTO */
    vkdetr_precision precision; /* default VKDETR_PRECISION_FP32 */
    /* Vulkan device: an index into the enumerated devices ("0"), or a case-insensitive
     * substring of the device name ("llvmpipe"). NULL: the VKDETR_DEVICE environment
     * variable, else the first discrete GPU, then integrated GPU. Software rasterisers
     * (lavapipe) are chosen only when named. Borrowed during the call. */
    const char *device;
} vkdetr_model_params;

VKDETR_API vkdetr_model_params vkdetr_model_default_params(void);

/* An immutable, loaded network: weights (on the device for Vulkan), configuration, class
 * names and preprocessing settings. Opaque. */
typedef struct vkdetr_model vkdetr_model;

/* Loads the checkpoint folder dir (config.json, model.safetensors, preprocessor_config.json;
 * without preprocessor_config.json the family's default preprocessing is used and a warning
 * logged). params may be NULL for the defaults. On success *out is owned by the caller (free
 * with vkdetr_model_free); on failure *out is NULL. Weights are read with mmap and converted
 * to fp32 once. Errors: VKDETR_ERR_IO (missing file), VKDETR_ERR_FORMAT (corrupt JSON or
 * safetensors), VKDETR_ERR_UNSUPPORTED (model type or configuration value), VKDETR_ERR_SHAPE
 * (a tensor missing or mis-shaped, named in the message), VKDETR_ERR_BACKEND (the requested
 * backend or device is not available), VKDETR_ERR_INVALID_ARG (a NULL dir or out, a params
 * field out of range). */
VKDETR_API vkdetr_status vkdetr_model_load(const char *dir, const vkdetr_model_params *params,
                                           vkdetr_model **out);

/* As vkdetr_model_load, with the three files named separately (any names). preprocessor_json
 * may be NULL: the family's default preprocessing is used. */
VKDETR_API vkdetr_status vkdetr_model_load_files(const char *config_json,
                                                 const char *weights_safetensors,
                                                 const char *preprocessor_json,
                                                 const vkdetr_model_params *params,
                                                 vkdetr_model **out);

/* As vkdetr_model_load_files, from memory: the contents of config.json, model.safetensors
 * and preprocessor_config.json (JSON text need not be NUL-terminated). The buffers are
 * borrowed for the call only: the model keeps its own copy of what it needs (the weights
 * buffer is copied, so loading needs about twice its size in memory until it returns).
 * preprocessor_json may be NULL (preprocessor_size is then ignored). */
VKDETR_API vkdetr_status vkdetr_model_load_memory(const void *config_json, size_t config_size,
                                                  const void *weights, size_t weights_size,
                                                  const void *preprocessor_json,
                                                  size_t preprocessor_size,
                                                  const vkdetr_model_params *params,
                                                  vkdetr_model **out);

/* Releases the model. Accepts NULL. Every session of the model must be freed first; results
 * must not be read after it (their labels are borrowed from the model). */
VKDETR_API void vkdetr_model_free(vkdetr_model *model);

typedef struct vkdetr_model_info {
    const char *family;     /* "rt_detr", "rt_detr_v2", ... */
    const char *backend;    /* "cpu" or "vulkan" */
    const char *device;     /* device name: the Vulkan device, or "CPU (...)" naming the
                               CPU kernels that run ("AVX2 + FMA kernels", ...) */
    int input_width;        /* default network input size in pixels */
    int input_height;
    int size_multiple;      /* a session's input size must be a multiple of this */
    int num_classes;
    int num_queries;
    int has_masks;          /* 1 when the model predicts instance masks */
    int64_t num_parameters; /* learnable parameters as stored in the checkpoint */
} vkdetr_model_info;

/* Fills *info; the strings are borrowed from the model (valid until vkdetr_model_free). */
VKDETR_API vkdetr_status vkdetr_model_get_info(const vkdetr_model *model, vkdetr_model_info *info);

/* The name of class class_id (config.json id2label; "LABEL_<id>" when the config has no
 * id2label), or NULL when class_id is out of range or model is NULL. Borrowed from the model
 * (valid until vkdetr_model_free). */
VKDETR_API const char *vkdetr_model_class_name(const vkdetr_model *model, int class_id);

/* ---- devices -------------------------------------------------------------------------- */

typedef enum vkdetr_device_type {
    VKDETR_DEVICE_OTHER = 0,
    VKDETR_DEVICE_INTEGRATED_GPU = 1,
    VKDETR_DEVICE_DISCRETE_GPU = 2,
    VKDETR_DEVICE_VIRTUAL_GPU = 3,
    VKDETR_DEVICE_CPU = 4 /* a software rasteriser such as lavapipe (llvmpipe) */
} vkdetr_device_type;

typedef struct vkdetr_device_info {
    char name[256];             /* VkPhysicalDeviceProperties.deviceName */
    vkdetr_device_type type;
    uint64_t memory_bytes;      /* size of the largest device-local memory heap */
    int fp16;                   /* 1 when fp16 storage and arithmetic are supported */
    int usable;                 /* 1 when vkdetr can run on it */
} vkdetr_device_info;

/* Lists the Vulkan devices in the order of the index accepted by vkdetr_model_params.device.
 * Writes at most capacity entries to out (out may be NULL when capacity is 0) and sets *count
 * to the number of devices, so a caller may ask for the count first. A build without Vulkan,
 * or a machine without a Vulkan loader or driver, has 0 devices and returns VKDETR_OK.
 * Thread-safe. */
VKDETR_API vkdetr_status vkdetr_device_list(vkdetr_device_info *out, int capacity, int *count);

/* ---- sessions ------------------------------------------------------------------------- */

/* Session parameters: start from vkdetr_session_default_params() and change fields. Fields
 * are only ever appended. */
typedef struct vkdetr_session_params {
    int input_width;      /* network input size in pixels; 0 = the model's default
                             (vkdetr_model_info.input_width/height). A multiple of
                             vkdetr_model_info.size_multiple, at most 8192. Images of any
                             size are resized to it as the checkpoint's preprocessor does. */
    int input_height;
    int n_threads;        /* CPU backend threads for this session; 0 = one per online core.
                             Default 0 */
    float threshold;      /* keep detections with score > threshold; default 0.5 */
    int max_detections;   /* at most this many per image, best first; default 300 (negative
                             values count as 0) */
    int masks;            /* a vkdetr_mask_mode: which mask representations results carry
                             when the model predicts masks. Default VKDETR_MASKS_RLE */
    int stages;           /* 1: keep every stage's output for vkdetr_session_output (debugging,
                             parity checks; costs memory). Default 0 */
    int profile;          /* 1: time every op (vkdetr_session_profile). Default 0 */
} vkdetr_session_params;

/* Values of vkdetr_session_params.masks. */
typedef enum vkdetr_mask_mode {
    VKDETR_MASKS_NONE = 0,  /* no masks: vkdetr_result.has_masks is 0 */
    VKDETR_MASKS_RLE = 1,   /* run-length encodings (vkdetr_mask.counts); the default */
    VKDETR_MASKS_BITMAP = 2 /* run-length encodings and full-size bitmaps (vkdetr_mask.data):
                               width * height bytes per detection */
} vkdetr_mask_mode;

VKDETR_API vkdetr_session_params vkdetr_session_default_params(void);

/* One caller's working state for a model: activations planned for one input size, command
 * buffers, the outputs of the last run and the last error. Opaque. */
typedef struct vkdetr_session vkdetr_session;

/* Creates a session: buffers for one input size are planned here, so that detection
 * allocates nothing per image but its result. params may be NULL for the defaults. On
 * success *out is owned by the caller (vkdetr_session_free); on failure *out is NULL and the
 * message is in vkdetr_last_error(). The model must outlive the session. Thread-safe with
 * respect to the model: threads may create sessions of one model concurrently.
 * Errors: VKDETR_ERR_INVALID_ARG (a NULL model or out; an input size that is not a multiple
 * of the model's size multiple; n_threads < 0; a NaN threshold; masks not a
 * vkdetr_mask_mode), VKDETR_ERR_NO_MEMORY. */
VKDETR_API vkdetr_status vkdetr_session_create(vkdetr_model *model,
                                               const vkdetr_session_params *params,
                                               vkdetr_session **out);

/* Releases the session. Accepts NULL. Results obtained from it stay valid. */
VKDETR_API void vkdetr_session_free(vkdetr_session *session);

/* The message of the last failed call on this session ("" when the last call that can fail
 * succeeded; "no session" for NULL). Borrowed; valid until the next call on the session.
 * Never NULL. */
VKDETR_API const char *vkdetr_session_last_error(const vkdetr_session *session);

/* Pixel layouts of vkdetr_image: 8 bits per channel, channels interleaved in this order.
 * Alpha is ignored (not composited), as PIL's convert("RGB") does; gray is replicated. */
typedef enum vkdetr_pixel_format {
    VKDETR_PIXEL_RGB = 0,  /* 3 bytes per pixel */
    VKDETR_PIXEL_RGBA = 1, /* 4 */
    VKDETR_PIXEL_BGR = 2,  /* 3 (OpenCV's default) */
    VKDETR_PIXEL_BGRA = 3, /* 4 */
    VKDETR_PIXEL_GRAY = 4  /* 1 */
} vkdetr_pixel_format;

/* An 8-bit image in the caller's memory, rows top to bottom, pixels left to right. As an
 * argument it is borrowed for the call only (never copied whole, never written). */
typedef struct vkdetr_image {
    const uint8_t *data;        /* the first pixel of the top row */
    int width;                  /* > 0 */
    int height;                 /* > 0; width * height at most 2^28 */
    int stride;                 /* bytes from one row to the next, >= width * channels (row
                                   padding allowed); 0 = width * channels */
    vkdetr_pixel_format format;
} vkdetr_image;

/* Decodes an image file to 8-bit RGB the way vkdetr_session_detect_file does (JPEG, PNG,
 * BMP, GIF first frame, TGA, PNM; 16-bit and gray/alpha converted to RGB as PIL's
 * convert("RGB"); JPEG EXIF orientation applied). On success out->data is owned by the
 * caller: release it with vkdetr_image_free; on failure *out is cleared. */
VKDETR_API vkdetr_status vkdetr_image_load(const char *path, vkdetr_image *out);

/* Releases the pixels of an image from vkdetr_image_load and clears *image. Accepts NULL and
 * a cleared image. Only for images from vkdetr_image_load. */
VKDETR_API void vkdetr_image_free(vkdetr_image *image);

/* The instance mask of one detection, covering the whole original image (width x height
 * pixels). It is present when vkdetr_result.has_masks is 1 (the model predicts masks and the
 * session's masks parameter is not VKDETR_MASKS_NONE); otherwise every field is 0 / NULL.
 *
 * counts is COCO's uncompressed run-length encoding: the pixels are taken in column-major
 * order (x outer, y inner: (0,0), (0,1), ..., (0,h-1), (1,0), ...), counts[0] is the number
 * of 0 (outside) pixels before the first 1 (inside) pixel and may be 0, then runs of 1s and
 * 0s alternate; the counts add up to width * height. That is pycocotools' {"size": [height,
 * width], "counts": [...]} as is, and mask.encode's compressed string after its
 * compression; vkdetr_mask_decode expands it to a bitmap. */
typedef struct vkdetr_mask {
    int width;        /* the original image size; 0 when there is no mask */
    int height;
    uint8_t *data;    /* width * height bytes, row-major, 1 inside the instance, 0 outside;
                         only with VKDETR_MASKS_BITMAP, else NULL. Owned by the result */
    int n_counts;     /* entries in counts (>= 1 when there is a mask), 0 when none */
    uint32_t *counts; /* the run lengths described above; NULL when there is no mask. Owned
                         by the result */
} vkdetr_mask;

/* Expands a mask's run-length encoding into bitmap: width * height bytes, row-major, 1
 * inside and 0 outside (the layout of vkdetr_mask.data). Returns VKDETR_ERR_INVALID_ARG for
 * a NULL argument, a mask without counts, or counts that do not add up to width * height
 * (bitmap is then left in an unspecified state). Thread-safe. */
VKDETR_API vkdetr_status vkdetr_mask_decode(const vkdetr_mask *mask, uint8_t *bitmap);

/* One detected object. A query may give several detections of different classes with the
 * same box, as transformers' post-processing does (top-k over queries x classes, no NMS). */
typedef struct vkdetr_detection {
    float box[4];      /* x0, y0, x1, y1 in original-image pixels (see Conventions) */
    float score;       /* in [0, 1], > the session's threshold */
    int class_id;      /* index into the model's classes */
    const char *label; /* class name, borrowed from the model (valid until vkdetr_model_free);
                          never NULL */
    vkdetr_mask mask;  /* see vkdetr_mask; owned by the result */
} vkdetr_detection;

/* The detections of one image. Owned by the caller (vkdetr_result_free), independent of the
 * session that made it. */
typedef struct vkdetr_result {
    int count;                     /* detections, best score first; may be 0 */
    vkdetr_detection *detections;  /* count entries; owned by the result */
    int image_width;               /* the original image */
    int image_height;
    double time_ms;                /* wall time of the call: decoding (detect_file),
                                      preprocessing, network and post-processing */
    int has_masks;                 /* 1 when every detection carries a mask (see vkdetr_mask) */
} vkdetr_result;

/* Detects objects in an image in the caller's memory (any size: it is resized to the
 * session's input size as the checkpoint's preprocessor does, and boxes are scaled back to
 * it). On success *out is owned by the caller (vkdetr_result_free); on failure *out is NULL
 * and the message is in vkdetr_session_last_error(session) (and vkdetr_last_error()).
 * Errors: VKDETR_ERR_INVALID_ARG (a NULL argument, an image with NULL data, a bad size,
 * stride or format), VKDETR_ERR_NO_MEMORY, VKDETR_ERR_DEVICE_LOST, VKDETR_ERR_BACKEND. */
VKDETR_API vkdetr_status vkdetr_session_detect(vkdetr_session *session, const vkdetr_image *image,
                                               vkdetr_result **out);

/* Decodes the file as vkdetr_image_load does and detects objects in it; boxes are in pixels
 * of the decoded (EXIF-oriented) image. As vkdetr_session_detect, and VKDETR_ERR_IO (the file
 * cannot be read), VKDETR_ERR_FORMAT (not a supported image, or corrupt). */
VKDETR_API vkdetr_status vkdetr_session_detect_file(vkdetr_session *session, const char *path,
                                                    vkdetr_result **out);

/* Releases a result with its detections and masks. Accepts NULL. */
VKDETR_API void vkdetr_result_free(vkdetr_result *result);

/* ---- lower level: the network on given pixel values, outputs and profiles ---------------- */

/* Runs the network on pixel values that are already preprocessed: pixels is [3, height, width]
 * float32 (CHW, what the checkpoint's image processor produces), height and width equal to
 * the session's input size (else VKDETR_ERR_SHAPE). The outputs are then read with
 * vkdetr_session_output; no detections are decoded. */
VKDETR_API vkdetr_status vkdetr_session_forward(vkdetr_session *session, const float *pixels,
                                                int width, int height);

typedef enum vkdetr_dtype { VKDETR_DTYPE_F32 = 0, VKDETR_DTYPE_I32 = 1 } vkdetr_dtype;

typedef struct vkdetr_tensor {
    const char *name;    /* "logits", "pred_boxes", and with stages=1 the intermediates, named
                            as the fixture script tools/gen_rtdetr_fixtures.py names them */
    vkdetr_dtype dtype;
    int ndim;
    int64_t shape[4];
    const void *data;    /* borrowed: valid until the next call on the session */
} vkdetr_tensor;

/* Number of outputs of the last forward or detect call (0 before the first, and for NULL). */
VKDETR_API int vkdetr_session_output_count(const vkdetr_session *session);

/* Output i (0 <= i < count) of the last forward or detect call; *out borrows the session's
 * copy (valid until the next call on the session). VKDETR_ERR_INVALID_ARG for an index out
 * of range or before the first run. */
VKDETR_API vkdetr_status vkdetr_session_output(vkdetr_session *session, int i,
                                               vkdetr_tensor *out);

typedef enum vkdetr_stage {
    VKDETR_STAGE_PREPROCESS = 0, /* decode excluded: resize and rescale */
    VKDETR_STAGE_BACKBONE = 1,
    VKDETR_STAGE_ENCODER = 2,    /* neck: hybrid encoder / projector */
    VKDETR_STAGE_DECODER = 3,    /* query selection, decoder layers, heads */
    VKDETR_STAGE_POSTPROCESS = 4,
    VKDETR_STAGE_COUNT = 5
} vkdetr_stage;

typedef struct vkdetr_op_profile {
    const char *op;      /* "conv2d", "linear", "msda", ... */
    int count;           /* nodes of this type */
    double ms;           /* time of all of them in the last run */
    double gflop;        /* arithmetic of all of them (multiply-add = 2) */
} vkdetr_op_profile;

typedef struct vkdetr_profile {
    double stage_ms[VKDETR_STAGE_COUNT];
    double total_ms;
    int n_ops;                    /* entries in ops */
    const vkdetr_op_profile *ops; /* per op type, borrowed until the next call on the session */
    int submits;                  /* Vulkan command-buffer submissions in the last run */
    int host_syncs;               /* Vulkan host waits in the last run */
    int64_t peak_rss_kb;          /* the process's peak resident set size so far */
} vkdetr_profile;

/* Timings of the last run (all 0 before the first). Per-op times need the session's profile
 * parameter set; stage times are always measured (stage boundaries only). The ops array is
 * borrowed until the next call on the session. */
VKDETR_API vkdetr_status vkdetr_session_profile(vkdetr_session *session, vkdetr_profile *out);

typedef struct vkdetr_node_profile {
    const char *op;     /* op type, as in vkdetr_op_profile */
    const char *shapes; /* first input, second input (a weight for conv2d and linear) and
                           output, e.g. "1x64x160x160, 256x64x1x1 -> 1x256x160x160" */
    int stage;          /* vkdetr_stage */
    double ms;          /* time in the last run: 0 for a node another one computes itself, and
                           where the backend did not time nodes (Vulkan without profile) */
    double gflop;       /* arithmetic (multiply-add = 2) */
} vkdetr_node_profile;

/* Per-node timings of the last run: every node of the network that computes something, in
 * the order they run (0 nodes before the first run). The array is borrowed until the next
 * call on the session. */
VKDETR_API vkdetr_status vkdetr_session_node_profile(vkdetr_session *session,
                                                     const vkdetr_node_profile **nodes,
                                                     int *n_nodes);

#ifdef __cplusplus
}
#endif

#endif /* VKDETR_H */
