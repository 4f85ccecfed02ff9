/* vkdetr bench: latency percentiles, per-stage and per-op times, peak memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "results.h"

typedef struct bench_opts {
    cli_model_opts m;
    int size[2];
    int threads;
    int runs;
    int warmup;
    const char *image;
    const char *json;
    int no_op_profile;
    int profile;
    int nodes;
    int scaling; /* threads (>= 1) of a second session whose runs alternate with the first's;
                  * 0: none */
} bench_opts;

static const cli_option bench_options[] = {
    CLI_MODEL_OPTIONS(bench_opts),
    {"size", 's', CLI_SIZE, offsetof(bench_opts, size), "WxH",
     "network input size, WxH or N for NxN", NULL, 0, 0, NULL},
    {"threads", 0, CLI_INT, offsetof(bench_opts, threads), "N", "CPU threads, 0 = one per core",
     NULL, 0, 4096, NULL},
    {"runs", 'n', CLI_INT, offsetof(bench_opts, runs), "N", "timed runs", NULL, 1, 1000000, NULL},
    {"warmup", 0, CLI_INT, offsetof(bench_opts, warmup), "N", "untimed runs first", NULL, 0,
     1000000, NULL},
    {"image", 0, CLI_STRING, offsetof(bench_opts, image), "FILE",
     "detect on this image (decoded once, before timing)", NULL, 0, 0,
     "a synthetic image of the input size"},
    {"json", 0, CLI_STRING, offsetof(bench_opts, json), "FILE",
     "also write the results as JSON to FILE (\"-\" = stdout, instead of the text)", NULL, 0, 0,
     "none"},
    {"profile", 0, CLI_FLAG, offsetof(bench_opts, profile), NULL,
     "time each op (on Vulkan: GPU timestamps) and print the per-op table, with the submits "
     "and host waits per run; the default unless --no-op-profile", NULL, 0, 0, NULL},
    {"no-op-profile", 0, CLI_FLAG, offsetof(bench_opts, no_op_profile), NULL,
     "do not time each op (removes the timing overhead; no per-op table)", NULL, 0, 0, NULL},
    {"nodes", 0, CLI_INT, offsetof(bench_opts, nodes), "N",
     "also list the N slowest nodes of the last run: op, stage, input and output shapes, time, "
     "GFLOP/s (JSON: \"nodes\")", NULL, 0, 1000000, "0"},
    {"scaling", 0, CLI_INT, offsetof(bench_opts, scaling), "N",
     "also run a second session on N threads, its runs alternating with the first's (A B B A "
     "...) so that both see the same machine, and print the speedup from --threads to N: the "
     "median over the pairs of runs (JSON: \"scaling\"); the peak RSS then counts both "
     "sessions", NULL, 1, 4096, "none"},
};

static const cli_command bench_command = {
    "bench",
    "[-m MODEL] [options]",
    "Time detection on one image: warm-up runs, then timed runs of vkdetr_session_detect "
    "(preprocessing to results, decoding excluded). Prints p50/p95/min latency, the mean time "
    "per stage, a per-op-type table of the last run (and with --nodes its slowest nodes) and the "
    "peak resident memory.",
    "Examples:\n"
    "  vkdetr bench -m ./rtdetr_r18vd --backend cpu --threads 2 --runs 10 --nodes 15\n"
    "  vkdetr bench -m ./rtdetr_r18vd --backend vulkan --size 512 --json bench.json\n"
    "  vkdetr bench -m ./rtdetr_r18vd --backend cpu --threads 1 --scaling 2 --runs 20",
    bench_options,
    (int)(sizeof bench_options / sizeof bench_options[0]),
    0,
    0,
};

static const char *const stage_names[VKDETR_STAGE_COUNT] = {"preprocess", "backbone", "encoder",
                                                           "decoder", "postprocess"};

/* A deterministic RGB test pattern: gradients with a little structure, so that nothing in the
 * network sees a constant input. */
static uint8_t *synthetic_image(int w, int h) {
    uint8_t *p = malloc((size_t)w * h * 3);
    if (!p) return NULL;
    uint32_t s = 12345;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            s = s * 1664525u + 1013904223u;
            uint8_t *q = p + ((size_t)y * w + x) * 3;
            q[0] = (uint8_t)(x * 255 / (w > 1 ? w - 1 : 1));
            q[1] = (uint8_t)(y * 255 / (h > 1 ? h - 1 : 1));
            q[2] = (uint8_t)((((x / 32) + (y / 32)) & 1) * 160 + (s >> 28));
        }
    return p;
}

