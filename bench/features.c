/*
 * features.c - what the feature cache saves: the time to open an audio
 * manifest as a dataset with an empty cache (decode, resample, STFT, mel,
 * write each entry) and again with the cache filled (hash each file, read
 * each entry), and their ratio. A run without the cache is the reference.
 *
 *     build/bench/features [FILES [SECONDS [PRESET [SOURCE_RATE [REPS]]]]]
 *     # default: 64 files of 4 s at 44100 Hz, preset speaker (-> 16 kHz), 3 reps
 *
 * The audio is generated (tones, a chirp and noise, PCM16 WAV) into a fresh
 * temporary directory, which is removed at the end. Each repetition runs the
 * three passes with a fresh cache directory; the medians over repetitions
 * are printed (this machine is shared and noisy). The thread count is
 * OpenMP's (OMP_NUM_THREADS). Exits 1 if a warm pass computed anything.
 */
#include "bench.h"

#include "core/error.h"
#include "data/manifest.h"

#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static char dir[256];

static int write_audio(const char *path, int sr, double seconds, unsigned seed)
{
    size_t n = (size_t)(seconds * sr);
    float *x = malloc(n * sizeof *x);
    if (!x) return -1;
    srand(seed);
    double f0 = 150.0 + 37.0 * (seed % 40);
    for (size_t i = 0; i < n; i++) {
        double t = (double)i / sr;
        x[i] = (float)(0.3 * sin(2 * M_PI * f0 * t) + 0.2 * sin(2 * M_PI * (200.0 + 1500.0 * t / seconds) * t) +
                       0.05 * ((double)rand() / RAND_MAX - 0.5));
    }
    SF_INFO si = {.samplerate = sr, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *f = sf_open(path, SFM_WRITE, &si);
    int rc = f && sf_writef_float(f, x, (sf_count_t)n) == (sf_count_t)n ? 0 : -1;
    if (f) sf_close(f);
    free(x);
    return rc;
}

/* Open the manifest once; returns ms, or -1 on an error (printed). */
static double timed_open(const char *manifest, const char *query, rt_manifest_stats *st)
{
    rt_manifest_opts o;
    rt_dataset ds;
    double t0 = bench_now_ms();
    if (rt_manifest_opts_parse(&o, query, manifest) != RT_OK || rt_manifest_open(&ds, manifest, &o, st) != RT_OK) {
        fprintf(stderr, "features: %s\n", rt_errmsg());
        return -1;
    }
    double ms = bench_now_ms() - t0;
    rt_dataset_free(&ds);
    return ms;
}

int main(int argc, char **argv)
{
    int files = argc > 1 ? atoi(argv[1]) : 64;
    double seconds = argc > 2 ? atof(argv[2]) : 4.0;
    const char *preset = argc > 3 ? argv[3] : "speaker";
    int sr = argc > 4 ? atoi(argv[4]) : 44100, reps = argc > 5 ? atoi(argv[5]) : 3;
    if (files < 1 || files > 100000 || !(seconds > 0.05 && seconds < 3600) || sr < 1000 || reps < 1 || reps > 99) {
        fprintf(stderr, "usage: features [FILES [SECONDS [PRESET [SOURCE_RATE [REPS]]]]]\n");
        return 2;
    }
    snprintf(dir, sizeof dir, "%s/retort-bench-features-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) return perror("mkdtemp"), 1;
    char path[512], manifest[512], query[768];
    snprintf(manifest, sizeof manifest, "%s/manifest.csv", dir);
    FILE *m = fopen(manifest, "w");
    if (!m) return perror(manifest), 1;
    fprintf(m, "path,label\n");
    for (int i = 0; i < files; i++) {
        snprintf(path, sizeof path, "%s/clip%05d.wav", dir, i);
        if (write_audio(path, sr, seconds, (unsigned)i + 1) != 0) return fprintf(stderr, "cannot write %s\n", path), 1;
        fprintf(m, "clip%05d.wav,%d\n", i, i % 10);
    }
    fclose(m);
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    printf("%d files of %.1f s at %d Hz (PCM16 WAV), preset %s, %d threads\n", files, seconds, sr, preset, threads);

    rt_manifest_stats none, cold, warm;
    double t_none[100], t_cold[100], t_warm[100];
    int rc = 0;
    for (int r = 0; r < reps && rc == 0; r++) {
        snprintf(query, sizeof query, "preset=%s&cache=none", preset);
        t_none[r] = timed_open(manifest, query, &none);
        snprintf(query, sizeof query, "preset=%s&cache=%s/cache%d", preset, dir, r);
        t_cold[r] = timed_open(manifest, query, &cold);
        t_warm[r] = timed_open(manifest, query, &warm);
        if (t_none[r] < 0 || t_cold[r] < 0 || t_warm[r] < 0 || warm.computed || warm.cache_hits != files) rc = 1;
    }
    if (rc == 0) {
        qsort(t_none, (size_t)reps, sizeof(double), bench_cmp_double);
        qsort(t_cold, (size_t)reps, sizeof(double), bench_cmp_double);
        qsort(t_warm, (size_t)reps, sizeof(double), bench_cmp_double);
        double mn = t_none[reps / 2], mc = t_cold[reps / 2], mw = t_warm[reps / 2];
        printf("%-34s %10s %10s %10s  (median of %d)\n", "pass", "ms", "computed", "cache hits", reps);
        printf("%-34s %10.1f %10lld %10lld\n", "no cache", mn, (long long)none.computed, (long long)none.cache_hits);
        printf("%-34s %10.1f %10lld %10lld\n", "first pass (empty cache, writes)", mc, (long long)cold.computed,
               (long long)cold.cache_hits);
        printf("%-34s %10.1f %10lld %10lld\n", "second pass (cache filled)", mw, (long long)warm.computed,
               (long long)warm.cache_hits);
        printf("speedup second/first: %.1fx (vs no cache: %.1fx)\n", mc / mw, mn / mw);
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "features: could not remove %s\n", dir);
    return rc;
}
