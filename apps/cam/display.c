/* The SDL2 window: a streaming RGB texture letterboxed into a resizable window, keyboard
 * actions, screenshots read back from the renderer (what the window shows). */
#include <stdlib.h>
#include <string.h>

#include <SDL.h>

#include "cam.h"
#include "error.h"
#include "imageio.h"

struct cam_display {
    SDL_Window *win;
    SDL_Renderer *ren;
    SDL_Texture *tex;
    int tex_w, tex_h;
    int sdl_ready;
    int dirty; /* exposed or resized: show the last frame again */
};

vkdetr_status cam_display_open(const char *title, int width, int height, int fullscreen,
                               cam_display **out) {
    *out = NULL;
    cam_display *d = calloc(1, sizeof *d);
    if (!d) return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    vkdetr_status st = VKDETR_ERR_BACKEND;
    if (SDL_Init(SDL_INIT_VIDEO) != 0) {
        st = vd_app_error(VKDETR_ERR_BACKEND,
                          "cannot open a window: %s (no display? run with --headless --out "
                          "FILE.mp4|DIR)",
                          SDL_GetError());
        goto fail;
    }
    d->sdl_ready = 1;
    /* a window no larger than 90 % of the screen, same aspect as the frames */
    int ww = width, wh = height;
    SDL_Rect usable;
    if (SDL_GetDisplayUsableBounds(0, &usable) == 0 && usable.w > 0 && usable.h > 0) {
        double s = 1.0, sx = 0.9 * usable.w / width, sy = 0.9 * usable.h / height;
        if (sx < s) s = sx;
        if (sy < s) s = sy;
        ww = (int)(width * s);
        wh = (int)(height * s);
        if (ww < 1) ww = 1;
        if (wh < 1) wh = 1;
    }
    Uint32 flags = SDL_WINDOW_RESIZABLE | (fullscreen ? SDL_WINDOW_FULLSCREEN_DESKTOP : 0);
    d->win = SDL_CreateWindow(title, SDL_WINDOWPOS_CENTERED, SDL_WINDOWPOS_CENTERED, ww, wh, flags);
    if (!d->win) {
        st = vd_app_error(VKDETR_ERR_BACKEND, "cannot create a window: %s", SDL_GetError());
        goto fail;
    }
    SDL_SetHint(SDL_HINT_RENDER_SCALE_QUALITY, "linear");
    d->ren = SDL_CreateRenderer(d->win, -1, SDL_RENDERER_ACCELERATED);
    if (!d->ren) d->ren = SDL_CreateRenderer(d->win, -1, SDL_RENDERER_SOFTWARE);
    if (!d->ren) {
        st = vd_app_error(VKDETR_ERR_BACKEND, "cannot create a renderer: %s", SDL_GetError());
        goto fail;
    }
    d->tex = SDL_CreateTexture(d->ren, SDL_PIXELFORMAT_RGB24, SDL_TEXTUREACCESS_STREAMING, width,
                               height);
    if (!d->tex) {
        st = vd_app_error(VKDETR_ERR_BACKEND, "cannot create a %dx%d texture: %s", width, height,
                          SDL_GetError());
        goto fail;
    }
    d->tex_w = width;
    d->tex_h = height;
    *out = d;
    return VKDETR_OK;
fail:
    cam_display_close(d);
    return st;
}

void cam_display_close(cam_display *d) {
    if (!d) return;
    if (d->tex) SDL_DestroyTexture(d->tex);
    if (d->ren) SDL_DestroyRenderer(d->ren);
    if (d->win) SDL_DestroyWindow(d->win);
    if (d->sdl_ready) SDL_Quit();
    free(d);
}

static vkdetr_status screenshot(cam_display *d, const char *path) {
    int w, h;
    if (SDL_GetRendererOutputSize(d->ren, &w, &h) != 0 || w <= 0 || h <= 0)
        return vd_app_error(VKDETR_ERR_BACKEND, "screenshot: %s", SDL_GetError());
    uint8_t *px = malloc((size_t)w * h * 3);
    if (!px) return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory for a screenshot");
    vkdetr_status st = VKDETR_OK;
    if (SDL_RenderReadPixels(d->ren, NULL, SDL_PIXELFORMAT_RGB24, px, w * 3) != 0)
        st = vd_app_error(VKDETR_ERR_BACKEND, "screenshot: %s", SDL_GetError());
    else
        st = vd_imageio_write(path, px, w, h, 3, 95);
    free(px);
    return st;
}

