/*
 * k_shape.c - reshape, transpose, permute, concat, slice, repeat, cls_concat.
 *
 * Every op here moves data: forward copies into the node's own output and
 * backward adds the gradient back (no views, so the planner may reuse
 * memory freely). transpose and permute share one strided-copy kernel over
 * up to RT_MAX_DIMS (6) dims: dims of size 1 are dropped and dims that stay
 * adjacent in memory are merged first, so a (B, T, H, D) -> (B, H, T, D)
 * permute becomes rows of D contiguous floats, and a swap of the two
 * innermost dims is copied in 32 x 32 tiles.
 * Negative axes count from the end, as in PyTorch.
 */
#include "core/op_impl.h"

#define PAR_MIN 32768 /* elements below which copies stay serial */
#define KD 6          /* dims of the strided-copy kernel (RT_MAX_DIMS) */
#define TBLK 32       /* tile side in the transposing copy */
#define RBLK 64       /* rows per parallel chunk in the row copy */

_Static_assert(KD == RT_MAX_DIMS, "strided copy covers every tensor rank");

/* Settings of concat: the requested input count is kept so that a builder
 * called with too many (or no) inputs fails in check with a message. */
struct concat_args { int axis, n; };

/* ---------------- kernels ---------------- */

static inline void row_copy(float *d, const float *s, int64_t n, int64_t ss, bool acc)
{
    if (ss == 1) {
        if (acc)
            for (int64_t j = 0; j < n; j++) d[j] += s[j];
        else
            memcpy(d, s, (size_t)n * sizeof *d);
    } else if (acc) {
        for (int64_t j = 0; j < n; j++) d[j] += s[j * ss];
    } else {
        for (int64_t j = 0; j < n; j++) d[j] = s[j * ss];
    }
}

/* Offset into src of the first element of dst row r (a row: the last dim);
 * rows enumerate dims 0..KD-2 of dst row-major. */
static inline int64_t row_offset(int64_t r, const int64_t *shape, const int64_t *ss)
{
    int64_t off = 0;
    for (int k = KD - 2; k >= 0; k--) {
        off += (r % shape[k]) * ss[k];
        r /= shape[k];
    }
    return off;
}

/* dst (shape[0..5]) contiguous; dst element (i0..i5) = src[sum_k i_k ss[k]].
 * acc: dst += instead of dst =. */
static void strided_copy(float *dst, const float *src, const int64_t *shape, const int64_t *ss, bool acc)
{
    int64_t n5 = shape[KD - 1], rows = 1;
    for (int k = 0; k < KD - 1; k++) rows *= shape[k];
    if (ss[KD - 1] != 1 && ss[KD - 2] == 1 && shape[KD - 2] > 1) {
        /* The two innermost dims are swapped: copy TBLK x TBLK tiles. */
        int64_t n4 = shape[KD - 2], outer = rows / n4, s5 = ss[KD - 1];
        int64_t nb4 = (n4 + TBLK - 1) / TBLK, nb5 = (n5 + TBLK - 1) / TBLK;
#pragma omp parallel for collapse(3) if (rows * n5 > PAR_MIN)
        for (int64_t o = 0; o < outer; o++)
            for (int64_t bi = 0; bi < nb4; bi++)
                for (int64_t bj = 0; bj < nb5; bj++) {
                    const float *s = src + row_offset(o * n4, shape, ss);
                    float *d = dst + o * n4 * n5;
                    int64_t i1 = (bi + 1) * TBLK < n4 ? (bi + 1) * TBLK : n4;
                    int64_t j0 = bj * TBLK, nj = (bj + 1) * TBLK < n5 ? TBLK : n5 - j0;
                    for (int64_t i = bi * TBLK; i < i1; i++)
                        row_copy(d + i * n5 + j0, s + i + j0 * s5, nj, s5, acc);
                }
        return;
    }
    int64_t nrb = (rows + RBLK - 1) / RBLK;
#pragma omp parallel for if (rows * n5 > PAR_MIN)
    for (int64_t rb = 0; rb < nrb; rb++) {
        int64_t r0 = rb * RBLK, r1 = r0 + RBLK < rows ? r0 + RBLK : rows, idx[KD - 1], off = 0, r = r0;
        for (int k = KD - 2; k >= 0; k--) {
            idx[k] = r % shape[k];
            r /= shape[k];
            off += idx[k] * ss[k];
        }
        for (r = r0; r < r1; r++) {
            row_copy(dst + r * n5, src + off, n5, ss[KD - 1], acc);
            for (int k = KD - 2; k >= 0; k--) { /* step the row index like an odometer */
                off += ss[k];
                if (++idx[k] < shape[k]) break;
                off -= idx[k] * ss[k];
                idx[k] = 0;
            }
        }
    }
}

