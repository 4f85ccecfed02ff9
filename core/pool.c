#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

#include "base.h"

void openblas_set_num_threads(int num_threads);

/* A job is published as one word, claim = (generation, task count, next task); a thread
 * takes task t by moving claim from (g, n, t) to (g, n, t + 1), so a worker that wakes late,
 * after its job is done and maybe the next one published, never takes a task of a job it did
 * not read. The caller waits for its tasks to be done, not for the workers to come round: on
 * a loaded machine a worker that is not scheduled while its job runs costs nothing (the
 * caller takes its tasks). fn and arg change only between jobs, after every task of the
 * previous one is done; they are atomics (relaxed) because a late worker may read them while
 * that happens, before its claim fails. */
#define CLAIM_BITS 20 /* task count and next task, each */
#define CLAIM_MAX ((1 << CLAIM_BITS) - 1)
#define CLAIM(gen, n, t) \
    (((uint64_t)(gen) << (2 * CLAIM_BITS)) | ((uint64_t)(n) << CLAIM_BITS) | (uint64_t)(t))
struct vd_pool {
    int n_threads; /* including the caller */
    pthread_t *threads;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    /* the current job */
    _Atomic(vd_pool_fn) fn;
    _Atomic(void *) arg;
    _Atomic uint64_t claim;
    atomic_int done;        /* tasks of the current job finished */
    atomic_uint generation; /* the current job's, for waking workers */
    unsigned jobs;          /* caller only: generations handed out */
    atomic_int quit;
};

/* Spin this many iterations before sleeping: a forward pass issues hundreds of short jobs
 * back to back, and a sleeping worker costs tens of microseconds to wake. */
#define SPIN 20000
/* The caller, its tasks done, spins this many iterations for the workers' last tasks before
 * yielding its core. */
#define WAIT_SPIN 4000

/* Takes and runs tasks of job generation gen (its low bits) until none is left or a newer job
 * is out. */
static void run_tasks(vd_pool *p, int thread, unsigned gen) {
    unsigned g = gen & ((1u << (64 - 2 * CLAIM_BITS)) - 1);
    for (;;) {
        uint64_t c = atomic_load_explicit(&p->claim, memory_order_acquire);
        if ((unsigned)(c >> (2 * CLAIM_BITS)) != g) return;
        int t = (int)(c & CLAIM_MAX), n = (int)((c >> CLAIM_BITS) & CLAIM_MAX);
        if (t >= n) return;
        vd_pool_fn fn = atomic_load_explicit(&p->fn, memory_order_relaxed);
        void *arg = atomic_load_explicit(&p->arg, memory_order_relaxed);
        if (!atomic_compare_exchange_weak_explicit(&p->claim, &c, c + 1, memory_order_acquire,
                                                   memory_order_relaxed))
            continue;
        fn(arg, t, thread);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
    }
}

typedef struct {
    vd_pool *pool;
    int index;
} worker_arg;

static void *worker(void *argp) {
    vd_pool *p = ((worker_arg *)argp)->pool;
    int index = ((worker_arg *)argp)->index;
    vd_free(argp);
    unsigned seen = 0;
    for (;;) {
        unsigned gen;
        int spins = 0;
        while ((gen = atomic_load(&p->generation)) == seen && spins < SPIN) {
            cpu_relax();
            spins++;
        }
        if (gen == seen) {
            pthread_mutex_lock(&p->mutex);
            while ((gen = atomic_load(&p->generation)) == seen && !p->quit)
                pthread_cond_wait(&p->wake, &p->mutex);
            pthread_mutex_unlock(&p->mutex);
        }
        if (p->quit) return NULL;
        seen = gen;
        run_tasks(p, index, gen);
    }
}

int vd_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static void blas_single(void) { openblas_set_num_threads(1); }

vd_pool *vd_pool_create(int n_threads) {
    pthread_once(&blas_once, blas_single);
    if (n_threads <= 0) n_threads = vd_cpu_count();
    vd_pool *p = vd_calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n_threads = n_threads;
    pthread_mutex_init(&p->mutex, NULL);
    pthread_cond_init(&p->wake, NULL);
    if (n_threads > 1) {
        p->threads = vd_calloc((size_t)n_threads - 1, sizeof *p->threads);
        if (!p->threads) goto fail;
        for (int i = 1; i < n_threads; i++) {
            worker_arg *wa = vd_malloc(sizeof *wa);
            if (!wa) goto fail_threads;
            wa->pool = p;
            wa->index = i;
            if (pthread_create(&p->threads[i - 1], NULL, worker, wa) != 0) {
                vd_free(wa);
                goto fail_threads;
            }
            continue;
        fail_threads:
            p->n_threads = i; /* only threads 1..i-1 exist */
            vd_pool_free(p);
            return NULL;
        }
    }
    return p;
fail:
    pthread_mutex_destroy(&p->mutex);
    pthread_cond_destroy(&p->wake);
    vd_free(p);
    return NULL;
}

void vd_pool_free(vd_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mutex);
    p->quit = 1;
    atomic_fetch_add(&p->generation, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mutex);
    for (int i = 1; i < p->n_threads; i++) pthread_join(p->threads[i - 1], NULL);
    vd_free(p->threads);
    pthread_mutex_destroy(&p->mutex);
    pthread_cond_destroy(&p->wake);
    vd_free(p);
}

int vd_pool_threads(const vd_pool *p) { return p ? p->n_threads : 1; }

/* One job of at most CLAIM_MAX tasks. */
static void run_job(vd_pool *p, int n_tasks, vd_pool_fn fn, void *arg) {
    unsigned gen = ++p->jobs;
    atomic_store_explicit(&p->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&p->arg, arg, memory_order_relaxed);
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    atomic_store_explicit(&p->claim, CLAIM(gen, n_tasks, 0), memory_order_release);
    pthread_mutex_lock(&p->mutex);
    atomic_store(&p->generation, gen);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mutex);
    run_tasks(p, 0, gen);
    /* the last tasks run on workers: spin a little, then let the scheduler run them (on a
     * loaded machine a worker may be waiting for this very core) */
    for (int spins = 0; atomic_load_explicit(&p->done, memory_order_acquire) < n_tasks; spins++) {
        if (spins < WAIT_SPIN)
            cpu_relax();
        else
            sched_yield();
    }
}

/* more tasks than a claim word counts: jobs of CLAIM_MAX tasks, each shifted by its first */
typedef struct chunk_arg {
    vd_pool_fn fn;
    void *arg;
    int first;
} chunk_arg;

static void chunk_task(void *argp, int task, int thread) {
    const chunk_arg *c = argp;
    c->fn(c->arg, c->first + task, thread);
}

void vd_pool_run(vd_pool *p, int n_tasks, vd_pool_fn fn, void *arg) {
    if (n_tasks <= 0) return;
    if (!p || p->n_threads == 1 || n_tasks == 1) {
        for (int t = 0; t < n_tasks; t++) fn(arg, t, 0);
        return;
    }
    if (n_tasks <= CLAIM_MAX) {
        run_job(p, n_tasks, fn, arg);
        return;
    }
    for (int first = 0; first < n_tasks; first += CLAIM_MAX) {
        chunk_arg c = {fn, arg, first};
        run_job(p, VD_MIN(CLAIM_MAX, n_tasks - first), chunk_task, &c);
    }
}
