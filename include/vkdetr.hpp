/* vkdetr.hpp — a header-only C++17 wrapper over vkdetr.h.
 *
 * A thin layer: the same objects, calls and semantics as the C API (read vkdetr.h for the
 * contracts: units, coordinate conventions, thread safety), with
 *   - RAII handles (Model, Session, Result, Image) that free what they own; move-only;
 *   - failures as exceptions: every call that returns a vkdetr_status in C throws
 *     vkdetr::Error (derived from std::runtime_error) on failure instead, carrying the status
 *     (Error::status()) and the one-line message (what());
 *   - detections as standard containers (std::vector<Detection>, std::string labels,
 *     std::array boxes), copied out of the C result;
 *   - buffer views (ImageView, Buffer) instead of pointer and size pairs (no std::span: C++17).
 *
 * Usage:
 *
 *     #include <vkdetr.hpp>
 *
 *     try {
 *         vkdetr::Model model = vkdetr::Model::load("path/to/checkpoint");
 *         vkdetr::SessionParams sp = vkdetr::default_session_params();
 *         sp.threshold = 0.4f;
 *         vkdetr::Session session(model, sp);  // one per thread; the model is shared
 *         for (const vkdetr::Detection &d : session.detect_file("image.jpg").detections())
 *             std::printf("%s %.2f [%.1f %.1f %.1f %.1f]\n", d.label.c_str(), d.score,
 *                         d.box[0], d.box[1], d.box[2], d.box[3]);
 *         // pixels in memory (BGR rows with padding, as from OpenCV): no copy
 *         vkdetr::Result r = session.detect(vkdetr::ImageView(data, w, h, VKDETR_PIXEL_BGR, step));
 *     } catch (const vkdetr::Error &e) {
 *         std::fprintf(stderr, "%s (%s)\n", e.what(), vkdetr_status_string(e.status()));
 *     }
 *
 * Thread safety is that of the C API: a Model may be shared by threads (Session's
 * constructor may run concurrently on one model); a Session, Result or Image must not be
 * used by two threads at once. A Model must outlive its Sessions, and the labels of a Result
 * (the C result's) are borrowed from its Model; Detection's strings are copies.
 *
 * The log callback and the lower-level calls without a wrapper (vkdetr_log_set, ...) are used
 * from C directly; get() gives every handle's C pointer.
 */
#ifndef VKDETR_HPP
#define VKDETR_HPP

#include <array>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "vkdetr.h"

namespace vkdetr {

/* A failed call: status() is the vkdetr_status (negative), what() the message (the session's
 * last error for session calls, else vkdetr_last_error()). */
class Error : public std::runtime_error {
  public:
    Error(vkdetr_status status, const std::string &message)
        : std::runtime_error(message), status_(status) {}
    vkdetr_status status() const noexcept { return status_; }

