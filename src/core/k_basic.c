/*
 * k_basic.c - linear, matmul, add, mul, scale, bias, sum, mean.
 *
 * GEMM goes to OpenBLAS (cblas_sgemm, row-major). Inside an OpenMP parallel
 * region OpenBLAS's OpenMP build runs single-threaded, so batched matmuls
 * of small matrices parallelise over the batch, large ones inside the GEMM.
 * Dims: x (M, K) with M the product of leading dims, w (N, K), y (M, N).
 */
#include "core/op_impl.h"

#include <cblas.h>

#define PAR_MIN 32768 /* elements below which elementwise loops stay serial */

/* ---------------- kernels ---------------- */

static void reduce_rows(float *db, const float *dy, const float *f, int64_t n, int64_t nb);

/* y (M, N) <- act(y + b) + r (b (N), r (M, N) and act may each be absent:
 * NULL, 0), row by row, so a row's steps run while it sits in L1. The
 * unfused ops compute the same three steps in the same order: bias in
 * linear, then the activation op, then add (x + y = y + x in IEEE), so a
 * fused inference gives the same bits. */
void rt_rows_epilogue(float *y, const float *b, const float *r, int64_t M, int64_t N, int act)
{
    if (!b && !r && !act) return;
#pragma omp parallel for if (M * N > PAR_MIN)
    for (int64_t m = 0; m < M; m++) {
        float *yr = y + m * N;
        if (b)
            for (int64_t n = 0; n < N; n++) yr[n] += b[n];
        if (act) rt_act_inplace(act, yr, N);
        if (r) {
            const float *rr = r + m * N;
            for (int64_t n = 0; n < N; n++) yr[n] += rr[n];
        }
    }
}

/* x (M, K), w (N, K), b (N) or NULL -> y (M, N) = act(x w^T + b) + r (see rt_rows_epilogue) */
void rt_linear_forward_ep(float *y, const float *x, const float *w, const float *b, int64_t M, int64_t K, int64_t N,
                          int act, const float *r)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.f, x, (int)K, w, (int)K, 0.f,
                y, (int)N);
    rt_rows_epilogue(y, b, r, M, N, act);
}

/* x (M, K), w (N, K), b (N) or NULL -> y (M, N) */
void rt_linear_forward(float *y, const float *x, const float *w, const float *b, int64_t M, int64_t K, int64_t N)
{
    rt_linear_forward_ep(y, x, w, b, M, K, N, 0, NULL);
}

/* dy (M, N) -> dx (M, K) += dy w; dw (N, K) += dy^T x; db (N) += sum_m dy */
void rt_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                        int64_t M, int64_t K, int64_t N)
{
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)K, (int)N, 1.f, dy, (int)N, w, (int)K,
                    1.f, dx, (int)K);
    if (dw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)N, (int)K, (int)M, 1.f, dy, (int)N, x, (int)K,
                    1.f, dw, (int)K);
    if (db) reduce_rows(db, dy, NULL, M * N, N);
}

struct mm_dims { int64_t batch, M, K, N; int ta, tb, b_shared; };

static void mm_one(float *c, const float *a, const float *b, const struct mm_dims *d, float beta)
{
    cblas_sgemm(CblasRowMajor, d->ta ? CblasTrans : CblasNoTrans, d->tb ? CblasTrans : CblasNoTrans, (int)d->M,
                (int)d->N, (int)d->K, 1.f, a, d->ta ? (int)d->M : (int)d->K, b, d->tb ? (int)d->K : (int)d->N, beta,
                c, (int)d->N);
}

