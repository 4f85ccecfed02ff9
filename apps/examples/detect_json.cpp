// Detect objects in one image file with the C++ wrapper and print them as JSON.
//
//     detect_json MODEL_DIR IMAGE
//
// {"image": ..., "width": ..., "height": ..., "detections": [{"label": ..., "class_id": ...,
// "score": ..., "box": [x0, y0, x1, y1]}, ...]}, boxes in pixels of the image, best first.
// Exit status 0 on success, 1 on failure (the message on stderr), 2 on bad usage.
#include <cstdio>
#include <string>

#include <vkdetr.hpp>

// A JSON string literal: quotes, backslashes and control characters escaped, UTF-8 kept.
static std::string json_string(const std::string &s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out + "\"";
}

int main(int argc, char **argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s MODEL_DIR IMAGE\n", argv[0]);
        return 2;
    }
    try {
        vkdetr::Model model = vkdetr::Model::load(argv[1]);
        vkdetr::Session session(model); // threshold 0.5
        vkdetr::Result result = session.detect_file(argv[2]);
        std::printf("{\n  \"image\": %s,\n  \"width\": %d,\n  \"height\": %d,\n  \"detections\": [",
                    json_string(argv[2]).c_str(), result.image_width(), result.image_height());
        const char *sep = "\n";
        for (const vkdetr::Detection &d : result.detections()) {
            std::printf("%s    {\"label\": %s, \"class_id\": %d, \"score\": %.4f, "
                        "\"box\": [%.2f, %.2f, %.2f, %.2f]}",
                        sep, json_string(d.label).c_str(), d.class_id, d.score, d.box[0], d.box[1],
                        d.box[2], d.box[3]);
            sep = ",\n";
        }
        std::printf("%s]\n}\n", result.empty() ? "" : "\n  ");
    } catch (const vkdetr::Error &e) {
        std::fprintf(stderr, "%s: %s\n", vkdetr_status_string(e.status()), e.what());
        return 1;
    }
    return 0;
}