  private:
    vkdetr_status status_;
};

namespace detail {
inline void check(vkdetr_status st) {
    if (st != VKDETR_OK) throw Error(st, vkdetr_last_error());
}
inline void check(vkdetr_status st, const vkdetr_session *s) {
    if (st != VKDETR_OK) throw Error(st, s ? vkdetr_session_last_error(s) : vkdetr_last_error());
}
} // namespace detail

using ModelParams = vkdetr_model_params;
using SessionParams = vkdetr_session_params;
using ModelInfo = vkdetr_model_info;
using DeviceInfo = vkdetr_device_info;
using Tensor = vkdetr_tensor;
using Profile = vkdetr_profile;
using NodeProfile = vkdetr_node_profile;

/* vkdetr_version(): the library's version at run time. */
inline std::string version() { return vkdetr_version(); }

inline ModelParams default_model_params() { return vkdetr_model_default_params(); }
inline SessionParams default_session_params() { return vkdetr_session_default_params(); }

/* vkdetr_device_list: the Vulkan devices, in the order of ModelParams::device indices. */
inline std::vector<DeviceInfo> devices() {
    int n = 0;
    detail::check(vkdetr_device_list(nullptr, 0, &n));
    std::vector<DeviceInfo> out(static_cast<std::size_t>(n));
    if (n > 0) detail::check(vkdetr_device_list(out.data(), n, &n));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

/* A read-only view of bytes in the caller's memory (data and size), borrowed like a pointer:
 * from a pointer and a size, or from any contiguous container of trivially copyable elements
 * with data() and size() (std::vector<uint8_t>, std::string, std::array, ...). */
class Buffer {
  public:
    Buffer() = default;
    Buffer(const void *data, std::size_t size) : data_(data), size_(size) {}
    template <class C, class T = std::remove_pointer_t<decltype(std::declval<const C &>().data())>,
              class = std::enable_if_t<std::is_trivially_copyable<T>::value>,
              class = decltype(std::declval<const C &>().size())>
    Buffer(const C &c) : data_(c.data()), size_(c.size() * sizeof(T)) {}
    const void *data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }

  private:
    const void *data_ = nullptr;
    std::size_t size_ = 0;
};

/* A view of 8-bit pixels in the caller's memory (vkdetr_image): borrowed, never copied or
 * written. stride 0 = width * channels. */
class ImageView {
  public:
    ImageView() : img_{nullptr, 0, 0, 0, VKDETR_PIXEL_RGB} {}
    ImageView(const std::uint8_t *data, int width, int height,
              vkdetr_pixel_format format = VKDETR_PIXEL_RGB, int stride = 0)
        : img_{data, width, height, stride, format} {}
    explicit ImageView(const vkdetr_image &img) : img_(img) {}
    const std::uint8_t *data() const noexcept { return img_.data; }
    int width() const noexcept { return img_.width; }
    int height() const noexcept { return img_.height; }
    int stride() const noexcept { return img_.stride; }
    vkdetr_pixel_format format() const noexcept { return img_.format; }
    const vkdetr_image *get() const noexcept { return &img_; }

  private:
    vkdetr_image img_;
};

/* A decoded image file (vkdetr_image_load: 8-bit RGB, EXIF orientation applied); owns its
 * pixels. */
class Image {
  public:
    Image() : img_{nullptr, 0, 0, 0, VKDETR_PIXEL_RGB} {}
    static Image load(const std::string &path) {
        Image im;
        detail::check(vkdetr_image_load(path.c_str(), &im.img_));
        return im;
    }
    ~Image() { vkdetr_image_free(&img_); }
    Image(Image &&o) noexcept : img_(o.img_) { o.img_ = vkdetr_image{nullptr, 0, 0, 0, VKDETR_PIXEL_RGB}; }
    Image &operator=(Image &&o) noexcept {
        if (this != &o) {
            vkdetr_image_free(&img_);
            img_ = o.img_;
            o.img_ = vkdetr_image{nullptr, 0, 0, 0, VKDETR_PIXEL_RGB};
        }
        return *this;
    }
    Image(const Image &) = delete;
    Image &operator=(const Image &) = delete;
    explicit operator bool() const noexcept { return img_.data != nullptr; }
    ImageView view() const noexcept { return ImageView(img_); }
    operator ImageView() const noexcept { return view(); }
    const std::uint8_t *data() const noexcept { return img_.data; }
    int width() const noexcept { return img_.width; }
    int height() const noexcept { return img_.height; }
    int stride() const noexcept { return img_.stride; }
    const vkdetr_image *get() const noexcept { return &img_; }

  private:
    vkdetr_image img_;
};

/* A detection's mask (see vkdetr_mask): empty (width 0) when the result has no masks. */
struct Mask {
    int width = 0;
    int height = 0;
    std::vector<std::uint32_t> counts; /* COCO run lengths, column-major, starting with 0s */
    std::vector<std::uint8_t> bitmap;  /* row-major 0/1; only with VKDETR_MASKS_BITMAP */
    bool empty() const noexcept { return counts.empty(); }
    /* vkdetr_mask_decode: the bitmap from the run lengths. Throws Error when empty. */
    std::vector<std::uint8_t> decode() const {
        vkdetr_mask m{width, height, nullptr, static_cast<int>(counts.size()),
                      const_cast<std::uint32_t *>(counts.data())};
        std::vector<std::uint8_t> out(static_cast<std::size_t>(width) * static_cast<std::size_t>(height));
        detail::check(vkdetr_mask_decode(&m, out.data()));
        return out;
    }
};

/* One detection (vkdetr_detection), copied. */
struct Detection {
    std::array<float, 4> box{}; /* x0, y0, x1, y1 in original-image pixels */
    float score = 0;            /* in [0, 1] */
    int class_id = 0;
    std::string label;
    Mask mask;
};

/* The result of one detect call (vkdetr_result); owns it. The C detections are borrowed
 * until the Result is destroyed; detections() copies them into standard containers. */
class Result {
  public:
    Result() = default;
    explicit Result(vkdetr_result *r) noexcept : r_(r) {}
    ~Result() { vkdetr_result_free(r_); }
    Result(Result &&o) noexcept : r_(std::exchange(o.r_, nullptr)) {}
    Result &operator=(Result &&o) noexcept {
        if (this != &o) {
            vkdetr_result_free(r_);
            r_ = std::exchange(o.r_, nullptr);
        }
        return *this;
    }
    Result(const Result &) = delete;
    Result &operator=(const Result &) = delete;