/* a (batch, M, K) [ta: (batch, K, M)], b (batch|1, K, N) [tb: (N, K)] -> c (batch, M, N) */
static void matmul_forward(float *c, const float *a, const float *b, const struct mm_dims *d)
{
    int64_t sa = d->M * d->K, sb = d->b_shared ? 0 : d->K * d->N, sc = d->M * d->N;
    if (d->b_shared && !d->ta) { /* one GEMM over all rows */
        struct mm_dims f = *d;
        f.M = d->batch * d->M;
        mm_one(c, a, b, &f, 0.f);
        return;
    }
#pragma omp parallel for if (d->batch > 1 && d->M * d->N * d->K < (1 << 21))
    for (int64_t i = 0; i < d->batch; i++) mm_one(c + i * sc, a + i * sa, b + i * sb, d, 0.f);
}

static void matmul_backward(float *da, float *db, const float *dc, const float *a, const float *b,
                            const struct mm_dims *d)
{
    int64_t sa = d->M * d->K, sb = d->b_shared ? 0 : d->K * d->N, sc = d->M * d->N;
    int M = (int)d->M, K = (int)d->K, N = (int)d->N;
    int lda = d->ta ? M : K, ldb = d->tb ? K : N;
    if (da) {
#pragma omp parallel for if (d->batch > 1 && d->M * d->N * d->K < (1 << 21))
        for (int64_t i = 0; i < d->batch; i++) {
            if (!d->ta) /* dA (M,K) += dC op(B)^T */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, d->tb ? CblasNoTrans : CblasTrans, M, K, N, 1.f,
                            dc + i * sc, N, b + i * sb, ldb, 1.f, da + i * sa, lda);
            else /* dA (K,M) += op(B) dC^T */
                cblas_sgemm(CblasRowMajor, d->tb ? CblasTrans : CblasNoTrans, CblasTrans, K, M, N, 1.f, b + i * sb,
                            ldb, dc + i * sc, N, 1.f, da + i * sa, lda);
        }
    }
    if (db) {
        if (d->b_shared && !d->ta) { /* one GEMM: rows of all batches together */
            int MM = (int)(d->batch * d->M);
            if (!d->tb)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, N, MM, 1.f, a, K, dc, N, 1.f, db, N);
            else
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, MM, 1.f, dc, N, a, K, 1.f, db, K);
            return;
        }
#pragma omp parallel for if (!d->b_shared && d->batch > 1 && d->M * d->N * d->K < (1 << 21))
        for (int64_t i = 0; i < d->batch; i++) {
            if (!d->tb) /* dB (K,N) += op(A)^T dC */
                cblas_sgemm(CblasRowMajor, d->ta ? CblasNoTrans : CblasTrans, CblasNoTrans, K, N, M, 1.f, a + i * sa,
                            lda, dc + i * sc, N, 1.f, db + i * sb, ldb);
            else /* dB (N,K) += dC^T op(A) */
                cblas_sgemm(CblasRowMajor, CblasTrans, d->ta ? CblasTrans : CblasNoTrans, N, K, M, 1.f, dc + i * sc,
                            N, a + i * sa, lda, 1.f, db + i * sb, ldb);
        }
    }
}

/* y[i] = a[i] + b[i % nb] */
void rt_add_forward(float *y, const float *a, const float *b, int64_t n, int64_t nb)
{
    if (nb == n) { /* same shapes: one flat loop (the row loop below would have one row) */
#pragma omp parallel for simd if (n > PAR_MIN)
        for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
        return;
    }
#pragma omp parallel for if (n > PAR_MIN)
    for (int64_t r = 0; r < n / nb; r++)
        for (int64_t j = 0; j < nb; j++) y[r * nb + j] = a[r * nb + j] + b[j];
}

/* db[j] += sum over rows r of dy[r, j] (times f[r, j] if f): rows are
 * walked contiguously in blocks of 64 columns, partial sums in double. */
