/* vkdetr — DETR-family object detection in C, on Vulkan GPUs and plain CPUs.
 *
 * Usage (error handling shortened):
 *
 *     vkdetr_model_params mp = vkdetr_model_default_params();
 *     vkdetr_model *model;
 *     if (vkdetr_model_load("path/to/checkpoint", &mp, &model) != VKDETR_OK) {
 *         fprintf(stderr, "%s\n", vkdetr_last_error());
 *         return 1;
 *     }
 *     vkdetr_session_params sp = vkdetr_session_default_params();
 *     vkdetr_session *s;
 *     vkdetr_session_create(model, &sp, &s);
 *     vkdetr_result *r;
 *     if (vkdetr_session_detect_file(s, "image.jpg", &r) == VKDETR_OK) {
 *         for (int i = 0; i < r->count; i++) {
 *             const vkdetr_detection *d = &r->detections[i];
 *             printf("%s %.2f [%.1f %.1f %.1f %.1f]\n", d->label, d->score,
 *                    d->box[0], d->box[1], d->box[2], d->box[3]);
 *         }
 *         vkdetr_result_free(r);
 *     }
 *     vkdetr_session_free(s);
 *     vkdetr_model_free(model);
 *
 * A checkpoint is a folder in the Hugging Face layout: config.json, model.safetensors and
 * preprocessor_config.json.
 *
 * Conventions
 *   - Boxes in results are (x0, y0, x1, y1) in pixels of the ORIGINAL image (before any
 *     resize), x to the right, y down, origin at the top-left corner of the top-left pixel.
 *     They are not clipped to the image.
 *   - Scores are probabilities in [0, 1].
 *   - Every function that can fail returns a vkdetr_status; VKDETR_OK is 0 and failures are
 *     negative. The details of the last failure are in vkdetr_last_error() (per thread) and,
 *     for session calls, in vkdetr_session_last_error().
 *   - The library never exits the process and never prints except through the log callback.
 *
 * Thread safety
 *   - A model is immutable after loading and may be shared by any number of threads.
 *   - A session belongs to one thread at a time: calls on the same session must not overlap.
 *     Different sessions (of the same or different models) may be used concurrently.
 *   - vkdetr_log_set is process-wide; call it before loading models.
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

/* "MAJOR.MINOR.PATCH", static storage. */
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

/* A short constant description of a status code ("invalid argument", ...). */
VKDETR_API const char *vkdetr_status_string(vkdetr_status status);

/* The message of the last failure on the calling thread, one line naming the problem.
 * Borrowed; valid until the next vkdetr call on this thread. Never NULL. */
VKDETR_API const char *vkdetr_last_error(void);

/* ---- logging -------------------------------------------------------------------------- */

typedef enum vkdetr_log_level {
    VKDETR_LOG_ERROR = 0,
    VKDETR_LOG_WARN = 1,
    VKDETR_LOG_INFO = 2,
    VKDETR_LOG_DEBUG = 3
} vkdetr_log_level;

/* msg is one line without the trailing newline, borrowed for the duration of the call.
 * The callback may be called from any thread, concurrently. */
typedef void (*vkdetr_log_fn)(vkdetr_log_level level, const char *msg, void *user);

/* Sets the process-wide log callback. NULL restores the default, which writes warnings and
 * errors to stderr ("vkdetr: ..."). max_level filters out more verbose messages. */
VKDETR_API void vkdetr_log_set(vkdetr_log_fn fn, void *user, vkdetr_log_level max_level);

/* ---- models --------------------------------------------------------------------------- */

typedef enum vkdetr_backend {
    VKDETR_BACKEND_AUTO = 0,  /* a real GPU through Vulkan when there is one, else the CPU */
    VKDETR_BACKEND_CPU = 1,
    VKDETR_BACKEND_VULKAN = 2 /* fails with VKDETR_ERR_BACKEND when no device is usable */
} vkdetr_backend;