    explicit operator bool() const noexcept { return r_ != nullptr; }
    int size() const noexcept { return r_ ? r_->count : 0; }
    bool empty() const noexcept { return size() == 0; }
    /* Detection i (0 <= i < size(), unchecked), best score first; borrowed. */
    const vkdetr_detection &operator[](int i) const noexcept { return r_->detections[i]; }
    const vkdetr_detection *begin() const noexcept { return r_ ? r_->detections : nullptr; }
    const vkdetr_detection *end() const noexcept { return r_ ? r_->detections + r_->count : nullptr; }
    int image_width() const noexcept { return r_ ? r_->image_width : 0; }
    int image_height() const noexcept { return r_ ? r_->image_height : 0; }
    double time_ms() const noexcept { return r_ ? r_->time_ms : 0; }
    bool has_masks() const noexcept { return r_ && r_->has_masks; }

    /* The detections as standard containers (strings and masks copied). */
    std::vector<Detection> detections() const {
        std::vector<Detection> out;
        out.reserve(static_cast<std::size_t>(size()));
        for (const vkdetr_detection &d : *this) {
            Detection x;
            x.box = {d.box[0], d.box[1], d.box[2], d.box[3]};
            x.score = d.score;
            x.class_id = d.class_id;
            x.label = d.label ? d.label : "";
            x.mask.width = d.mask.width;
            x.mask.height = d.mask.height;
            if (d.mask.counts) x.mask.counts.assign(d.mask.counts, d.mask.counts + d.mask.n_counts);
            if (d.mask.data)
                x.mask.bitmap.assign(d.mask.data, d.mask.data + static_cast<std::size_t>(d.mask.width) *
                                                                   static_cast<std::size_t>(d.mask.height));
            out.push_back(std::move(x));
        }
        return out;
    }

    const vkdetr_result *get() const noexcept { return r_; }
    /* Gives up ownership: the caller frees the pointer with vkdetr_result_free. */
    vkdetr_result *release() noexcept { return std::exchange(r_, nullptr); }

  private:
    vkdetr_result *r_ = nullptr;
};

/* A loaded model (vkdetr_model); owns it. Immutable: may be shared by threads. */
class Model {
  public:
    Model() = default;
    explicit Model(vkdetr_model *m) noexcept : m_(m) {}
    ~Model() { vkdetr_model_free(m_); }
    Model(Model &&o) noexcept : m_(std::exchange(o.m_, nullptr)) {}
    Model &operator=(Model &&o) noexcept {
        if (this != &o) {
            vkdetr_model_free(m_);
            m_ = std::exchange(o.m_, nullptr);
        }
        return *this;
    }
    Model(const Model &) = delete;
    Model &operator=(const Model &) = delete;

    /* vkdetr_model_load: a checkpoint folder. */
    static Model load(const std::string &dir, const ModelParams &params = default_model_params()) {
        vkdetr_model *m = nullptr;
        detail::check(vkdetr_model_load(dir.c_str(), &params, &m));
        return Model(m);
    }
    /* vkdetr_model_load_files; an empty preprocessor_json means none (the family's defaults). */
    static Model load_files(const std::string &config_json, const std::string &weights_safetensors,
                            const std::string &preprocessor_json = std::string(),
                            const ModelParams &params = default_model_params()) {
        vkdetr_model *m = nullptr;
        detail::check(vkdetr_model_load_files(config_json.c_str(), weights_safetensors.c_str(),
                                              preprocessor_json.empty() ? nullptr : preprocessor_json.c_str(),
                                              &params, &m));
        return Model(m);
    }
    /* vkdetr_model_load_memory: the buffers are borrowed for the call only; an empty
     * preprocessor_json (data() nullptr) means none. */
    static Model load_memory(Buffer config_json, Buffer weights, Buffer preprocessor_json = Buffer(),
                             const ModelParams &params = default_model_params()) {
        vkdetr_model *m = nullptr;
        detail::check(vkdetr_model_load_memory(config_json.data(), config_json.size(), weights.data(),
                                               weights.size(), preprocessor_json.data(),
                                               preprocessor_json.size(), &params, &m));
        return Model(m);
    }

