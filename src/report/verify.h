/*
 * verify.h - `retort verify`: check the statements a person wants to publish
 * ("the student has 27.8K parameters", "10-15x compression", "distillation
 * carried at least 5% of the gradient") against the numbers retort measured
 * under run directories (runs.h). Each claim gets TRUE, FALSE or
 * UNSUPPORTED (no measurement found), with the measured value and its file.
 * The claims format and the verdict rules are in docs/report.md.
 *
 *     rt_claims cl;
 *     if (rt_claims_read(&cl, "claims.json") != RT_OK) ... rt_errmsg();  // "claims.json: claim 2: "stated": ..."
 *     rt_rep_index ix;  rt_rep_index_build(&ix, dirs, n_dirs);
 *     rt_claim_result r;
 *     rt_verify_claim(&ix, &cl.c[0], &r);       // r.verdict, r.measured, r.source
 *
 * Stated values (strings; a JSON number is read as its shortest decimal
 * form): a value "27802", "27.8K", "90.4%", "7.27x"; a range "10-15x",
 * "10x to 15x", "5%..10%", or a JSON array [lo, hi]; a comparison ">= 5%",
 * "> 0.9", "<= 2", "< 1e-3" (also ≥ ≤). "%" divides by 100, "x" is a
 * ratio, K/M/G multiply by 10^3/10^6/10^9.
 * Judging, with inclusive bounds (a value within 1e-9 relative of a bound
 * counts as on it, so that decimal numbers read in binary do not flip a
 * verdict):
 *   value       without "tolerance": within half a unit of its last stated
 *               digit ("27.8K": 27,750 to 27,850; "90.4%": 90.35% to
 *               90.45%; "7x": 6.5x to 7.5x), i.e. the measured value rounds
 *               to what is stated; with one: stated +- tolerance
 *   range       lo <= measured <= hi, widened by the tolerance if given
 *   comparison  as written (> and < strict), relaxed by the tolerance
 * "tolerance": a number is absolute in the stated value's unit (0.1 with
 * "90.4%" is 0.1 points, with "7.2x" 0.1x, with "27.8K" 100); "N%" is
 * relative to the stated value (to each bound of a range).
 */
#ifndef RT_REPORT_VERIFY_H
#define RT_REPORT_VERIFY_H

#include "report/runs.h"

#include <stdio.h>

#define RT_CLAIMS_MAX 10000

enum rt_verdict { RT_VERDICT_TRUE = 0, RT_VERDICT_FALSE, RT_VERDICT_UNSUPPORTED };

enum rt_quantity {
    RT_Q_PARAMS = 0,            /* model: exact parameter count */
    RT_Q_BYTES,                 /* model: stored tensor bytes; "at": fp32|fp16|int8|int4 by plan.h */
    RT_Q_FILE_BYTES,            /* model: the file's size */
    RT_Q_COMPRESSION,           /* teacher, student: ratio of stored bytes ("basis": "params": of parameters) */
    RT_Q_METRIC,                /* model or run: the task metric ("metric", "data" pick one) */
    RT_Q_RETENTION,             /* run: distill.json "retention" */
    RT_Q_GAIN,                  /* run: distill.json "gain" */
    RT_Q_GRAD_SHARE,            /* run, term: monitor's share of the gradient ("over": mean|min|max|first|last) */
    RT_Q_LOSS_SHARE,            /* run, term: monitor's share of the loss */
    RT_Q_SPEEDUP,               /* model: retort bench's speedup (first model's p50 / this p50) */
    RT_Q_JSON,                  /* file, key: any number in a JSON file */
    RT_Q_COUNT
};

enum rt_unit { RT_UNIT_PLAIN = 0, RT_UNIT_PERCENT, RT_UNIT_TIMES, RT_UNIT_SI };
enum rt_stated_form { RT_STATED_VALUE = 0, RT_STATED_RANGE, RT_STATED_CMP };
enum rt_over { RT_OVER_MEAN = 0, RT_OVER_MIN, RT_OVER_MAX, RT_OVER_FIRST, RT_OVER_LAST };

typedef struct rt_stated {
    enum rt_stated_form form;
    double v;                   /* value, or a comparison's bound (units applied: "5%" -> 0.05) */
    double lo, hi;              /* range */
    char op[3];                 /* comparison: ">=", ">", "<=", "<" */
    enum rt_unit unit;          /* as written; measured values are shown the same way */
    double scale;               /* the unit's factor (0.01, 1, 1e3, ...) */
    double half_unit;           /* value: half a unit of its last digit (units applied) */
    char text[80];              /* as written */
} rt_stated;

typedef struct rt_claim {
    char *text;                 /* "text", or made from the fields */
    enum rt_quantity q;
    char *model, *teacher, *student, *run, *term, *metric, *data, *file;
    cJSON *key;                 /* json: "a.b.0.c" or ["a", "b", 0, "c"] (a copy) */
    int at;                     /* bytes: -1 stored, else RT_PREC_* */
    bool by_params;             /* compression: "basis": "params" */
    enum rt_over over;
    rt_stated stated;
    bool has_tol, tol_rel;
    double tol;                 /* absolute (units applied) or relative fraction */
} rt_claim;

typedef struct rt_claims {
    rt_claim *c;
    int n;
} rt_claims;

typedef struct rt_claim_result {
    enum rt_verdict verdict;
    double measured;            /* NaN when unsupported */
    double lo, hi;              /* accepted interval (units applied; +-inf for comparisons) */
    bool lo_strict, hi_strict;
    char source[600];           /* the file(s) the measurement comes from */
    char detail[600];           /* what was measured, or why there is no measurement */
} rt_claim_result;

/* Parse a claims file; errors name the file, the claim (1-based) and the field. */
rt_status rt_claims_parse(rt_claims *cl, const char *json, size_t len, const char *label);
rt_status rt_claims_read(rt_claims *cl, const char *path);
void rt_claims_free(rt_claims *cl);

/* One stated value (see above); an error says what is accepted. */
rt_status rt_stated_parse(rt_stated *s, const char *text);
/* The accepted interval of a claim and the verdict for a measured value. */
enum rt_verdict rt_verify_judge(const rt_claim *c, double measured, rt_claim_result *r);
/* Measure and judge one claim. */
void rt_verify_claim(const rt_rep_index *ix, const rt_claim *c, rt_claim_result *r);

const char *rt_verdict_name(enum rt_verdict v);
const char *rt_quantity_name(enum rt_quantity q);
/* A value as the claim states it: "27,802", "90.44%", "7.272x". */
const char *rt_verify_fmt(char *buf, size_t n, const rt_claim *c, double v);

void rt_verify_print(FILE *f, const rt_claims *cl, const rt_claim_result *r);
cJSON *rt_verify_json(const rt_claims *cl, const rt_claim_result *r);

#endif