static void reduce_rows(float *db, const float *dy, const float *f, int64_t n, int64_t nb)
{
    int64_t rows = n / nb, nblk = (nb + 63) / 64;
#pragma omp parallel for if (n > PAR_MIN)
    for (int64_t blk = 0; blk < nblk; blk++) {
        int64_t j0 = blk * 64, j1 = j0 + 64 < nb ? j0 + 64 : nb;
        double acc[64] = {0};
        for (int64_t r = 0; r < rows; r++) {
            const float *d = dy + r * nb, *ff = f ? f + r * nb : NULL;
            for (int64_t j = j0; j < j1; j++) acc[j - j0] += (double)d[j] * (ff ? ff[j] : 1.f);
        }
        for (int64_t j = j0; j < j1; j++) db[j] += (float)acc[j - j0];
    }
}

void rt_add_backward(float *da, float *db, const float *dy, int64_t n, int64_t nb)
{
    if (da) {
#pragma omp parallel for simd if (n > PAR_MIN)
        for (int64_t i = 0; i < n; i++) da[i] += dy[i];
    }
    if (db && nb == n) { /* same shapes: no reduction */
#pragma omp parallel for simd if (n > PAR_MIN)
        for (int64_t i = 0; i < n; i++) db[i] += dy[i];
    } else if (db) {
        reduce_rows(db, dy, NULL, n, nb);
    }
}

/* y[i] = a[i] * b[i % nb] */
void rt_mul_forward(float *y, const float *a, const float *b, int64_t n, int64_t nb)
{
#pragma omp parallel for if (n > PAR_MIN)
    for (int64_t r = 0; r < n / nb; r++)
        for (int64_t j = 0; j < nb; j++) y[r * nb + j] = a[r * nb + j] * b[j];
}

void rt_mul_backward(float *da, float *db, const float *dy, const float *a, const float *b, int64_t n, int64_t nb)
{
    if (da) {
#pragma omp parallel for if (n > PAR_MIN)
        for (int64_t r = 0; r < n / nb; r++)
            for (int64_t j = 0; j < nb; j++) da[r * nb + j] += dy[r * nb + j] * b[j];
    }
    if (db) reduce_rows(db, dy, a, n, nb);
}

/* x (outer, C, inner), b (C) */
void rt_bias_forward(float *y, const float *x, const float *b, int64_t outer, int64_t C, int64_t inner)
{
#pragma omp parallel for collapse(2) if (outer * C * inner > PAR_MIN)
    for (int64_t o = 0; o < outer; o++)
        for (int64_t c = 0; c < C; c++) {
            const float *xi = x + (o * C + c) * inner;
            float *yi = y + (o * C + c) * inner;
            for (int64_t i = 0; i < inner; i++) yi[i] = xi[i] + b[c];
        }
}

void rt_bias_backward(float *dx, float *db, const float *dy, int64_t outer, int64_t C, int64_t inner)
{
    int64_t n = outer * C * inner;
    if (dx) {
#pragma omp parallel for if (n > PAR_MIN)
        for (int64_t i = 0; i < n; i++) dx[i] += dy[i];
    }
    if (db) {
#pragma omp parallel for if (n > PAR_MIN)
        for (int64_t c = 0; c < C; c++) {
            double s = 0;
            for (int64_t o = 0; o < outer; o++)
                for (int64_t i = 0; i < inner; i++) s += dy[(o * C + c) * inner + i];
            db[c] += (float)s;
        }
    }
}

/* ---------------- graph glue ---------------- */

static int64_t leading(const rt_node *n) { return rt_dims_prod(n, 0, n->out.ndim - 1); }
static int64_t last_dim(const rt_node *n) { return n->out.shape[n->out.ndim - 1]; }

rt_node *rt_linear(rt_graph *g, rt_node *x, rt_node *w, rt_node *b)
{
    return b ? RT_ADD_NODE0(g, RT_OP_LINEAR, x, w, b) : RT_ADD_NODE0(g, RT_OP_LINEAR, x, w);
}