    explicit operator bool() const noexcept { return m_ != nullptr; }
    /* vkdetr_model_get_info; the strings are borrowed from the model. */
    ModelInfo info() const {
        ModelInfo i{};
        detail::check(vkdetr_model_get_info(m_, &i));
        return i;
    }
    /* vkdetr_model_class_name; "" when class_id is out of range. */
    std::string class_name(int class_id) const {
        const char *s = vkdetr_model_class_name(m_, class_id);
        return s ? s : "";
    }
    vkdetr_model *get() const noexcept { return m_; }
    /* Gives up ownership: the caller frees the pointer with vkdetr_model_free. */
    vkdetr_model *release() noexcept { return std::exchange(m_, nullptr); }

  private:
    vkdetr_model *m_ = nullptr;
};

/* A session of a model (vkdetr_session); owns it. One thread at a time. The model must
 * outlive it. */
class Session {
  public:
    Session() = default;
    /* vkdetr_session_create; may run concurrently on one model. */
    explicit Session(Model &model, const SessionParams &params = default_session_params()) {
        detail::check(vkdetr_session_create(model.get(), &params, &s_));
    }
    ~Session() { vkdetr_session_free(s_); }
    Session(Session &&o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    Session &operator=(Session &&o) noexcept {
        if (this != &o) {
            vkdetr_session_free(s_);
            s_ = std::exchange(o.s_, nullptr);
        }
        return *this;
    }
    Session(const Session &) = delete;
    Session &operator=(const Session &) = delete;

    explicit operator bool() const noexcept { return s_ != nullptr; }

    /* vkdetr_session_detect on pixels in memory. */
    Result detect(const ImageView &image) {
        vkdetr_result *r = nullptr;
        detail::check(vkdetr_session_detect(s_, image.get(), &r), s_);
        return Result(r);
    }
    /* vkdetr_session_detect_file. */
    Result detect_file(const std::string &path) {
        vkdetr_result *r = nullptr;
        detail::check(vkdetr_session_detect_file(s_, path.c_str(), &r), s_);
        return Result(r);
    }
    /* vkdetr_session_forward: preprocessed CHW float pixels of the session's input size. */
    void forward(const float *pixels, int width, int height) {
        detail::check(vkdetr_session_forward(s_, pixels, width, height), s_);
    }
    /* vkdetr_session_output_count / vkdetr_session_output (borrowed until the next call). */
    int output_count() const noexcept { return vkdetr_session_output_count(s_); }
    Tensor output(int i) {
        Tensor t{};
        detail::check(vkdetr_session_output(s_, i, &t), s_);
        return t;
    }
    /* vkdetr_session_profile (its ops array borrowed until the next call). */
    Profile profile() {
        Profile p{};
        detail::check(vkdetr_session_profile(s_, &p), s_);
        return p;
    }
    /* vkdetr_session_node_profile, copied (the strings borrowed until the next call). */
    std::vector<NodeProfile> node_profile() {
        const vkdetr_node_profile *nodes = nullptr;
        int n = 0;
        detail::check(vkdetr_session_node_profile(s_, &nodes, &n), s_);
        return std::vector<NodeProfile>(nodes, nodes + n);
    }
    /* vkdetr_session_last_error. */
    std::string last_error() const { return vkdetr_session_last_error(s_); }
    vkdetr_session *get() const noexcept { return s_; }
    /* Gives up ownership: the caller frees the pointer with vkdetr_session_free. */
    vkdetr_session *release() noexcept { return std::exchange(s_, nullptr); }

  private:
    vkdetr_session *s_ = nullptr;
};

} // namespace vkdetr

#endif /* VKDETR_HPP */
