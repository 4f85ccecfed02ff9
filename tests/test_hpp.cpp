// The C++ wrapper (include/vkdetr.hpp) as a C++ program uses it, linked to the shared
// library: RAII and moves, exceptions with their status, buffer views, results as standard
// containers equal to the C API's. CPU backend, tiny RT-DETR v1 fixture. Not CMocka (a C
// library): a check macro that prints the failing line, exit status 1 on any failure.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "vkdetr.hpp"

extern "C" void vd_vk_test_setup(void); // support/vktest.c

static int failures = 0;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            std::printf("%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                  \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

// Runs f and checks that it throws vkdetr::Error with status want; returns the message.
template <class F> static std::string expect_error(F f, vkdetr_status want, int line) {
    try {
        f();
    } catch (const vkdetr::Error &e) {
        if (e.status() != want) {
            std::printf("line %d: status %d (%s), expected %d\n", line, e.status(), e.what(), want);
            failures++;
        }
        return e.what();
    }
    std::printf("line %d: no exception\n", line);
    failures++;
    return "";
}
#define EXPECT_ERROR(expr, status) expect_error([&] { expr; }, status, __LINE__)

static std::string source_path(const std::string &rel) {
    const char *root = std::getenv("VKDETR_SOURCE_DIR");
    return std::string(root ? root : VD_SOURCE_DIR) + "/" + rel;
}

static std::vector<std::uint8_t> read_file(const std::string &path) {
    std::ifstream f(path, std::ios::binary);
    return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

static bool same(const std::vector<vkdetr::Detection> &a, const std::vector<vkdetr::Detection> &b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); i++)
        if (a[i].box != b[i].box || a[i].score != b[i].score || a[i].class_id != b[i].class_id ||
            a[i].label != b[i].label || a[i].mask.counts != b[i].mask.counts)
            return false;
    return true;
}

// The handles own C objects: movable, never copyable.
static_assert(!std::is_copy_constructible<vkdetr::Model>::value, "Model is move-only");
static_assert(!std::is_copy_assignable<vkdetr::Session>::value, "Session is move-only");
static_assert(!std::is_copy_constructible<vkdetr::Result>::value, "Result is move-only");
static_assert(!std::is_copy_constructible<vkdetr::Image>::value, "Image is move-only");
static_assert(std::is_nothrow_move_constructible<vkdetr::Model>::value, "");
static_assert(std::is_nothrow_move_assignable<vkdetr::Session>::value, "");
static_assert(std::is_nothrow_move_constructible<vkdetr::Result>::value, "");
static_assert(std::is_nothrow_move_assignable<vkdetr::Image>::value, "");
static_assert(std::is_base_of<std::runtime_error, vkdetr::Error>::value, "");

