/*
 * test_manifest.c - audio datasets: the CSV manifest parser, spec options,
 * opening manifests into datasets (shapes, labels, padding), the feature
 * cache (hits without DSP, invalidation by content and settings, a corrupt
 * entry), random crops in the loader, SpecAugment, bad rows under stop and
 * skip, BLAKE2b, and the real recordings in ../shared/data when present.
 *
 * Audio is generated here (tones and noise written with libsndfile into the
 * test's temporary directory). "No DSP on a hit" is checked through
 * rt_manifest_stats (files computed vs read from the cache), not timing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "core/error.h"
#include "data/dataset.h"
#include "data/featcache.h"
#include "data/loader.h"
#include "data/manifest.h"
#include "data/specaug.h"
#include "io/fileio.h"
#include "io/blake2b.h"

#include <dirent.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHARED "../shared/data/"

/* ---- helpers ------------------------------------------------------------------------------- */

/* A PCM16 WAV in the temp dir: a tone of freq Hz plus seeded noise, `seconds` long at sr. */
static const char *tone_wav(const char *name, int sr, double seconds, double freq, unsigned seed)
{
    size_t n = (size_t)(seconds * sr);
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    srand(seed);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(0.4 * sin(2 * M_PI * freq * (double)i / sr) + 0.05 * ((double)rand() / RAND_MAX - 0.5));
    const char *path = tu_tmp(name);
    SF_INFO si = {.samplerate = sr, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *f = sf_open(path, SFM_WRITE, &si);
    if (!f) fail_msg("cannot write %s: %s", path, sf_strerror(NULL));
    assert_int_equal(sf_writef_float(f, x, (sf_count_t)n), (sf_count_t)n);
    sf_close(f);
    free(x);
    return path;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Open with options from a query; the test fails on an error. */
static void open_ok(rt_dataset *ds, const char *manifest, const char *query, rt_manifest_stats *st)
{
    rt_manifest_opts o;
    if (rt_manifest_opts_parse(&o, query, manifest) != RT_OK) fail_msg("%s", rt_errmsg());
    if (rt_manifest_open(ds, manifest, &o, st) != RT_OK) fail_msg("%s", rt_errmsg());
}

/* Open must fail with a message containing each of needles (NULL-terminated). */
static void open_fails(const char *manifest, const char *query, ...)
{
    rt_manifest_opts o;
    rt_dataset ds;
    rt_status s = rt_manifest_opts_parse(&o, query, manifest);
    if (s == RT_OK) s = rt_manifest_open(&ds, manifest, &o, NULL);
    assert_int_not_equal(s, RT_OK);
    printf("    error: %s\n", rt_errmsg());
    va_list ap;
    va_start(ap, query);
    for (const char *n; (n = va_arg(ap, const char *));)
        if (!strstr(rt_errmsg(), n)) fail_msg("'%s' not in the message", n);
    va_end(ap);
}

/* Files decoded and run through the front end, and files read from the cache. */
static void expect_stats(const rt_manifest_stats *st, int64_t computed, int64_t hits)
{
    if (st->computed != computed || st->cache_hits != hits)
        fail_msg("computed %lld (want %lld), cache hits %lld (want %lld)", (long long)st->computed,
                 (long long)computed, (long long)st->cache_hits, (long long)hits);
}

static int count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name), k = strlen(suffix);
        n += l > k && !strcmp(e->d_name + l - k, suffix);
    }
    closedir(d);
    return n;
}

/* The speaker manifest: three classes of tones, lengths 0.5 .. 1.2 s at 16 kHz (no resampling). */
static const char *speaker_manifest(void)
{
    tone_wav("a0.wav", 16000, 0.5, 300, 1);
    tone_wav("a1.wav", 16000, 0.8, 320, 2);
    tone_wav("b0.wav", 16000, 1.2, 1200, 3);
    tone_wav("b1.wav", 16000, 0.7, 1250, 4);
    mkdir(tu_tmp("sub"), 0777);
    tone_wav("sub/c0.wav", 16000, 1.0, 3000, 5);
    const char *m = tu_tmp("speaker.csv");
    write_text(m, "path,label\na0.wav,0\na1.wav,0\n\nb0.wav,1\r\nb1.wav, 1 \n\"sub/c0.wav\",2\n");
    return m;
}

