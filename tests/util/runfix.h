/*
 * runfix.h - a small tree of run directories for the report and verify
 * tests (tests/test_report.c, tests/test_verify.c): real model files (two
 * MLPs and an INT8 file, written by the library) next to hand-written
 * JSON/JSONL files with known numbers, laid out as retort writes them:
 *
 *   ROOT/teacher/  recipe.json log.jsonl eval.json best.safetensors model.safetensors (identical)
 *   ROOT/distill/  recipe.json log.jsonl distill.json eval.json model.safetensors
 *                  quantize-int8.json student-q8.safetensors bench.json
 *   ROOT/distill/baseline/  recipe.json log.jsonl model.safetensors
 *   ROOT/sweep/sweep.json   ROOT/notes.json (not a retort output)
 *
 * Numbers (accuracy on "fmnist:test"): teacher 0.90 (4,006 params), student
 * 0.88 and scratch 0.86 (556 params each: 7.205x fewer), INT8 0.87; the
 * monitor's "feature" term carries 0.008% of the loss and of the gradient,
 * "response" 39.992% / 29.992%, "task" 60% / 70%; one warning whose text
 * holds <, >, & and | (escaping). The sweep adds a point tied with the
 * student (same bytes, same accuracy) and a dominated one.
 */
#ifndef RT_RUNFIX_H
#define RT_RUNFIX_H

#include <stdint.h>

typedef struct tu_runs {
    char root[512];
    int64_t t_params, s_params;          /* teacher, student (and scratch) */
    int64_t t_bytes, s_bytes, q_bytes;   /* stored tensor bytes (the files' data areas) */
} tu_runs;

extern const char tu_runs_warning[];     /* the warning's text, verbatim */

void tu_runs_make(tu_runs *r, const char *root);
/* Write text to path (fails the test on error); parents must exist. */
void tu_write(const char *path, const char *text);
/* mkdir -p */
void tu_mkdirs(const char *path);
/* A whole file as a NUL-terminated string (malloc'ed); NULL when it does not exist. */
char *tu_read_text(const char *path);
/* True when path exists. */
int tu_exists(const char *path);

#endif
