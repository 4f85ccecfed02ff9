/* A fixed thread pool for the CPU backend.
 *
 * Why our own pool and not OpenMP: OpenBLAS (Debian's pthread build) runs its own threads,
 * and mixing them with an OpenMP runtime oversubscribes the cores. vkdetr instead calls
 * OpenBLAS single-threaded (openblas_set_num_threads(1), set once when the first pool is
 * created) and splits every large op, GEMMs included, into tasks on this pool. So a session
 * with n threads uses exactly n cores.
 *
 * One pool belongs to one session; vd_pool_run must not be called concurrently on the
 * same pool. The calling thread takes part in the work. */
#ifndef VD_POOL_H
#define VD_POOL_H

typedef struct vd_pool vd_pool;

/* task in [0, n_tasks), thread in [0, vd_pool_threads(pool)) */
typedef void (*vd_pool_fn)(void *arg, int task, int thread);

/* n_threads <= 0: one per online core. Returns NULL when out of memory or threads cannot be
 * started. */
vd_pool *vd_pool_create(int n_threads);
void vd_pool_free(vd_pool *pool);
int vd_pool_threads(const vd_pool *pool);

/* Runs fn(arg, task, thread) for every task and returns when all are done. With one thread
 * or one task it runs inline. pool may be NULL (inline). */
void vd_pool_run(vd_pool *pool, int n_tasks, vd_pool_fn fn, void *arg);

/* Number of online cores. */
int vd_cpu_count(void);

#endif