/* ---- BLAKE2b and the parser ----------------------------------------------------------------- */

static void test_blake2b(void **state)
{
    (void)state;
    /* RFC 7693 Appendix A, and hashlib.blake2b(..., digest_size=32) for the others */
    uint8_t d[64];
    char hex[129];
    rt_blake2b_buf("abc", 3, d, 64);
    rt_hex(d, 64, hex);
    assert_string_equal(hex, "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
                             "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923");
    static const struct { const char *in, *hex; } v[] = {
        {"", "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"},
        {"abc", "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        rt_blake2b_buf(v[i].in, strlen(v[i].in), d, 32);
        rt_hex(d, 32, hex);
        assert_string_equal(hex, v[i].hex);
    }
    /* 768 bytes (exactly 6 blocks: the last one must be the flagged one), whole and in pieces */
    uint8_t b[768];
    for (int i = 0; i < 768; i++) b[i] = (uint8_t)i;
    rt_blake2b_buf(b, sizeof b, d, 32);
    rt_hex(d, 32, hex);
    assert_string_equal(hex, "b8007121274217790e2923e0ad7027986e5a99d5531ef6ae7d294140fc81615d");
    /* a million 'a' fed in pieces of every size from 1 to 997 */
    char chunk[997];
    memset(chunk, 'a', sizeof chunk);
    rt_blake2b s;
    rt_blake2b_init(&s, 32);
    size_t left = 1000000;
    for (size_t k = 1; left; k = k % 997 + 1) {
        size_t take = k < left ? k : left;
        rt_blake2b_update(&s, chunk, take);
        left -= take;
    }
    rt_blake2b_final(&s, d);
    rt_hex(d, 32, hex);
    assert_string_equal(hex, "0741850f36cba4259628355d1073e24ddb9ca0e1bfac36fd39ae5dc2101e23a4");
}

static void test_parse_good(void **state)
{
    (void)state;
    rt_manifest m;
    const char *csv = "\xEF\xBB\xBFpath,label\r\n  a.wav , 3\r\n\r\n\"b,\"\"x\"\".wav\",0\n";
    assert_int_equal(rt_manifest_parse(&m, csv, strlen(csv), "m.csv"), RT_OK);
    assert_int_equal(m.n_targets, 0);
    assert_int_equal(m.n_rows, 2);
    assert_string_equal(m.rows[0].path, "a.wav");
    assert_int_equal(m.rows[0].label, 3);
    assert_int_equal(m.rows[0].line, 2);
    assert_string_equal(m.rows[1].path, "b,\"x\".wav");
    assert_int_equal(m.rows[1].line, 4);
    assert_null(m.rows[1].error);
    rt_manifest_free(&m);

    csv = "path,valence,arousal\nx.mp3,-0.5,0.25\ny.mp3,1e-1,7\n";
    assert_int_equal(rt_manifest_parse(&m, csv, strlen(csv), "va.csv"), RT_OK);
    assert_int_equal(m.n_targets, 2);
    assert_string_equal(m.target_names[1], "arousal");
    assert_true(m.rows[0].y[0] == -0.5f && m.rows[0].y[1] == 0.25f);
    assert_true(m.rows[1].y[0] == 0.1f && m.rows[1].y[1] == 7.f);
    rt_manifest_free(&m);
}

static void test_parse_bad_header(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",                        /* no header */
        "\n \n",                   /* blank only */
        "file,label\na,1\n",       /* first column not path */
        "path\na\n",               /* no target column */
        "path,label,extra\n",      /* label with others */
        "path,v,v\n",              /* duplicate */
        "path,,v\n",               /* empty name */
        "path,\"v\n",              /* unterminated quote */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rt_manifest m;
        assert_int_not_equal(rt_manifest_parse(&m, bad[i], strlen(bad[i]), "h.csv"), RT_OK);
        assert_non_null(strstr(rt_errmsg(), "h.csv"));
        printf("    header %zu: %s\n", i, rt_errmsg());
    }
    rt_manifest m;
    const char nul[] = "path,la\0bel\n";
    assert_int_not_equal(rt_manifest_parse(&m, nul, sizeof nul - 1, "h.csv"), RT_OK);
    assert_non_null(strstr(rt_errmsg(), "h.csv:1"));
}

