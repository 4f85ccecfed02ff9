/* Video files and network streams through libavformat / libavcodec, converted to RGB with
 * libswscale at the stream's initial size (a later size change is scaled to it). Network
 * streams (rtsp, rtmp, udp, ... and URLs without a known duration) are live; files are not
 * and are paced by the player. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>

#include "error.h"
#include "source.h"

typedef struct av_source {
    vd_source base;
    AVFormatContext *fmt;
    AVCodecContext *dec;
    AVPacket *pkt;
    AVFrame *frame;
    struct SwsContext *sws;
    int stream;
    int loop;
    int flushing;      /* the decoder got its end-of-stream packet */
    int final_rc;
    int64_t n;         /* frames delivered */
    int64_t start;     /* the stream's start time, in its time base */
    double offset;     /* seconds added to pts after each loop */
    double last_pts, frame_dur;
    int (*interrupt)(void *user);
    void *interrupt_user;
    char name[256];
} av_source;

static int av_interrupt(void *user) {
    av_source *s = user;
    return s->interrupt && s->interrupt(s->interrupt_user);
}

static vkdetr_status av_fail(const av_source *s, const char *what, int err) {
    char msg[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(err, msg, sizeof msg);
    return vd_app_error(VKDETR_ERR_IO, "%s: %s: %s", s->name, what, msg);
}

static void deliver(av_source *s, vd_frame *f) {
    int w = s->base.info.width, h = s->base.info.height;
    AVFrame *fr = s->frame;
    s->sws = sws_getCachedContext(s->sws, fr->width, fr->height, (enum AVPixelFormat)fr->format,
                                  w, h, AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL, NULL, NULL);
    if (s->sws) {
        uint8_t *dst[4] = {f->rgb, NULL, NULL, NULL};
        int dst_stride[4] = {w * 3, 0, 0, 0};
        sws_scale(s->sws, (const uint8_t *const *)fr->data, fr->linesize, 0, fr->height, dst,
                  dst_stride);
    } else {
        memset(f->rgb, 0, (size_t)w * h * 3);
    }
    AVStream *st = s->fmt->streams[s->stream];
    double pts = s->last_pts + s->frame_dur;
    if (fr->best_effort_timestamp != AV_NOPTS_VALUE)
        pts = (double)(fr->best_effort_timestamp - s->start) * av_q2d(st->time_base) + s->offset;
    if (s->n > 0 && pts <= s->last_pts) pts = s->last_pts + 1e-3;
    s->last_pts = pts;
    f->width = w;
    f->height = h;
    f->index = s->n++;
    f->pts = pts;
    f->t_capture = vd_source_now_ms();
    av_frame_unref(fr);
}

/* Back to the start for --loop; pts keep increasing. */
static int rewind_stream(av_source *s) {
    if (av_seek_frame(s->fmt, s->stream, s->start, AVSEEK_FLAG_BACKWARD) < 0) return -1;
    avcodec_flush_buffers(s->dec);
    s->flushing = 0;
    s->offset = s->last_pts + s->frame_dur;
    return 0;
}

static int av_read(vd_source *base, vd_frame *f, int timeout_ms) {
    av_source *s = (av_source *)base;
    (void)timeout_ms;
    if (s->final_rc) return s->final_rc;
    for (;;) {
        int r = avcodec_receive_frame(s->dec, s->frame);
        if (r == 0) {
            deliver(s, f);
            return VD_SOURCE_FRAME;
        }
        if (r == AVERROR_EOF) {
            if (s->loop && s->n > 0 && rewind_stream(s) == 0) continue;
            return s->final_rc = VD_SOURCE_END;
        }
        if (r != AVERROR(EAGAIN)) return s->final_rc = av_fail(s, "decoding", r);
        if (s->flushing) return s->final_rc = VD_SOURCE_END;
        r = av_read_frame(s->fmt, s->pkt);
        if (r == AVERROR_EXIT) return s->final_rc = VD_SOURCE_END; /* interrupted */
        if (r < 0) {
            if (r != AVERROR_EOF && base->info.live) {
                char msg[AV_ERROR_MAX_STRING_SIZE];
                av_strerror(r, msg, sizeof msg);
                vd_app_error(VKDETR_ERR_IO, "stream %s ended: %s", s->name, msg);
                return s->final_rc = VD_SOURCE_LOST;
            }
            avcodec_send_packet(s->dec, NULL); /* drain the decoder */
            s->flushing = 1;
            continue;
        }
        if (s->pkt->stream_index == s->stream) {
            r = avcodec_send_packet(s->dec, s->pkt);
            /* corrupt packets are skipped (the decoder logs them); others end the stream */
            if (r < 0 && r != AVERROR_INVALIDDATA && r != AVERROR(EAGAIN)) {
                av_packet_unref(s->pkt);
                return s->final_rc = av_fail(s, "decoding", r);
            }
        }
        av_packet_unref(s->pkt);
    }
}

static void av_close(vd_source *base) {
    av_source *s = (av_source *)base;
    sws_freeContext(s->sws);
    av_frame_free(&s->frame);
    av_packet_free(&s->pkt);
    avcodec_free_context(&s->dec);
    avformat_close_input(&s->fmt);
    free(s);
}

static const vd_source_ops av_ops = {av_read, av_close};

static int is_live_url(const char *spec, const AVFormatContext *fmt) {
    static const char *const live[] = {"rtsp:", "rtsps:", "rtmp:", "rtmps:", "udp:", "rtp:",
                                       "srt:", "tcp:", "mmsh:"};
    for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
        if (!strncmp(spec, live[i], strlen(live[i]))) return 1;
    return strstr(spec, "://") && fmt->duration == AV_NOPTS_VALUE;
}

static vkdetr_status open_decoder(av_source *s) {
    const AVCodec *codec = NULL;
    int r = av_find_best_stream(s->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (r < 0 || !codec)
        return vd_app_error(VKDETR_ERR_FORMAT, "%s: no video stream that can be decoded",
                            s->name);
    s->stream = r;
    AVStream *st = s->fmt->streams[r];
    if (!(s->dec = avcodec_alloc_context3(codec)))
        return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    if ((r = avcodec_parameters_to_context(s->dec, st->codecpar)) < 0)
        return av_fail(s, "decoder parameters", r);
    /* slice threads add no delay, unlike frame threads */
    s->dec->thread_count = 2;
    s->dec->thread_type = FF_THREAD_SLICE;
    if ((r = avcodec_open2(s->dec, codec, NULL)) < 0) return av_fail(s, "opening the decoder", r);
    if (st->codecpar->width < 1 || st->codecpar->height < 1 || st->codecpar->width > 16384 ||
        st->codecpar->height > 16384)
        return vd_app_error(VKDETR_ERR_FORMAT, "%s: unusable video size %dx%d", s->name,
                            st->codecpar->width, st->codecpar->height);
    s->base.info.width = st->codecpar->width;
    s->base.info.height = st->codecpar->height;
    AVRational rate = av_guess_frame_rate(s->fmt, st, NULL);
    s->base.info.fps = rate.num > 0 && rate.den > 0 ? av_q2d(rate) : 0.0;
    s->frame_dur = s->base.info.fps > 0 ? 1.0 / s->base.info.fps : 1.0 / 30.0;
    s->start = st->start_time != AV_NOPTS_VALUE ? st->start_time : 0;
    s->last_pts = -s->frame_dur;
    return VKDETR_OK;
}

vkdetr_status vd_source_open_av(const vd_source_params *p, vd_source **out) {
    *out = NULL;
    av_source *s = calloc(1, sizeof *s);
    if (!s) return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    s->base.ops = &av_ops;
    s->base.info.kind = "video";
    s->loop = p->loop;
    s->interrupt = p->interrupt;
    s->interrupt_user = p->interrupt_user;
    snprintf(s->name, sizeof s->name, "%s", p->spec);
    vkdetr_status st;
    int r;
    if (strstr(p->spec, "://")) avformat_network_init();
    if (!(s->fmt = avformat_alloc_context()) || !(s->pkt = av_packet_alloc()) ||
        !(s->frame = av_frame_alloc())) {
        st = vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
        goto fail;
    }
    s->fmt->interrupt_callback.callback = av_interrupt;
    s->fmt->interrupt_callback.opaque = s;
    if ((r = avformat_open_input(&s->fmt, p->spec, NULL, NULL)) < 0) {
        /* avformat_open_input freed the context */
        st = av_fail(s, "cannot open", r);
        goto fail;
    }
    if ((r = avformat_find_stream_info(s->fmt, NULL)) < 0) {
        st = av_fail(s, "cannot read stream information", r);
        goto fail;
    }
    if ((st = open_decoder(s))) goto fail;
    s->base.info.live = is_live_url(p->spec, s->fmt);
    snprintf(s->base.info.description, sizeof s->base.info.description,
             "%s %s, %s %dx%d at %.4g fps", s->base.info.live ? "stream" : "video", p->spec,
             s->dec->codec->name, s->base.info.width, s->base.info.height, s->base.info.fps);
    *out = &s->base;
    return VKDETR_OK;
fail:
    av_close(&s->base);
    return st;
}
