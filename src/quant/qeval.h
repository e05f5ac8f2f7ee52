/*
 * qeval.h - how closely a quantized model follows its FP32 original on the
 * same inputs (`retort quantize --eval`).
 *
 *     rt_qcompare c;
 *     if (rt_quant_compare(fp32, q, &ds, 256, &c) != RT_OK) puts(rt_errmsg());
 *     printf("MSE %g  KL %g  top-1 agreement %.2f%%\n", c.mse, c.kl, 100 * c.top1_agree);
 *
 * Both models run in eval mode over every sample of ds (as the dataset holds
 * them, like rt_eval_model). mse is the mean of (q - ref)^2 over all output
 * values; for classifiers kl is the mean over samples of
 * KL(softmax(ref) || softmax(q)) in nats (the FP32 model as the reference
 * distribution, log-softmax computed stably in double) and top1_agree the
 * share of samples whose arg max is the same (first maximum on ties); for
 * other tasks kl and top1_agree are NaN.
 */
#ifndef RT_QEVAL_H
#define RT_QEVAL_H

#include "data/dataset.h"
#include "models/model.h"

typedef struct rt_qcompare {
    int64_t n, n_out;
    double mse, kl, top1_agree;
} rt_qcompare;

rt_status rt_quant_compare(rt_model *ref, rt_model *q, const rt_dataset *ds, int64_t batch, rt_qcompare *out);
/* KL(softmax(p) || softmax(q)) of two logit vectors of length n, in nats. */
double rt_kl_logits(const float *p, const float *q, int64_t n);

#endif