typedef enum vkdetr_precision {
    VKDETR_PRECISION_AUTO = 0, /* fp16 storage on Vulkan devices that have it, else fp32 */
    VKDETR_PRECISION_FP32 = 1,
    VKDETR_PRECISION_FP16 = 2  /* Vulkan only: fp16 storage, fp32 for sensitive parts */
} vkdetr_precision;

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

typedef struct vkdetr_model vkdetr_model;

/* Loads the checkpoint folder dir (config.json, model.safetensors, preprocessor_config.json).
 * params may be NULL for the defaults. On success *out is owned by the caller (free with
 * vkdetr_model_free). Weights are read with mmap and converted to fp32 once. */
VKDETR_API vkdetr_status vkdetr_model_load(const char *dir, const vkdetr_model_params *params,
                                           vkdetr_model **out);

/* As vkdetr_model_load, with the three files named separately. preprocessor_json may be
 * NULL: the family's default preprocessing is used. */
VKDETR_API vkdetr_status vkdetr_model_load_files(const char *config_json,
                                                 const char *weights_safetensors,
                                                 const char *preprocessor_json,
                                                 const vkdetr_model_params *params,
                                                 vkdetr_model **out);

/* As vkdetr_model_load_files, from memory. The buffers are borrowed for the call only (the
 * model keeps its own copy of what it needs). preprocessor_json may be NULL. */
VKDETR_API vkdetr_status vkdetr_model_load_memory(const void *config_json, size_t config_size,
                                                  const void *weights, size_t weights_size,
                                                  const void *preprocessor_json,
                                                  size_t preprocessor_size,
                                                  const vkdetr_model_params *params,
                                                  vkdetr_model **out);

/* Accepts NULL. Sessions of the model must be freed first. */
VKDETR_API void vkdetr_model_free(vkdetr_model *model);

typedef struct vkdetr_model_info {
    const char *family;     /* "rt_detr", "rt_detr_v2", ... */
    const char *backend;    /* "cpu" or "vulkan" */
    const char *device;     /* device name: the CPU model or the Vulkan device */
    int input_width;        /* default network input size in pixels */
    int input_height;
    int size_multiple;      /* a session's input size must be a multiple of this */
    int num_classes;
    int num_queries;
    int has_masks;          /* 1 when the model predicts instance masks */
    int64_t num_parameters; /* learnable parameters as stored in the checkpoint */
} vkdetr_model_info;

/* Fills *info; the strings are borrowed from the model. */
VKDETR_API vkdetr_status vkdetr_model_get_info(const vkdetr_model *model, vkdetr_model_info *info);

/* The name of class id (config.json id2label), or NULL when id is out of range. Borrowed
 * from the model. */
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

typedef struct vkdetr_session_params {
    int input_width;      /* network input size; 0 = the model's default. Multiple of
                             vkdetr_model_info.size_multiple. */
    int input_height;
    int n_threads;        /* CPU backend threads; 0 = one per online core */
    float threshold;      /* keep detections with score > threshold; default 0.5 */
    int max_detections;   /* at most this many per image, best first; default 300 */
    int masks;            /* 1: compute instance masks when the model has them (default 1) */
    int stages;           /* 1: keep every stage's output for vkdetr_session_output (debugging,
                             parity checks; costs memory). Default 0 */
    int profile;          /* 1: time every op (vkdetr_session_profile). Default 0 */
} vkdetr_session_params;

VKDETR_API vkdetr_session_params vkdetr_session_default_params(void);

typedef struct vkdetr_session vkdetr_session;

/* Creates a session: buffers for one input size are planned here, so detection allocates
 * nothing per image. params may be NULL. The model must outlive the session. */
VKDETR_API vkdetr_status vkdetr_session_create(vkdetr_model *model,
                                               const vkdetr_session_params *params,
                                               vkdetr_session **out);

