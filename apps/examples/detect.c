/* The smallest vkdetr program: detect objects in one image file and print them.
 *
 *     detect MODEL_DIR IMAGE
 *
 * MODEL_DIR is a checkpoint folder (config.json, model.safetensors,
 * preprocessor_config.json). Prints one line per detection: label, score, and the box
 * x0 y0 x1 y1 in pixels of the image. Exit status 0 on success, 1 on failure, 2 on bad usage. */
#include <stdio.h>

#include <vkdetr.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL_DIR IMAGE\n", argv[0]);
        return 2;
    }
    int rc = 1;
    vkdetr_model *model = NULL;
    vkdetr_session *session = NULL;
    vkdetr_result *result = NULL;

    vkdetr_model_params mp = vkdetr_model_default_params();
    if (vkdetr_model_load(argv[1], &mp, &model) != VKDETR_OK) {
        fprintf(stderr, "%s\n", vkdetr_last_error());
        goto done;
    }
    vkdetr_session_params sp = vkdetr_session_default_params(); /* threshold 0.5 */
    if (vkdetr_session_create(model, &sp, &session) != VKDETR_OK) {
        fprintf(stderr, "%s\n", vkdetr_last_error());
        goto done;
    }
    if (vkdetr_session_detect_file(session, argv[2], &result) != VKDETR_OK) {
        fprintf(stderr, "%s\n", vkdetr_session_last_error(session));
        goto done;
    }
    printf("%s: %dx%d, %d detections\n", argv[2], result->image_width, result->image_height,
           result->count);
    for (int i = 0; i < result->count; i++) {
        const vkdetr_detection *d = &result->detections[i];
        printf("%-12s %.3f  [%7.1f %7.1f %7.1f %7.1f]\n", d->label, d->score, d->box[0], d->box[1],
               d->box[2], d->box[3]);
    }
    rc = 0;
done:
    vkdetr_result_free(result);
    vkdetr_session_free(session);
    vkdetr_model_free(model);
    return rc;
}