int main() {
    vd_vk_test_setup();
    vkdetr_log_set(nullptr, nullptr, VKDETR_LOG_ERROR);
    const std::string dir = source_path("tests/data/rtdetr_v1_tiny");
    const std::string image = dir + "/input.png";
    char want_version[32];
    std::snprintf(want_version, sizeof want_version, "%d.%d.%d", VKDETR_VERSION_MAJOR,
                  VKDETR_VERSION_MINOR, VKDETR_VERSION_PATCH);
    CHECK(vkdetr::version() == want_version);
    CHECK(vkdetr::devices().size() < 1000);

    // errors: status and message; catchable as std::runtime_error
    std::string msg = EXPECT_ERROR(vkdetr::Model::load("/nonexistent/model"), VKDETR_ERR_IO);
    CHECK(msg.find("/nonexistent/model") != std::string::npos);
    try {
        vkdetr::Image::load("/nonexistent.png");
        CHECK(false);
    } catch (const std::runtime_error &e) {
        CHECK(std::strlen(e.what()) > 0);
    }

    vkdetr::ModelParams mp = vkdetr::default_model_params();
    mp.backend = VKDETR_BACKEND_CPU;
    vkdetr::Model model = vkdetr::Model::load(dir, mp);
    CHECK(model);
    vkdetr::ModelInfo info = model.info();
    CHECK(std::string(info.backend) == "cpu");
    CHECK(model.class_name(0) == vkdetr_model_class_name(model.get(), 0));
    CHECK(model.class_name(-1).empty());

    vkdetr::SessionParams sp = vkdetr::default_session_params();
    sp.threshold = 0.3f;
    vkdetr::Session session(model, sp);
    vkdetr::Result result = session.detect_file(image);
    std::vector<vkdetr::Detection> dets = result.detections();
    std::printf("%zu detections in %dx%d\n", dets.size(), result.image_width(), result.image_height());
    CHECK(dets.size() > 3 && static_cast<int>(dets.size()) == result.size());
    CHECK(result.image_width() == 150 && result.image_height() == 110);
    CHECK(!result.has_masks());

    // the same as the C API
    vkdetr_session *cs = nullptr;
    vkdetr_result *cr = nullptr;
    CHECK(vkdetr_session_create(model.get(), &sp, &cs) == VKDETR_OK);
    CHECK(vkdetr_session_detect_file(cs, image.c_str(), &cr) == VKDETR_OK);
    CHECK(cr && cr->count == static_cast<int>(dets.size()));
    for (int i = 0; cr && i < cr->count && i < static_cast<int>(dets.size()); i++) {
        CHECK(std::memcmp(cr->detections[i].box, dets[i].box.data(), sizeof cr->detections[i].box) == 0);
        CHECK(cr->detections[i].score == dets[i].score);
        CHECK(dets[i].label == cr->detections[i].label);
        CHECK(dets[i].mask.empty() && dets[i].mask.bitmap.empty());
    }
    int n = 0;
    for (const vkdetr_detection &d : result) n += d.score > sp.threshold;
    CHECK(n == result.size());
    vkdetr_result_free(cr);
    vkdetr_session_free(cs);

    // pixels in memory: an Image, and a BGR view with padded rows
    vkdetr::Image img = vkdetr::Image::load(image);
    CHECK(img && img.width() == 150 && img.stride() == 450);
    CHECK(same(session.detect(img).detections(), dets));
    const int stride = img.width() * 3 + 5;
    std::vector<std::uint8_t> bgr(static_cast<std::size_t>(stride) * img.height());
    for (int y = 0; y < img.height(); y++)
        for (int x = 0; x < img.width(); x++)
            for (int c = 0; c < 3; c++)
                bgr[static_cast<std::size_t>(y) * stride + x * 3 + c] = img.data()[y * img.stride() + x * 3 + 2 - c];
    CHECK(same(session.detect(vkdetr::ImageView(bgr.data(), img.width(), img.height(), VKDETR_PIXEL_BGR, stride))
                   .detections(),
               dets));

    // a bad image throws with the session's message; the session still works
    msg = EXPECT_ERROR(session.detect(vkdetr::ImageView(nullptr, 10, 10)), VKDETR_ERR_INVALID_ARG);
    CHECK(msg == session.last_error() && !msg.empty());
    EXPECT_ERROR(session.detect_file("/nonexistent.png"), VKDETR_ERR_IO);
    CHECK(same(session.detect_file(image).detections(), dets));
    CHECK(session.last_error().empty());
    CHECK(session.output_count() >= 2);
    CHECK(std::string(session.output(0).name).size() > 0);
    EXPECT_ERROR(session.output(-1), VKDETR_ERR_INVALID_ARG);
    CHECK(session.profile().total_ms > 0);
    CHECK(!session.node_profile().empty());

    // from memory: std::vector and std::string buffers, borrowed for the call only
    {
        std::vector<std::uint8_t> weights = read_file(dir + "/model.safetensors");
        std::vector<std::uint8_t> config_bytes = read_file(dir + "/config.json");
        std::string config(config_bytes.begin(), config_bytes.end());
        std::vector<std::uint8_t> pre = read_file(dir + "/preprocessor_config.json");
        vkdetr::Model mm = vkdetr::Model::load_memory(config, weights, pre, mp);
        weights.assign(weights.size(), 0);
        vkdetr::Session ms(mm, sp);
        CHECK(same(ms.detect_file(image).detections(), dets));
        EXPECT_ERROR(vkdetr::Model::load_memory(vkdetr::Buffer(), weights), VKDETR_ERR_INVALID_ARG);
    }
    {
        vkdetr::Model mf = vkdetr::Model::load_files(dir + "/config.json", dir + "/model.safetensors",
                                                     dir + "/preprocessor_config.json", mp);
        vkdetr::Session fs(mf, sp);
        CHECK(same(fs.detect_file(image).detections(), dets));
    }

    // moves leave empty handles behind, which free nothing and throw on use
    vkdetr::Model moved = std::move(model);
    CHECK(moved && !model);
    EXPECT_ERROR(vkdetr::Session s(model), VKDETR_ERR_INVALID_ARG);
    vkdetr::Session s2 = std::move(session);
    CHECK(s2 && !session);
    msg = EXPECT_ERROR(session.detect_file(image), VKDETR_ERR_INVALID_ARG);
    CHECK(msg.find("NULL") != std::string::npos);
    vkdetr::Result r2;
    r2 = std::move(result);
    CHECK(r2 && !result && result.size() == 0 && result.begin() == result.end());
    vkdetr::Result &alias = r2;
    r2 = std::move(alias); // self-move keeps the result
    CHECK(r2.size() == static_cast<int>(dets.size()));
    vkdetr::Image img2 = std::move(img);
    CHECK(img2 && !img);
    vkdetr_result *raw = r2.release();
    CHECK(raw && !r2);
    vkdetr_result_free(raw);

    // masks: decode the run lengths of a hand-made mask (3x2, see test_api.c)
    vkdetr::Mask mask;
    mask.width = 3;
    mask.height = 2;
    mask.counts = {2, 1, 1, 2};
    CHECK((mask.decode() == std::vector<std::uint8_t>{0, 1, 1, 0, 0, 1}));
    mask.counts = {2, 1};
    EXPECT_ERROR(mask.decode(), VKDETR_ERR_INVALID_ARG);

    // one model, a session per thread
    std::vector<std::thread> threads;
    std::vector<int> ok(3, 0);
    for (int t = 0; t < 3; t++)
        threads.emplace_back([&, t] {
            vkdetr::Session ts(moved, sp);
            ok[t] = same(ts.detect_file(image).detections(), dets);
        });
    for (std::thread &t : threads) t.join();
    CHECK(ok[0] && ok[1] && ok[2]);

    std::printf("%s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