typedef struct bench_stats {
    double p50, p95, min, mean;
    double stage_ms[VKDETR_STAGE_COUNT];
    int detections;
} bench_stats;

/* --scaling: the second session's latency and the speedup over the pairs of runs */
typedef struct scaling_stats {
    bench_stats b;
    double speedup_p50, speedup_min, speedup_max; /* over pairs: first's ms / second's ms */
} scaling_stats;

/* One timed detection; adds its stage times (weighted by w) to stats */
static int timed_detect(vkdetr_session *s, const vkdetr_image *img, double w, bench_stats *stats,
                        vkdetr_profile *prof, double *ms) {
    vkdetr_result *r = NULL;
    double t0 = cli_now_ms();
    vkdetr_status st = vkdetr_session_detect(s, img, &r);
    *ms = cli_now_ms() - t0;
    if (st) {
        cli_report("detect", st);
        return CLI_EXIT_MODEL;
    }
    stats->detections = r->count;
    vkdetr_result_free(r);
    if (w > 0 && vkdetr_session_profile(s, prof) == VKDETR_OK)
        for (int j = 0; j < VKDETR_STAGE_COUNT; j++) stats->stage_ms[j] += prof->stage_ms[j] * w;
    return CLI_EXIT_OK;
}

static void finish_stats(bench_stats *stats, double *t, int runs) {
    double sum = 0;
    for (int k = 0; k < runs; k++) sum += t[k];
    stats->mean = sum / runs;
    stats->p50 = cli_percentile(t, runs, 50);
    stats->p95 = cli_percentile(t, runs, 95);
    stats->min = t[0]; /* sorted by cli_percentile */
}

/* Runs warm-up and timed runs; fills stats and the profile of the last run. With s2 (--scaling)
 * every run of s is paired with one of s2, in alternating order, and sc gets s2's latency and
 * the per-pair speedups. */
static int run_bench(const bench_opts *o, vkdetr_session *s, vkdetr_session *s2,
                     const vkdetr_image *img, bench_stats *stats, scaling_stats *sc,
                     vkdetr_profile *prof) {
    int n = o->runs;
    double *t = calloc((size_t)n * 3, sizeof *t), *t2 = t + n, *q = t + 2 * n;
    if (!t) return CLI_EXIT_MODEL;
    memset(stats, 0, sizeof *stats);
    if (sc) memset(sc, 0, sizeof *sc);
    int rc = CLI_EXIT_OK;
    for (int i = 0; i < o->warmup + n && !rc; i++) {
        int k = i - o->warmup;
        double w = k >= 0 ? 1.0 / n : 0.0, ms = 0, ms2 = 0;
        if (s2 && (i & 1)) rc = timed_detect(s2, img, w, &sc->b, prof, &ms2);
        if (!rc) rc = timed_detect(s, img, w, stats, prof, &ms);
        if (!rc && s2 && !(i & 1)) rc = timed_detect(s2, img, w, &sc->b, prof, &ms2);
        if (k < 0 || rc) continue;
        t[k] = ms;
        if (s2) {
            t2[k] = ms2;
            q[k] = ms2 > 0 ? ms / ms2 : 0.0;
        }
    }
    if (!rc) {
        finish_stats(stats, t, n);
        if (s2) {
            finish_stats(&sc->b, t2, n);
            sc->speedup_p50 = cli_percentile(q, n, 50);
            sc->speedup_min = q[0];
            sc->speedup_max = q[n - 1];
        }
        if (vkdetr_session_profile(s, prof) != VKDETR_OK) memset(prof, 0, sizeof *prof);
    }
    free(t);
    return rc;
}

static double round3(double v) { return (double)(long long)(v * 1000.0 + (v >= 0 ? 0.5 : -0.5)) / 1000.0; }

static double gflops(double gflop, double ms) { return ms > 0 ? gflop / (ms / 1e3) : 0.0; }

static const char *stage_name(int stage) {
    return stage >= 0 && stage < VKDETR_STAGE_COUNT ? stage_names[stage] : "?";
}

