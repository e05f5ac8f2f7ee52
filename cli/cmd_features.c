/*
 * cmd_features.c - `retort features IN -o OUT.npy`: audio file -> log-mel .npy.
 *
 * Argument parsing only; the front end is src/data/mel.c. A --preset is
 * applied first wherever it appears, then the other options override it.
 * Exit codes: 0 done, 1 the file could not be read or written, 2 usage.
 * The output is written atomically: on any failure no file is left behind.
 */
#include "cli.h"

#include "core/error.h"
#include "data/mel.h"
#include "io/npy.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fputs("usage: retort features IN -o OUT.npy [options]\n\n"
          "Audio (WAV, FLAC, OGG, MP3, ...) -> log-mel spectrogram as a float32 .npy,\n"
          "the same as librosa.feature.melspectrogram + librosa.power_to_db.\n\n"
          "  -o, --output PATH  output .npy (written atomically)\n"
          "  --preset NAME      emotion: 22050 Hz, 128 mels, resized to 224x224, 3 channels\n"
          "                     speaker: 16 kHz, 80 mels, 25 ms window, 10 ms hop, dB re 1.0,\n"
          "                              per-mel-bin mean removed\n"
          "  --sr HZ            resample to this rate (default 22050)\n"
          "  --n-fft N          FFT size, even (default 2048)\n"
          "  --hop N            hop length in samples (default 512)\n"
          "  --win N            window length <= n_fft (default n_fft)\n"
          "  --n-mels N         mel bins (default 128)\n"
          "  --fmin HZ          lowest filter edge (default 0)\n"
          "  --fmax HZ          highest filter edge (default sr/2)\n"
          "  --htk              HTK mel scale (default Slaney)\n"
          "  --mel-norm KIND    slaney (area normalised, default) or none\n"
          "  --power P          2: power (default), 1: magnitude\n"
          "  --top-db X|none    clip at max - X dB (default 80)\n"
          "  --ref max|1        dB reference: spectrogram max (default) or 1.0\n"
          "  --cmn              subtract each mel bin's mean over time\n"
          "  --resize HxW|none  bilinear resize (PyTorch, align_corners=False)\n"
          "  --channels N       N copies on a new leading axis (0: no channel axis)\n"
          "  --json             print the shape and settings as JSON\n"
          "  -h, --help         this text\n", f);
}

static bool parse_double(const char *opt, const char *s, double lo, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = s ? strtod(s, &end) : 0.0;
    if (!s || errno || end == s || *end || !isfinite(v) || v < lo) {
        cli_fail(2, "features: %s: expected a number >= %g, got '%s'", opt, lo, s ? s : "");
        return false;
    }
    *out = v;
    return true;
}

static bool parse_resize(const char *s, struct rt_mel_config *c)
{
    long h = 0, w = 0;
    char extra;
    if (!s || sscanf(s, "%ldx%ld%c", &h, &w, &extra) != 2 || h < 1 || w < 1 || h > 16384 || w > 16384) {
        cli_fail(2, "features: --resize: expected HxW (e.g. 224x224), got '%s'", s ? s : "");
        return false;
    }
    c->resize_h = (int)h;
    c->resize_w = (int)w;
    return true;
}

/* Integer options: name, field, range. */
struct int_opt {
    const char *name;
    size_t offset;
    long lo, hi;
};

static const struct int_opt int_opts[] = {
    {"--sr", offsetof(struct rt_mel_config, sr), 1, 1000000},
    {"--n-fft", offsetof(struct rt_mel_config, n_fft), 2, 1 << 20},
    {"--hop", offsetof(struct rt_mel_config, hop), 1, 1 << 24},
    {"--win", offsetof(struct rt_mel_config, win), 1, 1 << 20},
    {"--n-mels", offsetof(struct rt_mel_config, n_mels), 1, 4096},
    {"--channels", offsetof(struct rt_mel_config, channels), 0, 64},
    {"--power", offsetof(struct rt_mel_config, power), 1, 2},
};

/* Options with a word for a value: returns 0 ok, 2 usage error (printed). */
static int parse_word_option(const char *o, const char *v, struct rt_mel_config *c)
{
    const char *want = NULL;
    if (!strcmp(o, "--ref")) {
        want = "max or 1";
        if (v && (!strcmp(v, "max") || !strcmp(v, "1"))) {
            c->ref_max = !strcmp(v, "max");
            return 0;
        }
    } else if (!strcmp(o, "--mel-norm")) {
        want = "slaney or none";
        if (v && (!strcmp(v, "slaney") || !strcmp(v, "none"))) {
            c->slaney_norm = !strcmp(v, "slaney");
            return 0;
        }
    } else if (!strcmp(o, "--top-db")) {
        if (v && !strcmp(v, "none")) {
            c->top_db = -1.0;
            return 0;
        }
        return parse_double(o, v, 0.0, &c->top_db) ? 0 : 2;
    } else if (!strcmp(o, "--resize")) {
        if (v && !strcmp(v, "none")) {
            c->resize_h = c->resize_w = 0;
            return 0;
        }
        return parse_resize(v, c) ? 0 : 2;
    } else if (!strcmp(o, "--fmin")) {
        return parse_double(o, v, 0.0, &c->fmin) ? 0 : 2;
    } else if (!strcmp(o, "--fmax")) {
        return parse_double(o, v, 1e-9, &c->fmax) ? 0 : 2;
    } else if (!strcmp(o, "--preset")) {
        return 0;   /* applied in the first pass */
    } else {
        return cli_fail(2, "features: unknown option '%s' (see retort features --help)", o);
    }
    return cli_fail(2, "features: %s: expected %s, got '%s'", o, want, v ? v : "");
}