static void test_parse_bad_rows(void **state)
{
    (void)state;
    const char *csv = "path,label\n"
                      "ok.wav,1\n"        /* 2 */
                      "x.wav,one\n"       /* 3 non-numeric */
                      "x.wav,1,2\n"       /* 4 column count */
                      ",1\n"              /* 5 empty path */
                      "x.wav,-1\n"        /* 6 negative */
                      "x.wav,1.5\n"       /* 7 not integral */
                      "\"x.wav,1\n"       /* 8 unterminated quote */
                      "x\"y.wav,1\n"      /* 9 quote inside */
                      "x.wav,99999999999\n"; /* 10 too large */
    rt_manifest m;
    assert_int_equal(rt_manifest_parse(&m, csv, strlen(csv), "r.csv"), RT_OK);
    assert_int_equal(m.n_rows, 9);
    assert_null(m.rows[0].error);
    for (int64_t i = 1; i < m.n_rows; i++) {
        assert_non_null(m.rows[i].error);
        assert_int_equal(m.rows[i].line, i + 2);
        printf("    line %lld: %s\n", (long long)m.rows[i].line, m.rows[i].error);
    }
    assert_non_null(strstr(m.rows[1].error, "'one'"));
    assert_non_null(strstr(m.rows[2].error, "3 fields"));
    rt_manifest_free(&m);
    csv = "path,v\na.wav,nan\nb.wav,1e999\nc.wav,0x\n";
    assert_int_equal(rt_manifest_parse(&m, csv, strlen(csv), "r.csv"), RT_OK);
    for (int64_t i = 0; i < m.n_rows; i++) assert_non_null(m.rows[i].error);
    assert_non_null(strstr(m.rows[0].error, "v 'nan' is not a finite number"));
    rt_manifest_free(&m);
}

