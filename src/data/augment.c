/*
 * augment.c - mixup and Gaussian noise on a filled batch; Gamma and Beta
 * draws from the counter RNG (see augment.h).
 *
 * Counters: the Philox counter's top 8 bits tag the use (noise, gamma), so
 * these draws never meet the loader's shuffle or a dropout mask drawn under
 * the same seed. A Gamma draw i uses counters (i << 10) | attempt, so i must
 * stay below 2^46 (asserted).
 */
#include "data/augment.h"

#include "core/error.h"
#include "core/rng.h"

#include <math.h>
#include <string.h>

#define TAG_NOISE ((uint64_t)0x4E << 56)
#define TAG_GAMMA ((uint64_t)0x6A << 56)
#define GAMMA_ATTEMPTS 1023 /* counter 1023 of a draw is the shape < 1 boost */

static double unit_open(uint32_t r) { return ((double)r + 0.5) * (1.0 / 4294967296.0); } /* (0, 1) */

/* log of a Gamma(shape, 1) draw: Marsaglia-Tsang, boosted for shape < 1. */
static double log_gamma_draw(double shape, uint64_t seed, uint32_t stream, uint32_t step, uint64_t i)
{
    RT_ASSERT(shape > 0 && i < ((uint64_t)1 << 46));
    double a = shape < 1 ? shape + 1 : shape, d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    uint64_t base = TAG_GAMMA | (i << 10);
    double out = log(d); /* fallback after GAMMA_ATTEMPTS rejections (probability < 1e-1000) */
    for (uint64_t k = 0; k < GAMMA_ATTEMPTS; k++) {
        uint32_t r[4];
        rt_philox4x32(seed, base | k, stream, step, r);
        double z = sqrt(-2.0 * log(unit_open(r[0]))) * cos(6.283185307179586 * unit_open(r[1]));
        double v = 1.0 + c * z;
        if (v <= 0) continue;
        v = v * v * v;
        double u = unit_open(r[2]);
        if (u < 1.0 - 0.0331 * z * z * z * z || log(u) < 0.5 * z * z + d * (1.0 - v + log(v))) {
            out = log(d * v);
            break;
        }
    }
    if (shape < 1) {
        uint32_t r[4];
        rt_philox4x32(seed, base | GAMMA_ATTEMPTS, stream, step, r);
        out += log(unit_open(r[0])) / shape;
    }
    return out;
}

double rt_rng_gamma(double shape, uint64_t seed, uint32_t stream, uint32_t step, uint64_t i)
{
    return exp(log_gamma_draw(shape, seed, stream, step, i));
}

double rt_rng_beta(double a, double b, uint64_t seed, uint32_t stream, uint32_t step, uint64_t i)
{
    /* X / (X + Y) = 1 / (1 + exp(log Y - log X)), safe when both underflow. */
    double lx = log_gamma_draw(a, seed, stream, step, 2 * i);
    double ly = log_gamma_draw(b, seed, stream, step, 2 * i + 1);
    return 1.0 / (1.0 + exp(ly - lx));
}

/* Rows i and n-1-i become lam*a + (1-lam)*b and lam*b + (1-lam)*a. */
static void mix_rows(float *v, int64_t n, int64_t width, float lam)
{
    for (int64_t i = 0; i < n / 2; i++) {
        float *p = v + i * width, *q = v + (n - 1 - i) * width;
        for (int64_t k = 0; k < width; k++) {
            float a = p[k], b = q[k];
            p[k] = lam * a + (1.f - lam) * b;
            q[k] = lam * b + (1.f - lam) * a;
        }
    }
}

void rt_augment_apply(const rt_augment *a, rt_batch *b, int64_t x_size, int64_t y_size, uint64_t epoch,
                      uint64_t batch)
{
    uint32_t stream = (uint32_t)batch, step = (uint32_t)epoch;
    b->lambda = 1.f;
    if (a->mixup_alpha > 0) {
        RT_ASSERT(b->y != NULL && y_size > 0); /* mixup needs float targets to mix */
        b->lambda = (float)rt_rng_beta(a->mixup_alpha, a->mixup_alpha, a->seed, stream, step, 0);
        mix_rows(b->x, b->n, x_size, b->lambda);
        mix_rows(b->y, b->n, y_size, b->lambda);
    }
    if (a->noise_std > 0) {
        int64_t m = b->n * x_size;
        for (int64_t e = 0; e < m; e++)
            b->x[e] += a->noise_std * rt_rng_normal(a->seed, stream, step, TAG_NOISE | (uint64_t)e);
    }
}