/* Accepts NULL. */
VKDETR_API void vkdetr_session_free(vkdetr_session *session);

/* The message of the last failure on this session. Borrowed; valid until the next call on
 * the session. Never NULL ("" when the last call succeeded). */
VKDETR_API const char *vkdetr_session_last_error(const vkdetr_session *session);

typedef enum vkdetr_pixel_format {
    VKDETR_PIXEL_RGB = 0,
    VKDETR_PIXEL_RGBA = 1,
    VKDETR_PIXEL_BGR = 2,
    VKDETR_PIXEL_BGRA = 3,
    VKDETR_PIXEL_GRAY = 4
} vkdetr_pixel_format;

/* An 8-bit image in the caller's memory, rows top to bottom. Borrowed. */
typedef struct vkdetr_image {
    const uint8_t *data;
    int width;
    int height;
    int stride; /* bytes from one row to the next; 0 = width * channels */
    vkdetr_pixel_format format;
} vkdetr_image;

/* Decodes an image file to 8-bit RGB the way the library's detect_file does (JPEG, PNG, BMP,
 * GIF first frame, TGA, PNM; 16-bit and gray/alpha converted to RGB as PIL's convert("RGB");
 * JPEG EXIF orientation applied). On success out->data is owned by the caller: release it
 * with vkdetr_image_free. */
VKDETR_API vkdetr_status vkdetr_image_load(const char *path, vkdetr_image *out);

/* Releases the pixels of an image from vkdetr_image_load and clears *image. Accepts NULL. */
VKDETR_API void vkdetr_image_free(vkdetr_image *image);

typedef struct vkdetr_mask {
    int width;     /* the original image size */
    int height;
    uint8_t *data; /* width*height bytes, 1 inside the instance, 0 outside; NULL when the
                      model has no masks or masks were not requested */
} vkdetr_mask;

typedef struct vkdetr_detection {
    float box[4];      /* x0, y0, x1, y1 in original-image pixels */
    float score;       /* in [0, 1] */
    int class_id;      /* index into the model's classes */
    const char *label; /* class name, borrowed from the model */
    vkdetr_mask mask;  /* owned by the result */
} vkdetr_detection;

typedef struct vkdetr_result {
    int count;                     /* detections, best score first */
    vkdetr_detection *detections;  /* owned by the result */
    int image_width;               /* the original image */
    int image_height;
    double time_ms;                /* wall time of the call: preprocessing to results */
} vkdetr_result;

/* Detects objects in an image. On success *out is owned by the caller (vkdetr_result_free). */
VKDETR_API vkdetr_status vkdetr_session_detect(vkdetr_session *session, const vkdetr_image *image,
                                               vkdetr_result **out);

/* Decodes the file (JPEG, PNG, BMP, GIF first frame, ...; JPEG EXIF orientation applied)
 * and detects objects in it. */
VKDETR_API vkdetr_status vkdetr_session_detect_file(vkdetr_session *session, const char *path,
                                                    vkdetr_result **out);

/* Accepts NULL. */
VKDETR_API void vkdetr_result_free(vkdetr_result *result);

/* ---- lower level: the network on given pixel values, outputs and profiles ---------------- */

/* Runs the network on pixel values that are already preprocessed: pixels is [3, height, width]
 * float32 (CHW, what the checkpoint's image processor produces), height and width equal to
 * the session's input size. The outputs are then read with vkdetr_session_output. */
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

/* Number of outputs of the last forward or detect call (0 before the first). */
VKDETR_API int vkdetr_session_output_count(const vkdetr_session *session);

/* Output i (0 <= i < count) of the last forward or detect call. */
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

/* Timings of the last run. Per-op times need the session's profile parameter set; stage
 * times are always measured (stage boundaries only). */
VKDETR_API vkdetr_status vkdetr_session_profile(vkdetr_session *session, vkdetr_profile *out);

#ifdef __cplusplus
}
#endif

#endif /* VKDETR_H */