static void test_opts(void **state)
{
    (void)state;
    rt_manifest_opts o;
    assert_int_equal(rt_manifest_opts_parse(&o, "crop=200&preset=speaker&n_mels=40&cache=none&on_bad_row=skip"
                                                "&time_masks=2&time_width=20&pad=-3.5", "s"), RT_OK);
    assert_int_equal(o.mel.sr, 16000);   /* the preset, though it came second */
    assert_int_equal(o.mel.n_mels, 40);  /* overrides the preset */
    assert_int_equal(o.crop, 200);
    assert_string_equal(o.cache, "");
    assert_true(o.skip_bad && !o.pad_min && o.pad == -3.5f);
    assert_int_equal(o.specaug.time_masks, 2);
    assert_int_equal(rt_manifest_opts_parse(&o, "preset=emotion", "s"), RT_OK);
    assert_true(o.mel.resize_h == 224 && o.mel.channels == 3 && !o.skip_bad && o.pad_min);
    static const char *bad[][2] = {
        {"crop=0", "crop=0"},           {"crop=1.5", "crop"},        {"n_mels=0", "n_mels=0"},
        {"preset=karaoke", "karaoke"},  {"frobnicate=1", "frobnicate"}, {"crop=3&crop=4", "twice"},
        {"crop", "KEY=VALUE"},          {"crop=", "KEY=VALUE"},      {"crop=3&", "empty option"},
        {"htk=yes", "htk=yes"},         {"resize=224", "HxW"},       {"preset=emotion&crop=100", "resize"},
        {"on_bad_row=ignore", "stop or skip"}, {"n_fft=511", "n_fft"}, {"time_masks=65", "time_masks"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_not_equal(rt_manifest_opts_parse(&o, bad[i][0], "spec.csv"), RT_OK);
        printf("    %s: %s\n", bad[i][0], rt_errmsg());
        assert_non_null(strstr(rt_errmsg(), "spec.csv"));
        assert_non_null(strstr(rt_errmsg(), bad[i][1]));
    }
}

/* ---- opening ---------------------------------------------------------------------------------- */

static void test_open_classes(void **state)
{
    (void)state;
    const char *m = speaker_manifest();
    rt_dataset ds;
    rt_manifest_stats st;
    open_ok(&ds, m, "preset=speaker&cache=none", &st);
    assert_int_equal(st.rows, 5);
    expect_stats(&st, 5, 0);
    assert_int_equal(ds.n, 5);
    assert_int_equal(ds.n_classes, 3);
    assert_int_equal(ds.x_ndim, 2);
    assert_int_equal(ds.x_shape[0], 80);
    assert_int_equal(ds.x_shape[1], 1 + 19200 / 160); /* the longest utterance (1.2 s) */
    assert_int_equal(ds.label[0], 0);
    assert_int_equal(ds.label[2], 1);
    assert_int_equal(ds.label[4], 2);
    assert_null(ds.full);
    assert_int_equal(ds.n_skipped, 0);
    /* a0 (0.5 s, 51 frames) is padded with its own minimum: equal to the single-file features there */
    struct rt_mel_config c;
    rt_mel_config_preset(&c, "speaker");
    struct rt_mel_out one;
    assert_int_equal(rt_mel_from_file(tu_tmp("a0.wav"), &c, &one), RT_OK);
    assert_int_equal(one.shape[1], 51);
    float lo = one.data[0];
    for (size_t i = 0; i < one.n; i++) lo = one.data[i] < lo ? one.data[i] : lo;
    int64_t T = ds.x_shape[1];
    for (int64_t r = 0; r < 80; r++)
        for (int64_t t = 0; t < T; t++)
            assert_true(ds.x[r * T + t] == (t < 51 ? one.data[r * 51 + t] : lo));
    rt_mel_out_free(&one);
    rt_dataset_free(&ds);
    /* the same through a dataset spec, with a constant pad */
    char spec[700];
    snprintf(spec, sizeof spec, "manifest:%s?preset=speaker&cache=none&pad=0", m);
    assert_int_equal(rt_dataset_open(&ds, spec), RT_OK);
    assert_int_equal(ds.n, 5);
    assert_true(ds.x[ds.x_shape[1] - 1] == 0.f);
    assert_string_equal(ds.source, spec);
    rt_dataset_free(&ds);
}

static void test_open_regression(void **state)
{
    (void)state;
    tone_wav("s1.wav", 22050, 1.0, 440, 11);
    tone_wav("s2.wav", 22050, 2.0, 660, 12);
    const char *m = tu_tmp("va.csv");
    char text[1024];
    snprintf(text, sizeof text, "path,valence,arousal\ns1.wav,0.25,-0.5\n%s,-1,1\n", tu_tmp("s2.wav"));
    write_text(m, text); /* the second path absolute */
    rt_dataset ds;
    open_ok(&ds, m, "preset=emotion&cache=none", NULL);
    assert_int_equal(ds.n, 2);
    assert_int_equal(ds.x_ndim, 3);
    assert_true(ds.x_shape[0] == 3 && ds.x_shape[1] == 224 && ds.x_shape[2] == 224);
    assert_int_equal(ds.n_classes, 0);
    assert_int_equal(ds.y_size, 2);
    assert_true(ds.y[0] == 0.25f && ds.y[1] == -0.5f && ds.y[2] == -1.f && ds.y[3] == 1.f);
    assert_memory_equal(ds.x, ds.x + 224 * 224, 224 * 224 * sizeof(float)); /* channel copies */
    assert_memory_equal(ds.x, ds.x + 2 * 224 * 224, 224 * 224 * sizeof(float));
    rt_dataset_free(&ds);
}

/* ---- the cache ------------------------------------------------------------------------------- */

static void test_cache(void **state)
{
    (void)state;
    const char *m = speaker_manifest();
    char q[800], cache[600];
    snprintf(cache, sizeof cache, "%s", tu_tmp("cache/deeper"));
    snprintf(q, sizeof q, "preset=speaker&cache=%s", cache);
    rt_dataset a, b;
    rt_manifest_stats st;
    open_ok(&a, m, q, &st);
    expect_stats(&st, 5, 0);
    assert_int_equal(count_files(cache, ".npy"), 5);
    open_ok(&b, m, q, &st);
    expect_stats(&st, 0, 5); /* no decode, no DSP */
    assert_int_equal(a.n * a.x_size, b.n * b.x_size);
    assert_memory_equal(a.x, b.x, (size_t)(a.n * a.x_size) * sizeof(float));
    rt_dataset_free(&b);

    /* the content changes: only that file is computed again */
    tone_wav("b1.wav", 16000, 0.7, 1500, 99);
    open_ok(&b, m, q, &st);
    expect_stats(&st, 1, 4);
    assert_int_equal(count_files(cache, ".npy"), 6);
    assert_memory_not_equal(a.x + 3 * a.x_size, b.x + 3 * b.x_size, (size_t)a.x_size * sizeof(float));
    rt_dataset_free(&b);

    /* a setting changes: every file is computed again */
    snprintf(q, sizeof q, "preset=speaker&n_mels=40&cache=%s", cache);
    open_ok(&b, m, q, &st);
    assert_int_equal(st.computed, 5);
    assert_int_equal(b.x_shape[0], 40);
    rt_dataset_free(&b);

    /* channels are not part of the key: copies are made after the cache */
    snprintf(q, sizeof q, "preset=speaker&channels=2&cache=%s", cache);
    open_ok(&b, m, q, &st);
    assert_int_equal(st.cache_hits, 5);
    assert_int_equal(b.x_ndim, 3);
    rt_dataset_free(&b);

    /* a corrupt entry is recomputed and replaced */
    struct rt_mel_config c;
    rt_mel_config_preset(&c, "speaker");
    uint8_t *bytes;
    size_t len;
    assert_int_equal(rt_read_file(tu_tmp("a0.wav"), 1 << 24, &bytes, &len), RT_OK);
    char key[65], entry[800];
    rt_featcache_key(bytes, len, &c, key);
    free(bytes);
    snprintf(entry, sizeof entry, "%s/%s.npy", cache, key);
    write_text(entry, "\x93NUMPY garbage");
    snprintf(q, sizeof q, "preset=speaker&cache=%s", cache);
    open_ok(&b, m, q, &st);
    expect_stats(&st, 1, 4);
    assert_memory_equal(a.x, b.x, (size_t)a.x_size * sizeof(float));
    rt_dataset_free(&b);
    open_ok(&b, m, q, &st);
    assert_int_equal(st.cache_hits, 5);
    rt_dataset_free(&b);
    rt_dataset_free(&a);

    /* a cache path that cannot be a directory */
    write_text(tu_tmp("plainfile"), "x");
    snprintf(q, sizeof q, "preset=speaker&cache=%s/sub", tu_tmp("plainfile"));
    open_fails(m, q, "plainfile", "feature cache", NULL);
}

static void test_cache_settings_text(void **state)
{
    (void)state;
    struct rt_mel_config a, b;
    rt_mel_config_preset(&a, "speaker");
    b = a;
    b.channels = 3; /* not part of the key */
    char ta[512], tb[512];
    rt_featcache_settings(&a, ta, sizeof ta);
    rt_featcache_settings(&b, tb, sizeof tb);
    assert_string_equal(ta, tb);
    b.top_db = 80;
    rt_featcache_settings(&b, tb, sizeof tb);
    assert_string_not_equal(ta, tb);
    char ka[65], kb[65];
    rt_featcache_key("abc", 3, &a, ka);
    rt_featcache_key("abd", 3, &a, kb);
    assert_string_not_equal(ka, kb);
}

/* ---- crops and SpecAugment ---------------------------------------------------------------------- */

/* The start of window w (rows, crop) inside utterance u (rows, len), or -1. */
static int64_t find_window(const float *w, const float *u, int64_t rows, int64_t len, int64_t crop)
{
    for (int64_t s = 0; s + crop <= len; s++) {
        bool same = true;
        for (int64_t r = 0; r < rows && same; r++)
            same = !memcmp(w + r * crop, u + r * len + s, (size_t)crop * sizeof(float));
        if (same) return s;
    }
    return -1;
}

/* Starts of every sample's window over one epoch of a loader (batch 2) into starts[n]. */
static void epoch_starts(const rt_dataset *ds, uint64_t seed, int epochs_before, int64_t *starts)
{
    rt_loader ld;
    rt_loader_opts lo = {.batch = 2, .shuffle = true, .seed = seed};
    assert_int_equal(rt_loader_init(&ld, ds, &lo), RT_OK);
    float *x = malloc((size_t)(2 * ds->x_size) * sizeof(float));
    float label[2];
    rt_batch b = {.x = x, .label = label, .cap = 2};
    for (int e = 0; e < epochs_before; e++)
        while (rt_loader_next(&ld, &b)) {}
    int64_t seen = 0, rows = ds->x_size / ds->crop;
    while (rt_loader_next(&ld, &b)) {
        for (int64_t r = 0; r < b.n; r++) {
            int64_t i = ld.order[(ld.next - 1) * 2 + r];
            starts[i] = find_window(x + r * ds->x_size, ds->full + ds->full_off[i], rows, ds->full_len[i], ds->crop);
            assert_true(starts[i] >= 0);
            seen++;
        }
    }
    assert_int_equal(seen, ds->n);
    free(x);
    rt_loader_free(&ld);
}

static void test_crops(void **state)
{
    (void)state;
    const char *m = speaker_manifest();
    rt_dataset ds;
    open_ok(&ds, m, "preset=speaker&cache=none&crop=60", NULL);
    assert_int_equal(ds.crop, 60);
    assert_true(ds.x_shape[0] == 80 && ds.x_shape[1] == 60);
    assert_non_null(ds.full);
    /* x holds the centre window; a0 (51 frames) is padded to 60 */
    assert_int_equal(ds.full_len[0], 60);
    assert_int_equal(ds.full_len[2], 121);
    assert_int_equal(find_window(ds.x + 2 * ds.x_size, ds.full + ds.full_off[2], 80, 121, 60), (121 - 60) / 2);
    int64_t e0[5], e0b[5], e1[5], other[5];
    epoch_starts(&ds, 7, 0, e0);
    epoch_starts(&ds, 7, 0, e0b);
    epoch_starts(&ds, 7, 1, e1);
    epoch_starts(&ds, 8, 0, other);
    assert_memory_equal(e0, e0b, sizeof e0); /* deterministic from (seed, epoch) */
    assert_int_equal(e0[0], 0);              /* a padded short utterance has one window */
    printf("    starts epoch 0: %lld %lld %lld %lld; epoch 1: %lld %lld %lld %lld\n", (long long)e0[1],
           (long long)e0[2], (long long)e0[3], (long long)e0[4], (long long)e1[1], (long long)e1[2],
           (long long)e1[3], (long long)e1[4]);
    assert_memory_not_equal(e0 + 1, e1 + 1, 4 * sizeof e0[0]);
    assert_memory_not_equal(e0 + 1, other + 1, 4 * sizeof e0[0]);
    /* a subset keeps each sample with its own utterance */
    rt_dataset_subset(&ds, 0.5, 3);
    for (int64_t i = 0; i < ds.n; i++)
        assert_true(find_window(ds.x + i * ds.x_size, ds.full + ds.full_off[i], 80, ds.full_len[i], 60) >= 0);
    rt_dataset_free(&ds);
}

static void test_specaug(void **state)
{
    (void)state;
    enum { P = 2, R = 20, C = 50 };
    float x[P * R * C], y[P * R * C];
    for (int i = 0; i < P * R * C; i++) x[i] = (float)(i % 7) + 1.f; /* mean 4 over 2000 values? computed below */
    double sum = 0;
    for (int i = 0; i < P * R * C; i++) sum += x[i];
    float mean = (float)(sum / (P * R * C));
    rt_specaug a = {.freq_masks = 2, .freq_width = 5, .time_masks = 3, .time_width = 8};
    assert_true(rt_specaug_active(&a));
    int masked_epochs = 0;
    for (uint64_t epoch = 0; epoch < 20; epoch++) {
        memcpy(y, x, sizeof x);
        rt_specaug_apply(&a, y, P, R, C, 42, epoch, 3, 1);
        /* a changed value is the mean; a changed row/column is changed entirely and in both planes */
        int rows_masked = 0, cols_masked = 0;
        for (int r = 0; r < R; r++) {
            bool all = true;
            for (int c = 0; c < C; c++) all = all && y[r * C + c] == mean && y[(R + r) * C + c] == mean;
            rows_masked += all;
        }
        for (int c = 0; c < C; c++) {
            bool all = true;
            for (int r = 0; r < R; r++) all = all && y[r * C + c] == mean && y[(R + r) * C + c] == mean;
            cols_masked += all;
        }
        for (int i = 0; i < P * R * C; i++) {
            if (y[i] == x[i]) continue;
            assert_true(y[i] == mean);
            int r = (i / C) % R, c = i % C;
            bool in_row = true, in_col = true;
            for (int k = 0; k < C; k++) in_row = in_row && y[(i / C) * C + k] == mean;
            for (int k = 0; k < R; k++) in_col = in_col && y[((i / (R * C)) * R + k) * C + c] == mean;
            assert_true(in_row || in_col);
            (void)r;
        }
        assert_true(rows_masked <= 2 * 5 && cols_masked <= 3 * 8);
        masked_epochs += rows_masked + cols_masked > 0;
        float z[P * R * C];
        memcpy(z, x, sizeof x);
        rt_specaug_apply(&a, z, P, R, C, 42, epoch, 3, 1);
        assert_memory_equal(y, z, sizeof y); /* a pure function of its arguments */
        memcpy(z, x, sizeof x);
        rt_specaug_apply(&a, z, P, R, C, 42, epoch, 3, 2); /* another sample */
        if (epoch == 0) assert_memory_not_equal(y, z, sizeof y);
    }
    assert_true(masked_epochs >= 15);
    /* the loader applies a manifest's masks to training batches only */
    const char *m = speaker_manifest();
    rt_dataset ds;
    open_ok(&ds, m, "preset=speaker&cache=none&crop=40&time_masks=2&time_width=10&freq_masks=1&freq_width=10",
            NULL);
    assert_int_equal(ds.specaug.time_masks, 2);
    rt_loader ld;
    rt_loader_opts lo = {.batch = 5, .seed = 1, .aug = {.seed = 9}};
    assert_int_equal(rt_loader_init(&ld, &ds, &lo), RT_OK);
    float *bx = malloc((size_t)(5 * ds.x_size) * sizeof(float));
    rt_batch b = {.x = bx, .cap = 5};
    assert_true(rt_loader_next(&ld, &b));
    int changed = 0;
    for (int64_t i = 0; i < 5 * ds.x_size; i++) changed += bx[i] != ds.x[i];
    assert_true(changed > 0); /* crops and masks differ from the centre windows */
    free(bx);
    rt_loader_free(&ld);
    rt_dataset_free(&ds);
}

/* ---- bad rows ---------------------------------------------------------------------------------- */

static const char *bad_manifest(void)
{
    tone_wav("g0.wav", 16000, 0.6, 500, 21);
    tone_wav("g1.wav", 16000, 0.6, 900, 22);
    write_text(tu_tmp("garbage.wav"), "RIFF this is not audio at all");
    const char *m = tu_tmp("bad.csv");
    write_text(m, "path,label\n"
                  "g0.wav,0\n"          /* 2 */
                  "missing.wav,1\n"     /* 3 missing file */
                  "g1.wav,1\n"          /* 4 */
                  "g1.wav,one\n"        /* 5 non-numeric label */
                  "g0.wav,0,0\n"        /* 6 wrong column count */
                  "garbage.wav,1\n");   /* 7 bad audio */
    return m;
}

static void test_bad_rows_stop(void **state)
{
    (void)state;
    const char *m = bad_manifest();
    char where[700];
    snprintf(where, sizeof where, "%s:3: ", m);
    open_fails(m, "preset=speaker&cache=none", where, "missing.wav", NULL);
    /* with the missing row gone, the first bad row is line 4 (was 5) */
    char q[600];
    snprintf(q, sizeof q, "%s", tu_tmp("bad2.csv"));
    write_text(q, "path,label\ng0.wav,0\n\ng1.wav,one\ngarbage.wav,1\n");
    snprintf(where, sizeof where, "%s:4: label 'one'", q);
    open_fails(q, "preset=speaker&cache=none", where, NULL);
    /* bad audio first */
    write_text(q, "path,label\ngarbage.wav,1\ng1.wav,one\n");
    snprintf(where, sizeof where, "%s:2: ", q);
    open_fails(q, "preset=speaker&cache=none", where, "garbage.wav", NULL);
    /* every row bad under skip: no usable rows */
    write_text(q, "path,label\nmissing.wav,1\n");
    open_fails(q, "preset=speaker&cache=none&on_bad_row=skip", "no usable rows", "1 bad", NULL);
    /* a missing manifest names itself */
    open_fails(tu_tmp("nope.csv"), "", "nope.csv", NULL);
}

static void test_bad_rows_skip(void **state)
{
    (void)state;
    const char *m = bad_manifest();
    rt_dataset ds;
    rt_manifest_stats st;
    open_ok(&ds, m, "preset=speaker&cache=none&on_bad_row=skip", &st);
    assert_int_equal(ds.n, 2);
    assert_int_equal(ds.n_skipped, 4);
    assert_int_equal(st.skipped, 4);
    assert_int_equal(st.rows, 6);
    assert_int_equal(st.computed, 2); /* g0 and g1 once each, though named twice */
    assert_non_null(ds.skipped);
    printf("%s", ds.skipped);
    static const char *lines[] = {":3: ", ":5: label 'one'", ":6: 3 fields", ":7: "};
    for (size_t i = 0; i < 4; i++) {
        char want[700];
        snprintf(want, sizeof want, "%s%s", m, lines[i]);
        assert_non_null(strstr(ds.skipped, want));
    }
    assert_non_null(strstr(ds.skipped, "missing.wav"));
    assert_non_null(strstr(ds.skipped, "garbage.wav"));
    assert_int_equal(ds.label[0], 0);
    assert_int_equal(ds.label[1], 1);
    rt_dataset_free(&ds);
    char spec[700];
    snprintf(spec, sizeof spec, "manifest:%s?preset=speaker&cache=none&on_bad_row=skip", m);
    assert_int_equal(rt_dataset_open(&ds, spec), RT_OK);
    assert_int_equal(ds.n_skipped, 4);
    rt_dataset_free(&ds);
    snprintf(spec, sizeof spec, "manifest:%s?preset=speaker&cache=none", m);
    assert_int_not_equal(rt_dataset_open(&ds, spec), RT_OK);
    assert_non_null(strstr(rt_errmsg(), ":3: "));
}

/* ---- real recordings --------------------------------------------------------------------------- */

static void test_shared_fsdd(void **state)
{
    (void)state;
    struct stat sb;
    if (stat(SHARED "fsdd/recordings", &sb) != 0) {
        printf("    SKIP: %sfsdd/recordings absent (real recordings are not part of the repo)\n", SHARED);
        skip();
    }
    /* 2 speakers x 10 digits x takes 0..1, absolute paths, spoken-digit labels */
    char cwd[512], *text = malloc(1 << 16);
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_non_null(text);
    int n = snprintf(text, 1 << 16, "path,label\n");
    static const char *speakers[] = {"jackson", "george"};
    for (int s = 0; s < 2; s++)
        for (int d = 0; d < 10; d++)
            for (int t = 0; t < 2; t++)
                n += snprintf(text + n, (size_t)((1 << 16) - n), "%s/" SHARED "fsdd/recordings/%d_%s_%d.wav,%d\n",
                              cwd, d, speakers[s], t, d);
    const char *m = tu_tmp("fsdd.csv");
    write_text(m, text);
    free(text);
    char q[700];
    snprintf(q, sizeof q, "preset=speaker&crop=40&cache=%s", tu_tmp("fsdd-cache"));
    rt_dataset ds;
    rt_manifest_stats st;
    open_ok(&ds, m, q, &st);
    assert_int_equal(ds.n, 40);
    assert_int_equal(ds.n_classes, 10);
    assert_true(ds.x_shape[0] == 80 && ds.x_shape[1] == 40);
    assert_int_equal(st.computed, 40);
    rt_dataset_free(&ds);
    open_ok(&ds, m, q, &st);
    expect_stats(&st, 0, 40);
    rt_dataset_free(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blake2b),         cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_parse_bad_header), cmocka_unit_test(test_parse_bad_rows),
        cmocka_unit_test(test_opts),            cmocka_unit_test(test_open_classes),
        cmocka_unit_test(test_open_regression), cmocka_unit_test(test_cache),
        cmocka_unit_test(test_cache_settings_text), cmocka_unit_test(test_crops),
        cmocka_unit_test(test_specaug),         cmocka_unit_test(test_bad_rows_stop),
        cmocka_unit_test(test_bad_rows_skip),   cmocka_unit_test(test_shared_fsdd),
    };
    return cmocka_run_group_tests_name("manifest", tests, tu_tmpdir_setup, tu_tmpdir_teardown);
}
