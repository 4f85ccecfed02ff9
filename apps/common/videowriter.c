#include "videowriter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

#include "error.h"

struct vd_video_writer {
    AVFormatContext *oc;
    AVCodecContext *enc;
    AVStream *st;
    AVFrame *frame;   /* YUV 4:2:0, reused for every frame */
    AVPacket *pkt;
    struct SwsContext *sws;
    int width, height; /* of the input frames */
    int64_t last_pts;  /* ms */
    int64_t frame_ms;  /* nominal frame duration */
    int header_written;
    char *path, *tmp;
};

static vkdetr_status wfail(const char *path, const char *what, int err) {
    char msg[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(err, msg, sizeof msg);
    return vd_app_error(VKDETR_ERR_IO, "%s: %s: %s", path, what, msg);
}

static void release(vd_video_writer *w) {
    if (!w) return;
    if (w->oc) {
        if (w->oc->pb) avio_closep(&w->oc->pb);
        avformat_free_context(w->oc);
    }
    avcodec_free_context(&w->enc);
    av_frame_free(&w->frame);
    av_packet_free(&w->pkt);
    sws_freeContext(w->sws);
    free(w->path);
    free(w->tmp);
    free(w);
}

void vd_video_writer_abort(vd_video_writer *w) {
    if (!w) return;
    if (w->oc && w->oc->pb) avio_closep(&w->oc->pb);
    if (w->tmp) unlink(w->tmp);
    release(w);
}

const char *vd_video_writer_codec(const vd_video_writer *w) { return w->enc->codec->name; }

static vkdetr_status open_encoder(vd_video_writer *w, double fps, const char *name) {
    const AVCodec *codec;
    if (name) {
        if (!(codec = avcodec_find_encoder_by_name(name)))
            return vd_app_error(VKDETR_ERR_UNSUPPORTED, "no encoder %s in this libavcodec", name);
    } else {
        codec = avcodec_find_encoder_by_name("libx264");
        if (!codec) codec = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
        if (!codec) return vd_app_error(VKDETR_ERR_UNSUPPORTED, "no H.264 or MPEG-4 encoder");
    }
    if (!(w->enc = avcodec_alloc_context3(codec)))
        return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    AVCodecContext *e = w->enc;
    e->width = w->width & ~1;
    e->height = w->height & ~1;
    e->pix_fmt = AV_PIX_FMT_YUV420P;
    e->time_base = (AVRational){1, 1000}; /* pts in milliseconds */
    e->framerate = av_d2q(fps > 0 ? fps : 30.0, 100000);
    w->frame_ms = (int64_t)(1000.0 / (fps > 0 ? fps : 30.0) + 0.5);
    if (w->frame_ms < 1) w->frame_ms = 1;
    e->gop_size = 60;
    e->thread_count = 1;
    if (w->oc->oformat->flags & AVFMT_GLOBALHEADER) e->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    AVDictionary *opts = NULL;
    if (!strcmp(codec->name, "libx264")) {
        av_dict_set(&opts, "preset", "veryfast", 0);
        av_dict_set(&opts, "tune", "zerolatency", 0);
        av_dict_set(&opts, "crf", "23", 0);
    } else {
        e->bit_rate = (int64_t)e->width * e->height * 4; /* ~1.2 Mbit/s at 640x480 */
        e->max_b_frames = 0;
    }
    int r = avcodec_open2(e, codec, &opts);
    av_dict_free(&opts);
    if (r < 0) return wfail(w->path, "opening the encoder", r);
    if (!(w->st = avformat_new_stream(w->oc, NULL)))
        return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    w->st->time_base = e->time_base;
    if ((r = avcodec_parameters_from_context(w->st->codecpar, e)) < 0)
        return wfail(w->path, "stream parameters", r);
    w->frame = av_frame_alloc();
    w->pkt = av_packet_alloc();
    if (!w->frame || !w->pkt) return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    w->frame->format = e->pix_fmt;
    w->frame->width = e->width;
    w->frame->height = e->height;
    if ((r = av_frame_get_buffer(w->frame, 0)) < 0) return wfail(w->path, "frame buffer", r);
    w->sws = sws_getContext(w->width, w->height, AV_PIX_FMT_RGB24, e->width, e->height,
                            e->pix_fmt, SWS_BILINEAR, NULL, NULL, NULL);
    if (!w->sws) return vd_app_error(VKDETR_ERR_NO_MEMORY, "cannot create a converter");
    return VKDETR_OK;
}

vkdetr_status vd_video_writer_open(const char *path, int width, int height, double fps,
                                   vd_video_writer **out) {
    return vd_video_writer_open_codec(path, width, height, fps, NULL, out);
}

vkdetr_status vd_video_writer_open_codec(const char *path, int width, int height, double fps,
                                         const char *codec, vd_video_writer **out) {
    *out = NULL;
    if (width < 2 || height < 2)
        return vd_app_error(VKDETR_ERR_INVALID_ARG, "%s: frames too small (%dx%d)", path, width,
                            height);
    const AVOutputFormat *of = av_guess_format(NULL, path, NULL);
    if (!of)
        return vd_app_error(VKDETR_ERR_INVALID_ARG,
                            "%s: unknown video container (use .mp4, .mkv, .mov or .avi)", path);
    vd_video_writer *w = calloc(1, sizeof *w);
    size_t n = strlen(path) + 32;
    if (!w || !(w->path = strdup(path)) || !(w->tmp = malloc(n))) {
        release(w);
        return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    }
    snprintf(w->tmp, n, "%s.tmp-%ld", path, (long)getpid());
    w->width = width;
    w->height = height;
    w->last_pts = -1;
    vkdetr_status st;
    int r = avformat_alloc_output_context2(&w->oc, of, NULL, w->tmp);
    if (r < 0 || !w->oc) {
        st = wfail(path, "cannot create the container", r);
        goto fail;
    }
    if ((st = open_encoder(w, fps, codec))) goto fail;
    if ((r = avio_open(&w->oc->pb, w->tmp, AVIO_FLAG_WRITE)) < 0) {
        st = wfail(path, "cannot create", r);
        goto fail;
    }
    if ((r = avformat_write_header(w->oc, NULL)) < 0) {
        st = wfail(path, "cannot write the header", r);
        goto fail;
    }
    w->header_written = 1;
    *out = w;
    return VKDETR_OK;
fail:
    vd_video_writer_abort(w);
    return st;
}

/* Sends frame (NULL = flush) and writes the packets that come out. */
static vkdetr_status encode(vd_video_writer *w, AVFrame *frame) {
    int r = avcodec_send_frame(w->enc, frame);
    if (r < 0) return wfail(w->path, "encoding", r);
    for (;;) {
        r = avcodec_receive_packet(w->enc, w->pkt);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return VKDETR_OK;
        if (r < 0) return wfail(w->path, "encoding", r);
        /* without a duration the MP4 muxer's edit list ends at the last frame's start, and
         * demuxers then drop that frame */
        if (w->pkt->duration <= 0) w->pkt->duration = w->frame_ms;
        av_packet_rescale_ts(w->pkt, w->enc->time_base, w->st->time_base);
        w->pkt->stream_index = w->st->index;
        r = av_interleaved_write_frame(w->oc, w->pkt);
        if (r < 0) return wfail(w->path, "writing", r);
    }
}

vkdetr_status vd_video_writer_write(vd_video_writer *w, const uint8_t *rgb, double pts) {
    int r = av_frame_make_writable(w->frame);
    if (r < 0) return wfail(w->path, "frame buffer", r);
    const uint8_t *src[4] = {rgb, NULL, NULL, NULL};
    int src_stride[4] = {w->width * 3, 0, 0, 0};
    sws_scale(w->sws, src, src_stride, 0, w->height, w->frame->data, w->frame->linesize);
    int64_t ms = (int64_t)(pts * 1000.0 + 0.5);
    if (ms <= w->last_pts) ms = w->last_pts + 1;
    w->last_pts = ms;
    w->frame->pts = ms;
    return encode(w, w->frame);
}

vkdetr_status vd_video_writer_close(vd_video_writer *w) {
    vkdetr_status st = encode(w, NULL);
    if (!st) {
        int r = av_write_trailer(w->oc);
        if (r < 0) st = wfail(w->path, "finishing the file", r);
    }
    if (!st) {
        int r = avio_closep(&w->oc->pb);
        if (r < 0) st = wfail(w->path, "closing", r);
    }
    if (!st && rename(w->tmp, w->path) != 0)
        st = vd_app_error(VKDETR_ERR_IO, "cannot rename %s to %s", w->tmp, w->path);
    if (st) {
        vd_video_writer_abort(w);
        return st;
    }
    release(w);
    return VKDETR_OK;
}