/* Parse the option at argv[*i] (and its value) into c; returns 0 ok, 2 usage error. */
static int parse_option(int argc, char **argv, int *i, struct rt_mel_config *c, bool *json)
{
    const char *o = argv[*i];
    const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (!strcmp(o, "--json")) {
        *json = true;
        return 0;
    }
    if (!strcmp(o, "--htk") || !strcmp(o, "--cmn")) {
        *(o[2] == 'h' ? &c->htk : &c->cmn) = true;
        return 0;
    }
    for (size_t k = 0; k < sizeof int_opts / sizeof int_opts[0]; k++) {
        if (strcmp(o, int_opts[k].name)) continue;
        long n;
        if (!cli_parse_int(o, v, int_opts[k].lo, int_opts[k].hi, &n)) return 2;
        *(int *)((char *)c + int_opts[k].offset) = (int)n;
        ++*i;
        return 0;
    }
    int rc = parse_word_option(o, v, c);
    if (rc == 0) ++*i;
    return rc;
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

static void print_result(const char *in, const char *out, const struct rt_mel_config *c,
                         const struct rt_mel_out *m, bool json)
{
    if (!json) {
        printf("%s -> %s: (", in, out);
        for (int i = 0; i < m->ndim; i++) printf("%s%lld", i ? ", " : "", (long long)m->shape[i]);
        printf(") float32, %lld frames at %d Hz, %d mels\n", (long long)m->frames, c->sr, c->n_mels);
        return;
    }
    printf("{\"input\": ");
    json_string(stdout, in);
    printf(", \"output\": ");
    json_string(stdout, out);
    printf(", \"shape\": [");
    for (int i = 0; i < m->ndim; i++) printf("%s%lld", i ? ", " : "", (long long)m->shape[i]);
    printf("], \"dtype\": \"float32\", \"frames\": %lld, \"samples\": %zu, \"settings\": {"
           "\"sr\": %d, \"n_fft\": %d, \"hop\": %d, \"win\": %d, \"n_mels\": %d, \"fmin\": %g, "
           "\"fmax\": %g, \"htk\": %s, \"mel_norm\": \"%s\", \"power\": %d, \"ref\": \"%s\", "
           "\"amin\": %g, \"top_db\": ",
           (long long)m->frames, m->n_samples, c->sr, c->n_fft, c->hop, c->win ? c->win : c->n_fft,
           c->n_mels, c->fmin, c->fmax > 0 ? c->fmax : c->sr / 2.0, c->htk ? "true" : "false",
           c->slaney_norm ? "slaney" : "none", c->power, c->ref_max ? "max" : "1", c->amin);
    if (c->top_db >= 0) printf("%g", c->top_db);
    else printf("null");
    printf(", \"cmn\": %s, \"resize\": ", c->cmn ? "true" : "false");
    if (c->resize_h) printf("[%d, %d]", c->resize_h, c->resize_w);
    else printf("null");
    printf(", \"channels\": %d}}\n", c->channels);
}

int cmd_features(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    struct rt_mel_config c;
    rt_mel_config_default(&c);
    for (int i = 1; i < argc; i++)   /* first pass: the preset */
        if (!strcmp(argv[i], "--preset")) {
            if (i + 1 >= argc) return cli_fail(2, "features: --preset needs a name (emotion, speaker)");
            if (rt_mel_config_preset(&c, argv[i + 1]) != RT_OK)
                return cli_fail(2, "features: %s", rt_errmsg());
            i++;
        }
    const char *in = NULL, *out = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) {
            if (i + 1 >= argc) return cli_fail(2, "features: %s needs a path", argv[i]);
            out = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            if (parse_option(argc, argv, &i, &c, &json) != 0) return 2;
        } else if (!in) {
            in = argv[i];
        } else {
            return cli_fail(2, "features: more than one input ('%s' and '%s')", in, argv[i]);
        }
    }
    if (!in) return cli_fail(2, "features: no input file (usage: retort features IN -o OUT.npy)");
    if (!out) return cli_fail(2, "features: %s: no output given (-o OUT.npy)", in);
    if (rt_mel_config_check(&c) != RT_OK) return cli_fail(2, "features: %s", rt_errmsg());

    struct rt_mel_out m;
    if (rt_mel_from_file(in, &c, &m) != RT_OK) return cli_fail(1, "%s", rt_errmsg());
    rt_status s = rt_npy_write_f32(out, m.data, m.ndim, m.shape);
    if (s == RT_OK) print_result(in, out, &c, &m, json);
    rt_mel_out_free(&m);
    return s == RT_OK ? 0 : cli_fail(1, "%s", rt_errmsg());
}