/* The copy dst = src.permute(perm) as KD dims: dst shape and src strides,
 * size-1 dims dropped, adjacent dims merged, padded with leading 1s. */
static void permute_plan(int nd, const int64_t *src_shape, const int *perm, int64_t *shape, int64_t *ss)
{
    int64_t stride[RT_MAX_DIMS], sh[RT_MAX_DIMS], st[RT_MAX_DIMS];
    int64_t s = 1;
    for (int k = nd - 1; k >= 0; k--) {
        stride[k] = s;
        s *= src_shape[k];
    }
    int m = 0;
    for (int k = 0; k < nd; k++) {
        int64_t len = src_shape[perm[k]], str = stride[perm[k]];
        if (len == 1) continue;
        if (m > 0 && st[m - 1] == str * len) { /* previous dst dim is adjacent in src */
            sh[m - 1] *= len;
            st[m - 1] = str;
        } else {
            sh[m] = len;
            st[m] = str;
            m++;
        }
    }
    for (int k = 0; k < KD; k++) {
        int j = k - (KD - m);
        shape[k] = j >= 0 ? sh[j] : 1;
        ss[k] = j >= 0 ? st[j] : 0;
    }
}

/* x (shape, nd dims) -> y (shape[perm[0]], ..., shape[perm[nd-1]]) */
void rt_permute_forward(float *y, const float *x, int nd, const int64_t *shape, const int *perm)
{
    int64_t sh[KD], ss[KD];
    permute_plan(nd, shape, perm, sh, ss);
    strided_copy(y, x, sh, ss, false);
}

/* dy (shape permuted by perm) -> dx (shape) += dy permuted back */
void rt_permute_backward(float *dx, const float *dy, int nd, const int64_t *shape, const int *perm)
{
    int inv[RT_MAX_DIMS];
    int64_t yshape[RT_MAX_DIMS], sh[KD], ss[KD];
    for (int k = 0; k < nd; k++) {
        inv[perm[k]] = k;
        yshape[k] = shape[perm[k]];
    }
    permute_plan(nd, yshape, inv, sh, ss);
    strided_copy(dx, dy, sh, ss, true);
}

/* y (n) = x (n); dx (n) += dy (n) */
void rt_copy_forward(float *y, const float *x, int64_t n) { memcpy(y, x, (size_t)n * sizeof *y); }

void rt_copy_backward(float *dx, const float *dy, int64_t n)
{
#pragma omp parallel for simd if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) dx[i] += dy[i];
}

/* Blocks of a concat: y (outer, sum_i len[i]) with x_i (outer, len[i]).
 * Forward copies x_i into y; backward adds y's blocks into x_i (a NULL
 * x_i is skipped) and only reads y. */
static void block_copy(float *y, float *const *xs, const int64_t *len, int n, int64_t outer, bool backward)
{
    int64_t total = 0, off[RT_MAX_INPUTS + 1];
    for (int i = 0; i < n; i++) {
        off[i] = total;
        total += len[i];
    }
    if (backward) {
        /* one thread owns row o of every x_i: the same node given twice adds into it without a race */
#pragma omp parallel for if (outer * total > PAR_MIN)
        for (int64_t o = 0; o < outer; o++)
            for (int i = 0; i < n; i++) {
                if (!xs[i]) continue;
                const float *yb = y + o * total + off[i];
                float *xb = xs[i] + o * len[i];
                for (int64_t j = 0; j < len[i]; j++) xb[j] += yb[j];
            }
        return;
    }
#pragma omp parallel for collapse(2) if (outer * total > PAR_MIN)
    for (int64_t o = 0; o < outer; o++)
        for (int i = 0; i < n; i++)
            if (xs[i]) memcpy(y + o * total + off[i], xs[i] + o * len[i], (size_t)len[i] * sizeof *y);
}

