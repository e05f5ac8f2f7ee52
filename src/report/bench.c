/*
 * bench.c - `retort bench`: load time, batch-1 latency percentiles,
 * throughput, peak memory and parameter bytes of a model (see bench.h for
 * the method). Timing is wall time (CLOCK_MONOTONIC); nothing here asserts
 * on a time, so tests check only the structure and ordering of results.
 */
#include "report/bench.h"

#include "core/graph.h"
#include "core/rng.h"
#include "models/model.h"
#include "quant/qfile.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BENCH_MAX_RUNS 100000

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

rt_bench_opts rt_bench_defaults(void)
{
    return (rt_bench_opts){.runs = 50, .warmup = 5, .batch = 32, .batch_runs = 5, .batch_warmup = 1, .seed = 1};
}

rt_status rt_bench_check_opts(const rt_bench_opts *o)
{
    if (o->runs < 1 || o->runs > BENCH_MAX_RUNS || o->batch_runs < 1 || o->batch_runs > BENCH_MAX_RUNS)
        return rt_error(RT_ERR_ARG, "bench: runs must be in [1, %d]", BENCH_MAX_RUNS);
    if (o->warmup < 0 || o->batch_warmup < 0) return rt_error(RT_ERR_ARG, "bench: warm-up runs must be >= 0");
    if (o->batch < 1 || o->batch > (1 << 20)) return rt_error(RT_ERR_ARG, "bench: batch must be in [1, 1048576]");
    return RT_OK;
}

double rt_bench_percentile(const double *sorted, int n, double p)
{
    int k = (int)((p / 100.0) * n + 0.999999999); /* ceil(p n / 100), nearest rank */
    if (k < 1) k = 1;
    if (k > n) k = n;
    return sorted[k - 1];
}

/* A "Key:   1234 kB" line of /proc/self/status in bytes; -1 if unavailable. */
static int64_t proc_status_bytes(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    int64_t v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl)) {
            long long kb = -1;
            if (sscanf(line + kl, " %lld", &kb) == 1 && kb >= 0) v = (int64_t)kb * 1024;
            break;
        }
    fclose(f);
    return v;
}

static int64_t peak_rss_bytes(void)
{
    int64_t v = proc_status_bytes("VmHWM:");
    if (v >= 0) return v;
    struct rusage ru; /* no /proc: the process maximum (kB on Linux) */
    return getrusage(RUSAGE_SELF, &ru) == 0 ? (int64_t)ru.ru_maxrss * 1024 : -1;
}

/* Build the inference plan at `batch`, fill the input from the seed, run
 * `warm` untimed and `runs` timed forward passes; t[] gets the times, sorted. */
static rt_status time_forward(rt_model *m, const char *path, int64_t batch, int warm, int runs, uint64_t seed,
                              double *t)
{
    rt_graph *g = rt_model_graph(m, batch, RT_PLAN_INFER);
    if (!g) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", rt_errmsg());
        return rt_error(RT_ERR_ARG, "%s: batch %lld: %s", path, (long long)batch, msg);
    }
    rt_graph_set_training(g, false);
    rt_node *x = rt_graph_tap(g, "input");
    RT_ASSERT(x);
    float *xd = rt_data(x);
    for (int64_t i = 0, n = rt_numel(x); i < n; i++) xd[i] = rt_rng_normal(seed, 0, 0, (uint64_t)i);
    rt_status st = RT_OK;
    for (int i = 0; i < warm + runs && st == RT_OK; i++) {
        double t0 = now_ms();
        st = rt_graph_forward(g);
        if (i >= warm) t[i - warm] = now_ms() - t0;
    }
    rt_graph_free(g);
    if (st != RT_OK) return st;
    qsort(t, (size_t)runs, sizeof t[0], cmp_double);
    return RT_OK;
}

/* Size of a model file; 0 for a config (JSON text, as rt_model_open tells them apart). */
static int64_t model_file_bytes(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    int ch;
    while ((ch = fgetc(f)) == ' ' || ch == '\n' || ch == '\t' || ch == '\r') {}
    int64_t n = 0;
    if (ch != '{' && fseek(f, 0, SEEK_END) == 0) n = (int64_t)ftell(f);
    fclose(f);
    return n > 0 ? n : 0;
}

static void shape_str(char *s, size_t cap, const rt_model *m)
{
    size_t k = 0;
    s[0] = 0;
    for (int i = 0; i < m->in_ndim && k < cap; i++)
        k += (size_t)snprintf(s + k, cap - k, "%s%lld", i ? "x" : "", (long long)m->in_shape[i]);
}