/* The slowest nodes of the last run, slowest first (ties in run order) */
typedef struct slow_nodes {
    const vkdetr_node_profile **v;
    int n;
    double total_ms; /* of all nodes */
} slow_nodes;

static int by_time(const void *a, const void *b) {
    const vkdetr_node_profile *x = *(const vkdetr_node_profile *const *)a;
    const vkdetr_node_profile *y = *(const vkdetr_node_profile *const *)b;
    if (x->ms != y->ms) return x->ms < y->ms ? 1 : -1;
    return x < y ? -1 : x > y;
}

static vkdetr_status slowest_nodes(vkdetr_session *s, int max, slow_nodes *out) {
    const vkdetr_node_profile *nodes;
    int n;
    memset(out, 0, sizeof *out);
    vkdetr_status st = vkdetr_session_node_profile(s, &nodes, &n);
    if (st || max <= 0 || n <= 0) return st;
    out->v = malloc((size_t)n * sizeof *out->v);
    if (!out->v) return VKDETR_ERR_NO_MEMORY;
    for (int i = 0; i < n; i++) {
        out->v[i] = &nodes[i];
        out->total_ms += nodes[i].ms;
    }
    qsort(out->v, (size_t)n, sizeof *out->v, by_time);
    out->n = n < max ? n : max;
    return VKDETR_OK;
}

static void add_stages(cJSON *j, const bench_stats *st) {
    cJSON *stages = cJSON_AddObjectToObject(j, "stage_ms");
    for (int i = 0; i < VKDETR_STAGE_COUNT; i++)
        cJSON_AddNumberToObject(stages, stage_names[i], round3(st->stage_ms[i]));
}

static cJSON *bench_json(const bench_opts *o, const vkdetr_model_info *info, int w, int h,
                         const bench_stats *st, const scaling_stats *sc,
                         const vkdetr_profile *prof, int64_t rss_kb, const slow_nodes *slow) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", o->m.model ? o->m.model : g_cli_env.default_model);
    cJSON_AddStringToObject(j, "family", info->family ? info->family : "");
    cJSON_AddStringToObject(j, "backend", info->backend ? info->backend : "");
    cJSON_AddStringToObject(j, "device", info->device ? info->device : "");
    cJSON_AddNumberToObject(j, "input_width", w);
    cJSON_AddNumberToObject(j, "input_height", h);
    cJSON_AddStringToObject(j, "image", o->image ? o->image : "synthetic");
    cJSON_AddNumberToObject(j, "threads", o->threads);
    cJSON_AddNumberToObject(j, "runs", o->runs);
    cJSON_AddNumberToObject(j, "warmup", o->warmup);
    cJSON_AddNumberToObject(j, "p50_ms", round3(st->p50));
    cJSON_AddNumberToObject(j, "p95_ms", round3(st->p95));
    cJSON_AddNumberToObject(j, "min_ms", round3(st->min));
    cJSON_AddNumberToObject(j, "mean_ms", round3(st->mean));
    add_stages(j, st);
    if (sc) {
        cJSON *c = cJSON_AddObjectToObject(j, "scaling");
        cJSON_AddNumberToObject(c, "threads", o->scaling);
        cJSON_AddNumberToObject(c, "p50_ms", round3(sc->b.p50));
        cJSON_AddNumberToObject(c, "p95_ms", round3(sc->b.p95));
        cJSON_AddNumberToObject(c, "min_ms", round3(sc->b.min));
        cJSON_AddNumberToObject(c, "mean_ms", round3(sc->b.mean));
        add_stages(c, &sc->b);
        cJSON_AddNumberToObject(c, "speedup_p50", round3(sc->speedup_p50));
        cJSON_AddNumberToObject(c, "speedup_min", round3(sc->speedup_min));
        cJSON_AddNumberToObject(c, "speedup_max", round3(sc->speedup_max));
    }
    cJSON *ops = cJSON_AddArrayToObject(j, "ops");
    for (int i = 0; i < prof->n_ops; i++) {
        cJSON *op = cJSON_CreateObject();
        cJSON_AddStringToObject(op, "op", prof->ops[i].op ? prof->ops[i].op : "?");
        cJSON_AddNumberToObject(op, "count", prof->ops[i].count);
        cJSON_AddNumberToObject(op, "ms", round3(prof->ops[i].ms));
        cJSON_AddNumberToObject(op, "gflop", round3(prof->ops[i].gflop));
        cJSON_AddItemToArray(ops, op);
    }
    if (o->nodes > 0) {
        cJSON *nodes = cJSON_AddArrayToObject(j, "nodes");
        for (int i = 0; i < slow->n; i++) {
            const vkdetr_node_profile *p = slow->v[i];
            cJSON *node = cJSON_CreateObject();
            cJSON_AddStringToObject(node, "op", p->op ? p->op : "?");
            cJSON_AddStringToObject(node, "stage", stage_name(p->stage));
            cJSON_AddStringToObject(node, "shapes", p->shapes ? p->shapes : "");
            cJSON_AddNumberToObject(node, "ms", round3(p->ms));
            cJSON_AddNumberToObject(node, "gflop", round3(p->gflop));
            cJSON_AddItemToArray(nodes, node);
        }
    }
    cJSON_AddNumberToObject(j, "submits", prof->submits);
    cJSON_AddNumberToObject(j, "host_syncs", prof->host_syncs);
    cJSON_AddNumberToObject(j, "detections", st->detections);
    cJSON_AddNumberToObject(j, "peak_rss_kb", (double)rss_kb);
    return j;
}