/* x_i (outer, len[i]) -> y (outer, sum len) */
void rt_concat_forward(float *y, const float *const *xs, const int64_t *len, int n, int64_t outer)
{
    block_copy(y, (float *const *)xs, len, n, outer, false);
}

/* dy (outer, sum len) -> dx_i (outer, len[i]) += its block (dx_i may be NULL) */
void rt_concat_backward(float *const *dxs, const float *dy, const int64_t *len, int n, int64_t outer)
{
    block_copy((float *)dy, dxs, len, n, outer, true);
}

/* x (outer, D, inner) -> y (outer, end - start, inner) */
void rt_slice_forward(float *y, const float *x, int64_t outer, int64_t D, int64_t inner, int64_t start, int64_t end)
{
    int64_t len = (end - start) * inner;
#pragma omp parallel for if (outer * len > PAR_MIN)
    for (int64_t o = 0; o < outer; o++) memcpy(y + o * len, x + (o * D + start) * inner, (size_t)len * sizeof *y);
}

/* dy (outer, end - start, inner) -> dx (outer, D, inner) += dy at [start, end) */
void rt_slice_backward(float *dx, const float *dy, int64_t outer, int64_t D, int64_t inner, int64_t start,
                       int64_t end)
{
    int64_t len = (end - start) * inner;
#pragma omp parallel for if (outer * len > PAR_MIN)
    for (int64_t o = 0; o < outer; o++) {
        float *d = dx + (o * D + start) * inner;
        const float *s = dy + o * len;
        for (int64_t j = 0; j < len; j++) d[j] += s[j];
    }
}

/* x (outer, inner) -> y (outer, n, inner): y[o, k] = x[o] */
void rt_repeat_forward(float *y, const float *x, int64_t outer, int64_t n, int64_t inner)
{
#pragma omp parallel for collapse(2) if (outer * n * inner > PAR_MIN)
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < n; k++) memcpy(y + (o * n + k) * inner, x + o * inner, (size_t)inner * sizeof *y);
}

/* dy (outer, n, inner) -> dx (outer, inner) += sum over k of dy[o, k] */
void rt_repeat_backward(float *dx, const float *dy, int64_t outer, int64_t n, int64_t inner)
{
#pragma omp parallel for if (outer * n * inner > PAR_MIN)
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < n; k++) {
            const float *s = dy + (o * n + k) * inner;
            float *d = dx + o * inner;
            for (int64_t j = 0; j < inner; j++) d[j] += s[j];
        }
}

/* x (B, T, C), cls (C) -> y (B, 1 + T, C) with y[b, 0] = cls */
void rt_cls_concat_forward(float *y, const float *x, const float *cls, int64_t B, int64_t T, int64_t C)
{
#pragma omp parallel for if (B * T * C > PAR_MIN)
    for (int64_t b = 0; b < B; b++) {
        memcpy(y + b * (T + 1) * C, cls, (size_t)C * sizeof *y);
        memcpy(y + (b * (T + 1) + 1) * C, x + b * T * C, (size_t)(T * C) * sizeof *y);
    }
}

/* dy (B, 1 + T, C) -> dx (B, T, C) += dy[:, 1:], dcls (C) += sum_b dy[b, 0] */
void rt_cls_concat_backward(float *dx, float *dcls, const float *dy, int64_t B, int64_t T, int64_t C)
{
    if (dx) {
#pragma omp parallel for if (B * T * C > PAR_MIN)
        for (int64_t b = 0; b < B; b++) {
            const float *s = dy + (b * (T + 1) + 1) * C;
            float *d = dx + b * T * C;
            for (int64_t j = 0; j < T * C; j++) d[j] += s[j];
        }
    }
    if (dcls)
        for (int64_t c = 0; c < C; c++) {
            double s = 0;
            for (int64_t b = 0; b < B; b++) s += dy[b * (T + 1) * C + c];
            dcls[c] += (float)s;
        }
}