rt_status rt_bench_model(rt_bench_result *r, const char *path, const rt_bench_opts *o)
{
    rt_status st = rt_bench_check_opts(o);
    if (st != RT_OK) return st;
    memset(r, 0, sizeof *r);
    snprintf(r->path, sizeof r->path, "%s", path);
    r->rss_base = proc_status_bytes("VmRSS:");
    rt_model *m = NULL;
    double t0 = now_ms();
    st = rt_model_open(&m, path, o->seed);
    if (st != RT_OK) return st;
    r->load_ms = now_ms() - t0;
    snprintf(r->name, sizeof r->name, "%s", m->name);
    shape_str(r->input, sizeof r->input, m);
    r->params = (int64_t)(m->params->numel + m->params->buf_numel);
    r->param_bytes = r->params * (int64_t)sizeof(float);
    r->file_bytes = model_file_bytes(path);

    double *t = malloc((size_t)(o->runs > o->batch_runs ? o->runs : o->batch_runs) * sizeof *t);
    if (!t) {
        st = rt_error(RT_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    st = time_forward(m, path, 1, o->warmup, o->runs, o->seed, t);
    if (st != RT_OK) goto done;
    r->p50_ms = rt_bench_percentile(t, o->runs, 50);
    r->p90_ms = rt_bench_percentile(t, o->runs, 90);
    r->p99_ms = rt_bench_percentile(t, o->runs, 99);
    for (int i = 0; i < o->runs; i++) r->mean_ms += t[i] / o->runs;
    st = time_forward(m, path, o->batch, o->batch_warmup, o->batch_runs, o->seed, t);
    if (st != RT_OK) goto done;
    r->batch_ms = rt_bench_percentile(t, o->batch_runs, 50);
    r->throughput = (double)o->batch * 1e3 / r->batch_ms;
    r->rss_peak = peak_rss_bytes();
    if (m->qw) r->param_bytes = (int64_t)rt_qweights_memory_bytes(m); /* integer weights, float copies only where used */
done:
    free(t);
    rt_model_free(m);
    return st;
}

/* What the child sends back through the pipe. */
struct bench_msg {
    rt_status st;
    char err[1024];
    rt_bench_result r;
};

static rt_status read_full(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n > 0) {
        ssize_t k = read(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return RT_ERR_IO;
        p += k;
        n -= (size_t)k;
    }
    return RT_OK;
}

static void write_full(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return;
        p += k;
        n -= (size_t)k;
    }
}

static void child_run(int fd, const char *path, const rt_bench_opts *o)
{
    static struct bench_msg msg; /* static: large, and the child exits right after */
    int cr = open("/proc/self/clear_refs", O_WRONLY);
    if (cr >= 0) {
        if (write(cr, "5", 1) != 1) { /* no reset: the peak includes the parent's (small) baseline */
        }
        close(cr);
    }
    msg.st = rt_bench_model(&msg.r, path, o);
    if (msg.st != RT_OK) snprintf(msg.err, sizeof msg.err, "%s", rt_errmsg());
    write_full(fd, &msg, sizeof msg);
    close(fd);
    _exit(0);
}

rt_status rt_bench_model_isolated(rt_bench_result *r, const char *path, const rt_bench_opts *o)
{
    static struct bench_msg msg;
    rt_status st = rt_bench_check_opts(o);
    if (st != RT_OK) return st;
    int fds[2];
    if (pipe(fds) != 0) return rt_error(RT_ERR_IO, "%s: pipe: %s", path, strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return rt_error(RT_ERR_IO, "%s: fork: %s", path, strerror(errno));
    }
    if (pid == 0) {
        close(fds[0]);
        child_run(fds[1], path, o);
    }
    close(fds[1]);
    rt_status rd = read_full(fds[0], &msg, sizeof msg);
    close(fds[0]);
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {}
    if (rd != RT_OK) {
        if (WIFSIGNALED(ws))
            return rt_error(RT_ERR_IO, "%s: the benchmark process died (%s)", path, strsignal(WTERMSIG(ws)));
        return rt_error(RT_ERR_IO, "%s: the benchmark process exited without a result", path);
    }
    if (msg.st != RT_OK) return rt_error(msg.st, "%s", msg.err);
    *r = msg.r;
    return RT_OK;
}

void rt_bench_relate(rt_bench_result *r, int n)
{
    for (int i = 0; i < n; i++) {
        r[i].speedup = r[i].p50_ms > 0 ? r[0].p50_ms / r[i].p50_ms : 0;
        r[i].throughput_speedup = r[0].throughput > 0 ? r[i].throughput / r[0].throughput : 0;
        r[i].size_ratio = r[i].param_bytes > 0 ? (double)r[0].param_bytes / (double)r[i].param_bytes : 0;
    }
}

/* The conditions a reader needs to judge the times: libgomp's wait policy
 * (spinning threads on a loaded 2-core machine multiplied batch-1 times by
 * up to 50x here; see docs/bench.md) and the load average at the end. */
static const char *wait_policy(void)
{
    const char *p = getenv("OMP_WAIT_POLICY");
    return p && *p ? p : "(unset)";
}

static double load_average(void)
{
    double l[1];
    return getloadavg(l, 1) == 1 ? l[0] : -1;
}

static const char *rss_method =
    "VmHWM of /proc/self/status in a forked process per model, reset via /proc/self/clear_refs";

void rt_bench_print(FILE *f, const rt_bench_result *r, int n, const rt_bench_opts *o, int threads)
{
    fprintf(f, "retort bench: %d threads; batch-1 latency over %d runs after %d warm-up; throughput at batch %lld "
               "(median of %d)\n",
            threads, o->runs, o->warmup, (long long)o->batch, o->batch_runs);
    fprintf(f, "%-32s %9s %9s %9s %9s %12s %10s %9s %10s %8s %8s\n", "model (file)", "load ms", "p50 ms", "p90 ms",
            "p99 ms", "samples/s", "params MB", "file MB", "peak RSS", "speedup", "thr x");
    for (int i = 0; i < n; i++) {
        const rt_bench_result *b = &r[i];
        char rss[32], file[32], who[40];
        /* the file tells apart models of one name (a student and its INT8 and INT4 files) */
        size_t pl = strlen(b->path);
        if (pl <= 32) snprintf(who, sizeof who, "%s", b->path);
        else snprintf(who, sizeof who, "...%s", b->path + pl - 29);
        if (b->rss_peak >= 0) snprintf(rss, sizeof rss, "%.1f MB", (double)b->rss_peak / 1e6);
        else snprintf(rss, sizeof rss, "n/a");
        if (b->file_bytes > 0) snprintf(file, sizeof file, "%.2f", (double)b->file_bytes / 1e6);
        else snprintf(file, sizeof file, "-");
        fprintf(f, "%-32s %9.1f %9.2f %9.2f %9.2f %12.1f %10.2f %9s %10s %7.2fx %7.2fx\n", who, b->load_ms,
                b->p50_ms, b->p90_ms, b->p99_ms, b->throughput, (double)b->param_bytes / 1e6, file, rss, b->speedup,
                b->throughput_speedup);
    }
    fprintf(f, "speedup: p50 of the first model / p50; thr x: throughput / the first model's.\n"
               "peak RSS: %s (includes ~%.0f MB of process baseline).\n"
               "OMP_WAIT_POLICY=%s, load average %.2f (other work on the cores skews times).\n",
            rss_method, n > 0 && r[0].rss_base > 0 ? (double)r[0].rss_base / 1e6 : 0.0, wait_policy(),
            load_average());
}

cJSON *rt_bench_json(const rt_bench_result *r, int n, const rt_bench_opts *o, int threads)
{
    cJSON *j = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    if (!j || !arr) {
        cJSON_Delete(j);
        cJSON_Delete(arr);
        return NULL;
    }
    cJSON_AddStringToObject(j, "type", "bench");
    cJSON_AddNumberToObject(j, "threads", threads);
    cJSON_AddNumberToObject(j, "runs", o->runs);
    cJSON_AddNumberToObject(j, "warmup", o->warmup);
    cJSON_AddNumberToObject(j, "batch", (double)o->batch);
    cJSON_AddNumberToObject(j, "batch_runs", o->batch_runs);
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    cJSON_AddStringToObject(j, "rss_method", rss_method);
    cJSON_AddStringToObject(j, "omp_wait_policy", wait_policy());
    cJSON_AddNumberToObject(j, "load_average", load_average());
    cJSON_AddItemToObject(j, "models", arr);
    for (int i = 0; i < n; i++) {
        const rt_bench_result *b = &r[i];
        cJSON *m = cJSON_CreateObject();
        if (!m) {
            cJSON_Delete(j);
            return NULL;
        }
        cJSON_AddItemToArray(arr, m);
        cJSON_AddStringToObject(m, "path", b->path);
        cJSON_AddStringToObject(m, "name", b->name);
        cJSON_AddStringToObject(m, "input", b->input);
        cJSON_AddNumberToObject(m, "load_ms", b->load_ms);
        cJSON_AddNumberToObject(m, "p50_ms", b->p50_ms);
        cJSON_AddNumberToObject(m, "p90_ms", b->p90_ms);
        cJSON_AddNumberToObject(m, "p99_ms", b->p99_ms);
        cJSON_AddNumberToObject(m, "mean_ms", b->mean_ms);
        cJSON_AddNumberToObject(m, "batch_ms", b->batch_ms);
        cJSON_AddNumberToObject(m, "throughput", b->throughput);
        cJSON_AddNumberToObject(m, "params", (double)b->params);
        cJSON_AddNumberToObject(m, "param_bytes", (double)b->param_bytes);
        cJSON_AddNumberToObject(m, "file_bytes", (double)b->file_bytes);
        cJSON_AddNumberToObject(m, "rss_peak_bytes", (double)b->rss_peak);
        cJSON_AddNumberToObject(m, "rss_base_bytes", (double)b->rss_base);
        cJSON_AddNumberToObject(m, "speedup", b->speedup);
        cJSON_AddNumberToObject(m, "throughput_speedup", b->throughput_speedup);
        cJSON_AddNumberToObject(m, "size_ratio", b->size_ratio);
    }
    return j;
}