rt_status rt_op_linear_check(rt_graph *g, rt_node *n)
{
    char s1[64], s2[64];
    rt_node *x = n->in[0], *w = n->in[1];
    if (w->out.ndim != 2 || last_dim(x) != w->out.shape[1])
        return rt_check_fail(n, "x %s does not fit weight %s (want (N, %lld))", RT_SHAPE_STR(s1, x),
                             RT_SHAPE_STR(s2, w), (long long)last_dim(x));
    if (n->n_in == 3 && (n->in[2]->out.ndim != 1 || n->in[2]->out.shape[0] != w->out.shape[0]))
        return rt_check_fail(n, "bias %s does not fit weight %s", RT_SHAPE_STR(s1, n->in[2]), RT_SHAPE_STR(s2, w));
    rt_node_set_shape(n, x->out.ndim, x->out.shape);
    n->out.shape[n->out.ndim - 1] = w->out.shape[0];
    return RT_OK;
}

/* x (M, K) w (N, K): M N K */
int64_t rt_op_linear_macs(const rt_node *n) { return rt_numel(n) * last_dim(n->in[0]); }

void rt_op_linear_forward(rt_graph *g, rt_node *n)
{
    rt_node *x = n->in[0], *w = n->in[1], *b = n->n_in == 3 ? n->in[2] : NULL;
    rt_linear_forward_ep(rt_data(n), rt_data(x), rt_data(w), b ? rt_data(b) : NULL, leading(x), last_dim(x),
                         w->out.shape[0], n->fuse_act, n->fuse_res ? rt_data(n->fuse_res) : NULL);
}

void rt_op_linear_backward(rt_graph *g, rt_node *n)
{
    rt_node *x = n->in[0], *w = n->in[1], *b = n->n_in == 3 ? n->in[2] : NULL;
    rt_linear_backward(x->grad, w->grad, b ? b->grad : NULL, n->grad, rt_data(x), rt_data(w), leading(x),
                       last_dim(x), w->out.shape[0]);
}

rt_node *rt_matmul(rt_graph *g, rt_node *a, rt_node *b, bool trans_a, bool trans_b)
{
    struct rt_matmul_args args = {trans_a, trans_b};
    return RT_ADD_NODE(g, RT_OP_MATMUL, &args, a, b);
}

static struct mm_dims mm_dims_of(const rt_node *n)
{
    const struct rt_matmul_args *a = RT_ARGS(n, const struct rt_matmul_args);
    const rt_node *A = n->in[0], *B = n->in[1];
    int na = A->out.ndim, nb = B->out.ndim;
    struct mm_dims d = {.ta = a->trans_a, .tb = a->trans_b, .b_shared = nb == 2};
    d.M = A->out.shape[na - (d.ta ? 1 : 2)];
    d.K = A->out.shape[na - (d.ta ? 2 : 1)];
    d.N = B->out.shape[nb - (d.tb ? 2 : 1)];
    d.batch = rt_dims_prod(A, 0, na - 2);
    return d;
}

rt_status rt_op_matmul_check(rt_graph *g, rt_node *n)
{
    char s1[64], s2[64];
    const rt_node *A = n->in[0], *B = n->in[1];
    const struct rt_matmul_args *a = RT_ARGS(n, const struct rt_matmul_args);
    int na = A->out.ndim, nb = B->out.ndim;
    if (na < 2 || nb < 2)
        return rt_check_fail(n, "operands %s and %s need at least 2 dimensions", RT_SHAPE_STR(s1, A), RT_SHAPE_STR(s2, B));
    int64_t kb = B->out.shape[nb - (a->trans_b ? 1 : 2)];
    struct mm_dims d = mm_dims_of(n);
    bool batch_ok = nb == 2 || (nb == na && rt_shape_equal(na - 2, A->out.shape, nb - 2, B->out.shape));
    if (d.K != kb || !batch_ok)
        return rt_check_fail(n, "cannot multiply %s%s by %s%s", RT_SHAPE_STR(s1, A), a->trans_a ? "^T" : "",
                             RT_SHAPE_STR(s2, B), a->trans_b ? "^T" : "");
    rt_node_set_shape(n, na, A->out.shape);
    n->out.shape[na - 2] = d.M;
    n->out.shape[na - 1] = d.N;
    return RT_OK;
}