/* ---------------- graph glue ---------------- */

/* Normalise a possibly negative axis of an nd-dim tensor; false if out of range. */
static bool norm_axis(int *axis, int nd)
{
    if (*axis < 0) *axis += nd;
    return *axis >= 0 && *axis < nd;
}

rt_node *rt_reshape(rt_graph *g, rt_node *x, int ndim, const int64_t *shape)
{
    struct rt_reshape_args a = {.ndim = shape ? ndim : 0};
    for (int i = 0; i < ndim && i < RT_MAX_DIMS && shape; i++) a.shape[i] = shape[i];
    return RT_ADD_NODE(g, RT_OP_RESHAPE, &a, x);
}

rt_status rt_op_reshape_check(rt_graph *g, rt_node *n)
{
    char s1[64], s2[96];
    const rt_node *x = n->in[0];
    struct rt_reshape_args *a = RT_ARGS(n, struct rt_reshape_args);
    if (a->ndim < 1 || a->ndim > RT_MAX_DIMS)
        return rt_check_fail(n, "cannot reshape %s to %d dimensions (1 to %d)", RT_SHAPE_STR(s1, x), a->ndim,
                             RT_MAX_DIMS);
    rt_shape_str(s2, sizeof s2, a->ndim, a->shape);
    int64_t known = 1, numel = rt_numel(x);
    int infer = -1;
    for (int i = 0; i < a->ndim; i++) {
        if (a->shape[i] == -1 && infer < 0)
            infer = i;
        else if (a->shape[i] <= 0)
            return rt_check_fail(n, "cannot reshape %s to %s: dims must be positive, one may be -1",
                                 RT_SHAPE_STR(s1, x), s2);
        else
            known *= a->shape[i];
    }
    int64_t shape[RT_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    if (infer >= 0 && numel % known == 0) shape[infer] = numel / known;
    if ((infer >= 0 && numel % known != 0) || rt_shape_numel(a->ndim, shape) != numel)
        return rt_check_fail(n, "cannot reshape %s (%lld elements) to %s", RT_SHAPE_STR(s1, x), (long long)numel, s2);
    rt_node_set_shape(n, a->ndim, shape);
    return RT_OK;
}

void rt_op_reshape_forward(rt_graph *g, rt_node *n) { rt_copy_forward(rt_data(n), rt_data(n->in[0]), rt_numel(n)); }

void rt_op_reshape_backward(rt_graph *g, rt_node *n)
{
    if (n->in[0]->grad) rt_copy_backward(n->in[0]->grad, n->grad, rt_numel(n));
}

/* permute and transpose both keep a full permutation in rt_permute_args. */
static rt_status permute_check(rt_node *n, const int *perm, int nd)
{
    char s1[64];
    const rt_node *x = n->in[0];
    bool seen[RT_MAX_DIMS] = {false};
    for (int k = 0; k < nd; k++) {
        if (perm[k] < 0 || perm[k] >= nd || seen[perm[k]])
            return rt_check_fail(n, "order is not a permutation of the %d dims of %s", nd, RT_SHAPE_STR(s1, x));
        seen[perm[k]] = true;
    }
    int64_t shape[RT_MAX_DIMS];
    for (int k = 0; k < nd; k++) shape[k] = x->out.shape[perm[k]];
    rt_node_set_shape(n, nd, shape);
    return RT_OK;
}

rt_node *rt_transpose(rt_graph *g, rt_node *x, int d0, int d1)
{
    struct rt_transpose_args a = {d0, d1};
    return RT_ADD_NODE(g, RT_OP_TRANSPOSE, &a, x);
}

/* The transposition as a permutation of x's dims. */
static void transpose_perm(const rt_node *n, int *perm)
{
    const struct rt_transpose_args *a = RT_ARGS(n, const struct rt_transpose_args);
    for (int k = 0; k < n->in[0]->out.ndim; k++) perm[k] = k;
    perm[a->d0] = a->d1;
    perm[a->d1] = a->d0;
}

rt_status rt_op_transpose_check(rt_graph *g, rt_node *n)
{
    char s1[64];
    const rt_node *x = n->in[0];
    struct rt_transpose_args *a = RT_ARGS(n, struct rt_transpose_args);
    int d0 = a->d0, d1 = a->d1;
    if (!norm_axis(&a->d0, x->out.ndim) || !norm_axis(&a->d1, x->out.ndim))
        return rt_check_fail(n, "cannot swap dims %d and %d of %s", d0, d1, RT_SHAPE_STR(s1, x));
    int perm[RT_MAX_DIMS];
    transpose_perm(n, perm);
    return permute_check(n, perm, x->out.ndim);
}

void rt_op_transpose_forward(rt_graph *g, rt_node *n)
{
    int perm[RT_MAX_DIMS];
    transpose_perm(n, perm);
    rt_permute_forward(rt_data(n), rt_data(n->in[0]), n->out.ndim, n->in[0]->out.shape, perm);
}

void rt_op_transpose_backward(rt_graph *g, rt_node *n)
{
    int perm[RT_MAX_DIMS];
    if (!n->in[0]->grad) return;
    transpose_perm(n, perm);
    rt_permute_backward(n->in[0]->grad, n->grad, n->out.ndim, n->in[0]->out.shape, perm);
}

rt_node *rt_permute(rt_graph *g, rt_node *x, int ndim, const int *perm)
{
    struct rt_permute_args a = {.ndim = perm ? ndim : 0};
    for (int i = 0; i < ndim && i < RT_MAX_DIMS && perm; i++) a.perm[i] = perm[i];
    return RT_ADD_NODE(g, RT_OP_PERMUTE, &a, x);
}

rt_status rt_op_permute_check(rt_graph *g, rt_node *n)
{
    char s1[64];
    const rt_node *x = n->in[0];
    const struct rt_permute_args *a = RT_ARGS(n, const struct rt_permute_args);
    if (a->ndim != x->out.ndim)
        return rt_check_fail(n, "order has %d dims, input %s has %d", a->ndim, RT_SHAPE_STR(s1, x), x->out.ndim);
    return permute_check(n, a->perm, a->ndim);
}

void rt_op_permute_forward(rt_graph *g, rt_node *n)
{
    const struct rt_permute_args *a = RT_ARGS(n, const struct rt_permute_args);
    rt_permute_forward(rt_data(n), rt_data(n->in[0]), a->ndim, n->in[0]->out.shape, a->perm);
}

void rt_op_permute_backward(rt_graph *g, rt_node *n)
{
    const struct rt_permute_args *a = RT_ARGS(n, const struct rt_permute_args);
    if (n->in[0]->grad) rt_permute_backward(n->in[0]->grad, n->grad, a->ndim, n->in[0]->out.shape, a->perm);
}

rt_node *rt_concat(rt_graph *g, int n, rt_node *const *xs, int axis)
{
    struct concat_args a = {axis, xs ? n : 0};
    int k = a.n < 0 ? 0 : a.n > RT_MAX_INPUTS ? RT_MAX_INPUTS : a.n;
    return rt_graph_add(g, RT_OP_CONCAT, k, xs, &a, sizeof a);
}

rt_status rt_op_concat_check(rt_graph *g, rt_node *n)
{
    char s1[64], s2[64];
    struct concat_args *a = RT_ARGS(n, struct concat_args);
    if (a->n < 1 || a->n > RT_MAX_INPUTS)
        return rt_check_fail(n, "%d inputs (1 to %d)", a->n, RT_MAX_INPUTS);
    const rt_node *x0 = n->in[0];
    int nd = x0->out.ndim, axis = a->axis;
    if (!norm_axis(&a->axis, nd)) return rt_check_fail(n, "no axis %d in %s", axis, RT_SHAPE_STR(s1, x0));
    int64_t shape[RT_MAX_DIMS];
    memcpy(shape, x0->out.shape, sizeof shape);
    for (int i = 1; i < n->n_in; i++) {
        const rt_node *x = n->in[i];
        bool ok = x->out.ndim == nd;
        for (int k = 0; k < nd && ok; k++) ok = k == a->axis || x->out.shape[k] == x0->out.shape[k];
        if (!ok)
            return rt_check_fail(n, "input %d %s does not fit input 0 %s along axis %d", i, RT_SHAPE_STR(s1, x),
                                 RT_SHAPE_STR(s2, x0), a->axis);
        shape[a->axis] += x->out.shape[a->axis];
    }
    rt_node_set_shape(n, nd, shape);
    return RT_OK;
}

/* Input block lengths (axis length times inner size) and the outer size. */
static int64_t concat_dims(const rt_node *n, int64_t *len)
{
    int axis = RT_ARGS(n, const struct concat_args)->axis;
    for (int i = 0; i < n->n_in; i++) len[i] = rt_dims_prod(n->in[i], axis, n->out.ndim);
    return rt_dims_prod(n, 0, axis);
}

void rt_op_concat_forward(rt_graph *g, rt_node *n)
{
    int64_t len[RT_MAX_INPUTS];
    const float *xs[RT_MAX_INPUTS];
    int64_t outer = concat_dims(n, len);
    for (int i = 0; i < n->n_in; i++) xs[i] = rt_data(n->in[i]);
    rt_concat_forward(rt_data(n), xs, len, n->n_in, outer);
}

void rt_op_concat_backward(rt_graph *g, rt_node *n)
{
    int64_t len[RT_MAX_INPUTS];
    float *dxs[RT_MAX_INPUTS];
    int64_t outer = concat_dims(n, len);
    for (int i = 0; i < n->n_in; i++) dxs[i] = n->in[i]->grad;
    rt_concat_backward(dxs, n->grad, len, n->n_in, outer);
}

rt_node *rt_slice(rt_graph *g, rt_node *x, int axis, int64_t start, int64_t end)
{
    struct rt_slice_args a = {axis, start, end};
    return RT_ADD_NODE(g, RT_OP_SLICE, &a, x);
}

rt_status rt_op_slice_check(rt_graph *g, rt_node *n)
{
    char s1[64];
    const rt_node *x = n->in[0];
    struct rt_slice_args *a = RT_ARGS(n, struct rt_slice_args);
    int axis = a->axis;
    if (!norm_axis(&a->axis, x->out.ndim)) return rt_check_fail(n, "no axis %d in %s", axis, RT_SHAPE_STR(s1, x));
    int64_t D = x->out.shape[a->axis], start = a->start, end = a->end;
    if (a->start < 0) a->start += D;
    if (a->end < 0) a->end += D;
    if (a->start < 0 || a->start >= D || a->end <= a->start || a->end > D)
        return rt_check_fail(n, "slice [%lld, %lld) of axis %d (length %lld) of %s is out of range or empty",
                             (long long)start, (long long)end, a->axis, (long long)D, RT_SHAPE_STR(s1, x));
    rt_node_set_shape(n, x->out.ndim, x->out.shape);
    n->out.shape[a->axis] = a->end - a->start;
    return RT_OK;
}

void rt_op_slice_forward(rt_graph *g, rt_node *n)
{
    const rt_node *x = n->in[0];
    const struct rt_slice_args *a = RT_ARGS(n, const struct rt_slice_args);
    rt_slice_forward(rt_data(n), rt_data(x), rt_dims_prod(x, 0, a->axis), x->out.shape[a->axis],
                     rt_dims_prod(x, a->axis + 1, x->out.ndim), a->start, a->end);
}

void rt_op_slice_backward(rt_graph *g, rt_node *n)
{
    const rt_node *x = n->in[0];
    const struct rt_slice_args *a = RT_ARGS(n, const struct rt_slice_args);
    if (!x->grad) return;
    rt_slice_backward(x->grad, n->grad, rt_dims_prod(x, 0, a->axis), x->out.shape[a->axis],
                      rt_dims_prod(x, a->axis + 1, x->out.ndim), a->start, a->end);
}

rt_node *rt_repeat(rt_graph *g, rt_node *x, int axis, int64_t n)
{
    struct rt_repeat_args a = {axis, n};
    return RT_ADD_NODE(g, RT_OP_REPEAT, &a, x);
}

rt_status rt_op_repeat_check(rt_graph *g, rt_node *n)
{
    char s1[64];
    const rt_node *x = n->in[0];
    const struct rt_repeat_args *a = RT_ARGS(n, const struct rt_repeat_args);
    int nd = x->out.ndim;
    if (a->axis < 0 || a->axis > nd || nd + 1 > RT_MAX_DIMS || a->n < 1)
        return rt_check_fail(n, "cannot insert an axis %d of length %lld into %s", a->axis, (long long)a->n,
                             RT_SHAPE_STR(s1, x));
    int64_t shape[RT_MAX_DIMS];
    for (int i = 0, j = 0; i <= nd; i++) shape[i] = i == a->axis ? a->n : x->out.shape[j++];
    rt_node_set_shape(n, nd + 1, shape);
    return RT_OK;
}

void rt_op_repeat_forward(rt_graph *g, rt_node *n)
{
    const rt_node *x = n->in[0];
    const struct rt_repeat_args *a = RT_ARGS(n, const struct rt_repeat_args);
    rt_repeat_forward(rt_data(n), rt_data(x), rt_dims_prod(x, 0, a->axis), a->n, rt_dims_prod(x, a->axis, x->out.ndim));
}

void rt_op_repeat_backward(rt_graph *g, rt_node *n)
{
    const rt_node *x = n->in[0];
    const struct rt_repeat_args *a = RT_ARGS(n, const struct rt_repeat_args);
    if (x->grad)
        rt_repeat_backward(x->grad, n->grad, rt_dims_prod(x, 0, a->axis), a->n, rt_dims_prod(x, a->axis, x->out.ndim));
}

rt_node *rt_cls_concat(rt_graph *g, rt_node *x, rt_node *cls) { return RT_ADD_NODE0(g, RT_OP_CLS_CONCAT, x, cls); }

rt_status rt_op_cls_concat_check(rt_graph *g, rt_node *n)
{
    char s1[64], s2[64];
    const rt_node *x = n->in[0], *cls = n->in[1];
    if (x->out.ndim != 3) return rt_check_fail(n, "x %s is not (B, T, C)", RT_SHAPE_STR(s1, x));
    int64_t C = x->out.shape[2];
    bool ok = (cls->out.ndim == 1 && cls->out.shape[0] == C) ||
              (cls->out.ndim == 3 && cls->out.shape[0] == 1 && cls->out.shape[1] == 1 && cls->out.shape[2] == C);
    if (!ok)
        return rt_check_fail(n, "cls token %s does not fit x %s (want (1, 1, %lld) or (%lld))", RT_SHAPE_STR(s1, cls),
                             RT_SHAPE_STR(s2, x), (long long)C, (long long)C);
    rt_node_set_shape(n, RT_DIMS(x->out.shape[0], 1 + x->out.shape[1], C));
    return RT_OK;
}

void rt_op_cls_concat_forward(rt_graph *g, rt_node *n)
{
    const rt_node *x = n->in[0];
    rt_cls_concat_forward(rt_data(n), rt_data(x), rt_data(n->in[1]), x->out.shape[0], x->out.shape[1],
                          x->out.shape[2]);
}

void rt_op_cls_concat_backward(rt_graph *g, rt_node *n)
{
    const rt_node *x = n->in[0];
    rt_cls_concat_backward(x->grad, n->in[1]->grad, n->grad, x->out.shape[0], x->out.shape[1], x->out.shape[2]);
}
