/*
 * testutil.h - shared helpers for retort's cmocka tests.
 *
 * Fixtures: safetensors files written by tests/fixtures/make_fixtures.py.
 * A case named C stores its leaves as "C.<leaf>" (inputs by name, parameters
 * by parameter name), the output as "C.out", the upstream gradient as
 * "C.gout" and PyTorch's gradients as "C.grad.<leaf>".
 *
 * Error measure: rel = max|got - want| / max(max|want|, 1e-6), i.e. the
 * largest error relative to the tensor's own scale (inf-norm). Every compare
 * prints the max abs and rel error and fails the test on a mismatch.
 *
 *     tu_fixture fx; tu_fixture_open(&fx, "tests/fixtures/ops_basic.safetensors");
 *     rt_graph *g = ...build..., rt_node *y = ...;
 *     tu_parity(g, y, &fx, "linear_bias", 1e-5, 1e-4);
 *     tu_gradcheck(g, y, &(tu_gc_opts){0});   // defaults
 */
#ifndef RT_TESTUTIL_H
#define RT_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/graph.h"
#include "core/ops.h"
#include "io/safetensors.h"

#include <cJSON.h>

typedef struct tu_fixture {
    rt_safetensors st;
    char path[256];
} tu_fixture;

/* Open a fixture file (fails the test if missing). */
void tu_fixture_open(tu_fixture *fx, const char *path);
void tu_fixture_close(tu_fixture *fx);
/* The F32 data of "name" (fails the test if missing, unless optional, then NULL).
 * *numel gets its element count if not NULL. */
const float *tu_fixture_get(const tu_fixture *fx, const char *name, int64_t *numel, bool optional);
/* Shape of "name" into shape[], returns ndim. */
int tu_fixture_shape(const tu_fixture *fx, const char *name, int64_t *shape);

/* Compare; prints "what: max abs E, rel R (tol T)"; returns rel error. Fails the test if rel > tol. */
double tu_compare(const char *what, const float *got, const float *want, int64_t n, double tol);

/* Load every leaf of g (inputs, parameters, buffers) from "<case>.<leaf>",
 * run forward, compare out with "<case>.out"; then, if the fixture has
 * "<case>.gout" and the graph is a training plan, backward with it and compare
 * every leaf gradient with "<case>.grad.<leaf>". Leaves missing from the
 * fixture keep their values. */
void tu_parity(rt_graph *g, rt_node *out, const tu_fixture *fx, const char *case_name, double tol_out,
               double tol_grad);

typedef struct tu_gc_opts {
    double eps;       /* perturbation (default 1e-3) */
    double atol;      /* |num - ana| <= atol + rtol * max(|num|, |ana|); default 1e-3 */
    double rtol;      /* default 1e-2 */
    int max_per_leaf; /* elements checked per leaf, evenly spaced (default 64) */
} tu_gc_opts;

/* Finite-difference check of d/d leaf of L = sum(out * r), r fixed random,
 * for every leaf that requires grad. Central differences, L in double.
 * Fails the test on a mismatch, printing leaf, element and both values. */
void tu_gradcheck(rt_graph *g, rt_node *out, const tu_gc_opts *opts);

/* The usual op test: y must have been built (else fail with the build error),
 * plan for training, tu_parity at 1e-5 (outputs) / 1e-4 (gradients), then
 * tu_gradcheck with gc (NULL: defaults; &tu_no_gradcheck: skip), free g. */
extern const tu_gc_opts tu_no_gradcheck;
void tu_check_op(rt_graph *g, rt_node *y, const tu_fixture *fx, const char *name, const tu_gc_opts *gc);

/* Fill a leaf with uniform values in [lo, hi) from a seed. */
void tu_fill_uniform(rt_node *n, uint64_t seed, float lo, float hi);

/* Make a graph over a fresh parameter store (freed by tu_graph_free). */
rt_graph *tu_graph_new(void);
void tu_graph_free(rt_graph *g);
/* Plan (train unless infer) and assert success. */
void tu_plan(rt_graph *g, enum rt_plan plan);



/* An input leaf (requiring grad) shaped like fixture tensor "<case>.<name>". */
rt_node *tu_input(rt_graph *g, const tu_fixture *fx, const char *case_name, const char *name);
/* A parameter leaf shaped like fixture tensor "<case>.<name>". */
rt_node *tu_param(rt_graph *g, const tu_fixture *fx, const char *case_name, const char *name);
/* A builder call that must fail: y is NULL, the graph holds a shape error
 * whose message contains op and frag (either may be NULL), planning refuses
 * the graph; frees g. */
void tu_expect_build_error(rt_graph *g, rt_node *y, const char *op, const char *frag);

/* Fail unless files a and b hold the same bytes (determinism tests). */
void tu_same_file(const char *a, const char *b);

/* ---- a temporary directory per test program ---- */
/* cmocka group setup/teardown: make $TMPDIR/retort-<tag>-XXXXXX (tag from the
 * program name), remove it with everything in it afterwards. */
int tu_tmpdir_setup(void **state);
int tu_tmpdir_teardown(void **state);
/* The directory itself, and "<tmpdir>/<name>" (8 rotating buffers: up to 8 live at once). */
const char *tu_tmpdir(void);
const char *tu_tmp(const char *name);

/* ---- the CLI ($RETORT_BIN, set by `make test`) ---- */
/* Skip the calling test (with a message) when RETORT_BIN is not set. */
void tu_need_cli(void);
/* Run `$RETORT_BIN args` with stdout and stderr captured; returns the exit
 * status. *stderr_lines gets stderr's line count, first_line its first line. */
int tu_run_cli(const char *args, int *stderr_lines, char *first_line, size_t cap);
/* Run `$RETORT_BIN args`, which must succeed, and parse its stdout as JSON
 * (the caller cJSON_Delete()s it). */
cJSON *tu_run_cli_json(const char *args);
/* The stdout of the last tu_run_cli (malloc'ed; the caller frees it). */
char *tu_cli_stdout(void);
/* Expect exit status `code` with exactly one stderr line "retort: ..." that
 * contains needle (if not NULL), and, if out is not NULL, neither out nor
 * out.tmp left behind. */
void tu_expect_cli_failure(const char *args, int code, const char *out, const char *needle);
#endif