static void print_stages(const char *head, const bench_stats *st) {
    printf("%s", head);
    for (int i = 0; i < VKDETR_STAGE_COUNT; i++) printf("%s %.2f  ", stage_names[i], st->stage_ms[i]);
    printf("(ms, mean)\n");
}

static void print_text(const bench_opts *o, const vkdetr_model_info *info, int w, int h,
                       const bench_stats *st, const scaling_stats *sc, const vkdetr_profile *prof,
                       int64_t rss_kb, const slow_nodes *slow) {
    printf("model      %s (%s, %.2f M parameters)\n",
           o->m.model ? o->m.model : g_cli_env.default_model, info->family ? info->family : "?",
           (double)info->num_parameters / 1e6);
    printf("backend    %s on %s, %d thread%s (0 = one per core)\n", info->backend ? info->backend : "?",
           info->device ? info->device : "?", o->threads, o->threads == 1 ? "" : "s");
    printf("input      %dx%d, image %s\n", w, h, o->image ? o->image : "synthetic");
    printf("runs       %d after %d warm-up, %d detections\n", o->runs, o->warmup, st->detections);
    printf("latency    p50 %.2f ms  p95 %.2f ms  min %.2f ms  mean %.2f ms\n", st->p50, st->p95,
           st->min, st->mean);
    print_stages("stages     ", st);
    if (sc) {
        printf("scaling    %d -> %d threads: %.2fx (median over %d pairs of alternating runs; "
               "range %.2f-%.2fx)\n", o->threads, o->scaling, sc->speedup_p50, o->runs,
               sc->speedup_min, sc->speedup_max);
        printf("%-11sp50 %.2f ms  p95 %.2f ms  min %.2f ms  mean %.2f ms  (%d threads)\n", "",
               sc->b.p50, sc->b.p95, sc->b.min, sc->b.mean, o->scaling);
        print_stages("           ", &sc->b);
    }
    if (prof->n_ops > 0) {
        double total = 0;
        for (int i = 0; i < prof->n_ops; i++) total += prof->ops[i].ms;
        printf("\nops of the last run:\n  %-20s %6s %10s %6s %10s %9s\n", "op", "count", "ms", "%",
               "GFLOP", "GFLOP/s");
        for (int i = 0; i < prof->n_ops; i++) {
            const vkdetr_op_profile *p = &prof->ops[i];
            printf("  %-20s %6d %10.3f %6.1f %10.3f %9.1f\n", p->op ? p->op : "?", p->count, p->ms,
                   total > 0 ? 100.0 * p->ms / total : 0.0, p->gflop, gflops(p->gflop, p->ms));
        }
        printf("  %-20s %6s %10.3f\n", "total", "", total);
    }
    if (slow->n > 0) {
        printf("\nslowest nodes of the last run:\n  %-12s %-11s %10s %6s %9s  %s\n", "op",
               "stage", "ms", "%", "GFLOP/s", "shapes (inputs -> output)");
        for (int i = 0; i < slow->n; i++) {
            const vkdetr_node_profile *p = slow->v[i];
            printf("  %-12s %-11s %10.3f %6.1f %9.1f  %s\n", p->op ? p->op : "?",
                   stage_name(p->stage), p->ms,
                   slow->total_ms > 0 ? 100.0 * p->ms / slow->total_ms : 0.0,
                   gflops(p->gflop, p->ms), p->shapes ? p->shapes : "");
        }
    }
    if (prof->submits || prof->host_syncs)
        printf("vulkan     %d submits, %d host syncs per run\n", prof->submits, prof->host_syncs);
    printf("peak RSS   %.1f MB\n", (double)rss_kb / 1024.0);
}