/* batch M N K */
int64_t rt_op_matmul_macs(const rt_node *n)
{
    struct mm_dims d = mm_dims_of(n);
    return d.batch * d.M * d.N * d.K;
}

void rt_op_matmul_forward(rt_graph *g, rt_node *n)
{
    struct mm_dims d = mm_dims_of(n);
    matmul_forward(rt_data(n), rt_data(n->in[0]), rt_data(n->in[1]), &d);
}

void rt_op_matmul_backward(rt_graph *g, rt_node *n)
{
    struct mm_dims d = mm_dims_of(n);
    matmul_backward(n->in[0]->grad, n->in[1]->grad, n->grad, rt_data(n->in[0]), rt_data(n->in[1]), &d);
}

/* b broadcasts onto a if b's shape without leading 1s is a suffix of a's. */
static rt_status broadcast_check(rt_node *n)
{
    char s1[64], s2[64];
    const rt_node *a = n->in[0], *b = n->in[1];
    int nb0 = 0;
    while (nb0 < b->out.ndim - 1 && b->out.shape[nb0] == 1) nb0++;
    int k = b->out.ndim - nb0;
    if (k > a->out.ndim ||
        !rt_shape_equal(k, b->out.shape + nb0, k, a->out.shape + a->out.ndim - k))
        return rt_check_fail(n, "%s cannot be broadcast onto %s", RT_SHAPE_STR(s1, b), RT_SHAPE_STR(s2, a));
    rt_node_set_shape(n, a->out.ndim, a->out.shape);
    return RT_OK;
}

rt_node *rt_add(rt_graph *g, rt_node *a, rt_node *b) { return RT_ADD_NODE0(g, RT_OP_ADD, a, b); }
rt_status rt_op_add_check(rt_graph *g, rt_node *n) { return broadcast_check(n); }
void rt_op_add_forward(rt_graph *g, rt_node *n)
{
    rt_add_forward(rt_data(n), rt_data(n->in[0]), rt_data(n->in[1]), rt_numel(n), rt_numel(n->in[1]));
}
void rt_op_add_backward(rt_graph *g, rt_node *n)
{
    rt_add_backward(n->in[0]->grad, n->in[1]->grad, n->grad, rt_numel(n), rt_numel(n->in[1]));
}

rt_node *rt_mul(rt_graph *g, rt_node *a, rt_node *b) { return RT_ADD_NODE0(g, RT_OP_MUL, a, b); }
rt_status rt_op_mul_check(rt_graph *g, rt_node *n) { return broadcast_check(n); }
void rt_op_mul_forward(rt_graph *g, rt_node *n)
{
    rt_mul_forward(rt_data(n), rt_data(n->in[0]), rt_data(n->in[1]), rt_numel(n), rt_numel(n->in[1]));
}
void rt_op_mul_backward(rt_graph *g, rt_node *n)
{
    rt_mul_backward(n->in[0]->grad, n->in[1]->grad, n->grad, rt_data(n->in[0]), rt_data(n->in[1]), rt_numel(n),
                    rt_numel(n->in[1]));
}

rt_node *rt_scale(rt_graph *g, rt_node *x, float s)
{
    struct rt_scale_args a = {s};
    return RT_ADD_NODE(g, RT_OP_SCALE, &a, x);
}
rt_status rt_op_scale_check(rt_graph *g, rt_node *n)
{
    rt_node_set_shape(n, n->in[0]->out.ndim, n->in[0]->out.shape);
    return RT_OK;
}
void rt_op_scale_forward(rt_graph *g, rt_node *n)
{
    float s = RT_ARGS(n, struct rt_scale_args)->s, *y = rt_data(n);
    const float *x = rt_data(n->in[0]);
    int64_t N = rt_numel(n);
#pragma omp parallel for if (N > PAR_MIN)
    for (int64_t i = 0; i < N; i++) y[i] = s * x[i];
}
void rt_op_scale_backward(rt_graph *g, rt_node *n)
{
    float s = RT_ARGS(n, struct rt_scale_args)->s, *dx = n->in[0]->grad;
    const float *dy = n->grad;
    int64_t N = rt_numel(n);
    if (!dx) return;
#pragma omp parallel for if (N > PAR_MIN)
    for (int64_t i = 0; i < N; i++) dx[i] += s * dy[i];
}