vkdetr_status cam_display_show(cam_display *d, const uint8_t *rgb, int width, int height,
                               const char *shot, vkdetr_status *shot_status) {
    if (width != d->tex_w || height != d->tex_h)
        return vd_app_error(VKDETR_ERR_INVALID_ARG, "frame %dx%d, window texture %dx%d", width,
                            height, d->tex_w, d->tex_h);
    if (SDL_UpdateTexture(d->tex, NULL, rgb, width * 3) != 0)
        return vd_app_error(VKDETR_ERR_BACKEND, "cannot update the texture: %s", SDL_GetError());
    int ow, oh;
    if (SDL_GetRendererOutputSize(d->ren, &ow, &oh) != 0) ow = width, oh = height;
    /* letterbox: the largest rectangle of the frame's aspect that fits, centred */
    SDL_Rect dst = {0, 0, ow, oh};
    if ((int64_t)ow * height > (int64_t)oh * width) {
        dst.w = (int)((int64_t)oh * width / height);
        dst.x = (ow - dst.w) / 2;
    } else {
        dst.h = (int)((int64_t)ow * height / width);
        dst.y = (oh - dst.h) / 2;
    }
    SDL_SetRenderDrawColor(d->ren, 0, 0, 0, 255);
    SDL_RenderClear(d->ren);
    SDL_RenderCopy(d->ren, d->tex, NULL, &dst);
    if (shot) {
        vkdetr_status st = screenshot(d, shot);
        if (shot_status) *shot_status = st;
    }
    SDL_RenderPresent(d->ren);
    d->dirty = 0;
    return VKDETR_OK;
}

int cam_display_needs_redraw(const cam_display *d) { return d->dirty; }

static cam_action key_action(const SDL_KeyboardEvent *k) {
    switch (k->keysym.sym) {
    case SDLK_q:
    case SDLK_ESCAPE: return CAM_QUIT;
    case SDLK_SPACE: return k->repeat ? CAM_NONE : CAM_PAUSE;
    case SDLK_PLUS:
    case SDLK_KP_PLUS:
    case SDLK_EQUALS: return CAM_THRESHOLD_UP;
    case SDLK_MINUS:
    case SDLK_KP_MINUS: return CAM_THRESHOLD_DOWN;
    case SDLK_s: return k->repeat ? CAM_NONE : CAM_SCREENSHOT;
    case SDLK_f: return k->repeat ? CAM_NONE : CAM_FULLSCREEN;
    default: return CAM_NONE;
    }
}

cam_action cam_display_poll(cam_display *d) {
    SDL_Event e;
    while (SDL_PollEvent(&e)) {
        if (e.type == SDL_QUIT) return CAM_QUIT;
        if (e.type == SDL_KEYDOWN) {
            cam_action a = key_action(&e.key);
            if (a != CAM_NONE) return a;
        }
        if (e.type == SDL_WINDOWEVENT &&
            (e.window.event == SDL_WINDOWEVENT_EXPOSED ||
             e.window.event == SDL_WINDOWEVENT_SIZE_CHANGED))
            d->dirty = 1;
    }
    return CAM_NONE;
}

void cam_display_inject(cam_display *d, cam_action a) {
    (void)d;
    static const SDL_Keycode keys[] = {0,         SDLK_q, SDLK_SPACE, SDLK_PLUS,
                                       SDLK_MINUS, SDLK_s, SDLK_f};
    if (a <= CAM_NONE || a > CAM_FULLSCREEN) return;
    SDL_Event e;
    memset(&e, 0, sizeof e);
    e.type = SDL_KEYDOWN;
    e.key.state = SDL_PRESSED;
    e.key.keysym.sym = keys[a];
    SDL_PushEvent(&e);
}

void cam_display_toggle_fullscreen(cam_display *d) {
    Uint32 f = SDL_GetWindowFlags(d->win);
    SDL_SetWindowFullscreen(d->win, (f & SDL_WINDOW_FULLSCREEN_DESKTOP) ? 0
                                                                         : SDL_WINDOW_FULLSCREEN_DESKTOP);
    d->dirty = 1;
}

cam_action cam_action_of_key(const char *name) {
    static const struct {
        const char *name;
        cam_action a;
    } map[] = {{"q", CAM_QUIT},          {"esc", CAM_QUIT},           {"space", CAM_PAUSE},
               {" ", CAM_PAUSE},         {"+", CAM_THRESHOLD_UP},     {"plus", CAM_THRESHOLD_UP},
               {"-", CAM_THRESHOLD_DOWN}, {"minus", CAM_THRESHOLD_DOWN}, {"s", CAM_SCREENSHOT},
               {"f", CAM_FULLSCREEN}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(name, map[i].name)) return map[i].a;
    return CAM_NONE;
}