static int bench_model(const bench_opts *o, vkdetr_model *model) {
    vkdetr_model_info info;
    vkdetr_status st = vkdetr_model_get_info(model, &info);
    if (st) {
        cli_report("model info", st);
        return CLI_EXIT_MODEL;
    }
    int rc = cli_check_size(&info, o->size);
    if (rc) return rc;
    int w = o->size[0] ? o->size[0] : info.input_width, h = o->size[1] ? o->size[1] : info.input_height;
    vkdetr_image img = {0};
    uint8_t *synth = NULL;
    if (o->image) {
        if ((st = vkdetr_image_load(o->image, &img))) {
            cli_report(o->image, st);
            return CLI_EXIT_SOME_FAILED;
        }
    } else {
        synth = synthetic_image(w, h);
        vkdetr_image s = {synth, w, h, 0, VKDETR_PIXEL_RGB};
        img = s;
    }
    vkdetr_session_params sp = vkdetr_session_default_params();
    sp.input_width = w;
    sp.input_height = h;
    sp.n_threads = o->threads;
    if (o->profile && o->no_op_profile) {
        cli_errorf("--profile and --no-op-profile contradict each other");
        return CLI_EXIT_USAGE;
    }
    sp.profile = !o->no_op_profile;
    vkdetr_session *s = NULL, *s2 = NULL;
    vkdetr_session_params sp2 = sp;
    sp2.n_threads = o->scaling;
    bench_stats stats;
    scaling_stats sc, *scp = o->scaling ? &sc : NULL;
    vkdetr_profile prof;
    memset(&prof, 0, sizeof prof);
    if (!img.data) {
        cli_errorf("out of memory");
        rc = CLI_EXIT_MODEL;
    } else if ((st = vkdetr_session_create(model, &sp, &s))) {
        cli_report("cannot create a session", st);
        rc = CLI_EXIT_MODEL;
    } else if (o->scaling && (st = vkdetr_session_create(model, &sp2, &s2))) {
        cli_report("cannot create the --scaling session", st);
        rc = CLI_EXIT_MODEL;
    } else if ((rc = run_bench(o, s, s2, &img, &stats, scp, &prof)) == CLI_EXIT_OK) {
        int64_t rss = prof.peak_rss_kb > 0 ? prof.peak_rss_kb : cli_peak_rss_kb();
        int json_stdout = o->json && !strcmp(o->json, "-");
        slow_nodes slow;
        if ((st = slowest_nodes(s, o->nodes, &slow))) {
            cli_report("node profile", st);
            rc = CLI_EXIT_MODEL;
        } else {
            if (!json_stdout) print_text(o, &info, w, h, &stats, scp, &prof, rss, &slow);
            if (o->json) {
                cJSON *j = bench_json(o, &info, w, h, &stats, scp, &prof, rss, &slow);
                if (!j || vd_results_write_json(o->json, j)) rc = CLI_EXIT_OUTPUT;
                cJSON_Delete(j);
            }
        }
        free(slow.v);
    }
    vkdetr_session_free(s2);
    vkdetr_session_free(s);
    if (o->image) vkdetr_image_free(&img);
    free(synth);
    return rc;
}

int cli_cmd_bench(int argc, char **argv) {
    bench_opts o;
    memset(&o, 0, sizeof o);
    cli_model_opts_default(&o.m);
    o.runs = 20;
    o.warmup = 3;
    const char **args = calloc((size_t)argc + 1, sizeof *args);
    int n_args = 0;
    if (!args) return CLI_EXIT_USAGE;
    int rc = cli_parse(&bench_command, argc, argv, &o, args, &n_args);
    free(args);
    if (rc) return rc < 0 ? CLI_EXIT_OK : rc;
    vkdetr_model *model = NULL;
    rc = cli_open_model(&o.m, &model, NULL);
    if (!rc) rc = bench_model(&o, model);
    vkdetr_model_free(model);
    return rc;
}