rt_node *rt_bias(rt_graph *g, rt_node *x, rt_node *b, int axis)
{
    struct rt_axis_args a = {axis};
    return RT_ADD_NODE(g, RT_OP_BIAS, &a, x, b);
}
rt_status rt_op_bias_check(rt_graph *g, rt_node *n)
{
    char s1[64], s2[64];
    const rt_node *x = n->in[0], *b = n->in[1];
    int axis = RT_ARGS(n, struct rt_axis_args)->axis;
    if (axis < 0 || axis >= x->out.ndim || b->out.ndim != 1 || b->out.shape[0] != x->out.shape[axis])
        return rt_check_fail(n, "bias %s does not fit axis %d of %s", RT_SHAPE_STR(s1, b), axis, RT_SHAPE_STR(s2, x));
    rt_node_set_shape(n, x->out.ndim, x->out.shape);
    return RT_OK;
}
static void bias_dims(const rt_node *n, int64_t *outer, int64_t *C, int64_t *inner)
{
    int axis = RT_ARGS(n, const struct rt_axis_args)->axis;
    *outer = rt_dims_prod(n, 0, axis);
    *C = n->out.shape[axis];
    *inner = rt_dims_prod(n, axis + 1, n->out.ndim);
}
void rt_op_bias_forward(rt_graph *g, rt_node *n)
{
    int64_t o, c, i;
    bias_dims(n, &o, &c, &i);
    rt_bias_forward(rt_data(n), rt_data(n->in[0]), rt_data(n->in[1]), o, c, i);
}
void rt_op_bias_backward(rt_graph *g, rt_node *n)
{
    int64_t o, c, i;
    bias_dims(n, &o, &c, &i);
    rt_bias_backward(n->in[0]->grad, n->in[1]->grad, n->grad, o, c, i);
}

static rt_status scalar_check(rt_node *n)
{
    rt_node_set_shape(n, RT_DIMS(1));
    return RT_OK;
}
static double sum_all(const float *x, int64_t n)
{
    double s = 0;
#pragma omp parallel for reduction(+ : s) if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) s += x[i];
    return s;
}
static void add_const(float *dx, float v, int64_t n)
{
    if (!dx) return;
#pragma omp parallel for if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) dx[i] += v;
}

rt_node *rt_sum(rt_graph *g, rt_node *x) { return RT_ADD_NODE0(g, RT_OP_SUM, x); }
rt_status rt_op_sum_check(rt_graph *g, rt_node *n) { return scalar_check(n); }
void rt_op_sum_forward(rt_graph *g, rt_node *n) { rt_data(n)[0] = (float)sum_all(rt_data(n->in[0]), rt_numel(n->in[0])); }
void rt_op_sum_backward(rt_graph *g, rt_node *n) { add_const(n->in[0]->grad, n->grad[0], rt_numel(n->in[0])); }

rt_node *rt_mean(rt_graph *g, rt_node *x) { return RT_ADD_NODE0(g, RT_OP_MEAN, x); }
rt_status rt_op_mean_check(rt_graph *g, rt_node *n) { return scalar_check(n); }
void rt_op_mean_forward(rt_graph *g, rt_node *n)
{
    int64_t N = rt_numel(n->in[0]);
    rt_data(n)[0] = (float)(sum_all(rt_data(n->in[0]), N) / (double)N);
}
void rt_op_mean_backward(rt_graph *g, rt_node *n)
{
    int64_t N = rt_numel(n->in[0]);
    add_const(n->in[0]->grad, n->grad[0] / (float)N, N);
}
