#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

#include "base.h"

void openblas_set_num_threads(int num_threads);

struct vd_pool {
    int n_threads; /* including the caller */
    pthread_t *threads;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    /* the current job */
    vd_pool_fn fn;
    void *arg;
    int n_tasks;
    atomic_int next_task;
    atomic_int pending; /* workers still inside the current job */
    atomic_uint generation;
    int quit;
};

/* Spin this many iterations before sleeping: a forward pass issues hundreds of short jobs
 * back to back, and a sleeping worker costs tens of microseconds to wake. */
#define SPIN 20000

static void run_tasks(vd_pool *p, int thread) {
    for (;;) {
        int t = atomic_fetch_add(&p->next_task, 1);
        if (t >= p->n_tasks) break;
        p->fn(p->arg, t, thread);
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
        run_tasks(p, index);
        atomic_fetch_sub(&p->pending, 1);
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

void vd_pool_run(vd_pool *p, int n_tasks, vd_pool_fn fn, void *arg) {
    if (n_tasks <= 0) return;
    if (!p || p->n_threads == 1 || n_tasks == 1) {
        for (int t = 0; t < n_tasks; t++) fn(arg, t, 0);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    p->n_tasks = n_tasks;
    atomic_store(&p->next_task, 0);
    atomic_store(&p->pending, p->n_threads - 1);
    pthread_mutex_lock(&p->mutex);
    atomic_fetch_add(&p->generation, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mutex);
    run_tasks(p, 0);
    while (atomic_load(&p->pending) > 0) cpu_relax();
}
