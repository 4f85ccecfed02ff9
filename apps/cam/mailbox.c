/* The triple buffer between two pipeline stages (cam.h). */
#include <errno.h>
#include <time.h>

#include "cam.h"

int cam_mailbox_init(cam_mailbox *mb, void *slots[3]) {
    pthread_condattr_t ca;
    if (pthread_mutex_init(&mb->mu, NULL)) return -1;
    if (pthread_condattr_init(&ca) || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) ||
        pthread_cond_init(&mb->cv, &ca)) {
        pthread_mutex_destroy(&mb->mu);
        return -1;
    }
    pthread_condattr_destroy(&ca);
    for (int i = 0; i < 3; i++) {
        mb->slot[i] = slots[i];
        mb->tag[i] = -1;
    }
    mb->back = 0;
    mb->middle = 1;
    mb->front = 2;
    mb->fresh = mb->closed = 0;
    mb->published = mb->taken = mb->dropped = 0;
    mb->last_tag = -1;
    return 0;
}

void cam_mailbox_destroy(cam_mailbox *mb) {
    pthread_cond_destroy(&mb->cv);
    pthread_mutex_destroy(&mb->mu);
}

void *cam_mailbox_back(cam_mailbox *mb) {
    /* only the producer moves `back`, so no lock is needed to read it */
    return mb->slot[mb->back];
}

int cam_mailbox_publish(cam_mailbox *mb, int64_t tag, int wait) {
    int dropped = 0;
    pthread_mutex_lock(&mb->mu);
    if (wait) {
        while (mb->fresh && !mb->closed) pthread_cond_wait(&mb->cv, &mb->mu);
        if (mb->closed) {
            pthread_mutex_unlock(&mb->mu);
            return -1;
        }
    }
    if (mb->fresh) {
        mb->dropped++;
        dropped = 1;
    }
    mb->tag[mb->back] = tag;
    int t = mb->middle;
    mb->middle = mb->back;
    mb->back = t;
    mb->fresh = 1;
    mb->published++;
    mb->last_tag = tag;
    pthread_cond_broadcast(&mb->cv);
    pthread_mutex_unlock(&mb->mu);
    return dropped;
}

static void deadline_after(struct timespec *ts, int ms) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int cam_mailbox_take(cam_mailbox *mb, int timeout_ms, void **item, int64_t *newest_tag) {
    struct timespec deadline;
    if (timeout_ms >= 0) deadline_after(&deadline, timeout_ms);
    pthread_mutex_lock(&mb->mu);
    while (!mb->fresh && !mb->closed) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&mb->cv, &mb->mu);
        } else if (pthread_cond_timedwait(&mb->cv, &mb->mu, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    if (!mb->fresh) {
        int closed = mb->closed;
        pthread_mutex_unlock(&mb->mu);
        return closed ? -1 : 0;
    }
    int t = mb->front;
    mb->front = mb->middle;
    mb->middle = t;
    mb->fresh = 0;
    mb->taken++;
    *item = mb->slot[mb->front];
    if (newest_tag) *newest_tag = mb->last_tag;
    pthread_cond_broadcast(&mb->cv);
    pthread_mutex_unlock(&mb->mu);
    return 1;
}

void cam_mailbox_close(cam_mailbox *mb) {
    pthread_mutex_lock(&mb->mu);
    mb->closed = 1;
    pthread_cond_broadcast(&mb->cv);
    pthread_mutex_unlock(&mb->mu);
}
