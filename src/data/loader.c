/*
 * loader.c - batches in a per-epoch order recomputed from (seed, epoch)
 * (see loader.h). The only allocation is the order array, at init.
 */
#include "data/loader.h"

#include "core/rng.h"
#include "data/manifest.h"

#include <stdlib.h>
#include <string.h>

#define LOADER_STREAM 0x10ADE2u
#define CROP_STREAM 0xC409u
#define TAG_CROP ((uint64_t)0xC7 << 56)

static void draw_order(rt_loader *ld)
{
    for (int64_t i = 0; i < ld->ds->n; i++) ld->order[i] = i;
    if (ld->o.shuffle) rt_data_shuffle(ld->order, ld->ds->n, ld->o.seed, LOADER_STREAM, (uint32_t)ld->epoch);
}

rt_status rt_loader_init(rt_loader *ld, const rt_dataset *ds, const rt_loader_opts *o)
{
    memset(ld, 0, sizeof *ld);
    if (o->batch < 1) return rt_error(RT_ERR_ARG, "%s: loader batch size %lld < 1", ds->source, (long long)o->batch);
    if (o->drop_last && ds->n < o->batch)
        return rt_error(RT_ERR_ARG, "%s: %lld samples make no full batch of %lld (drop_last)", ds->source,
                        (long long)ds->n, (long long)o->batch);
    if (o->std < 0) return rt_error(RT_ERR_ARG, "%s: loader std %g < 0", ds->source, (double)o->std);
    if (o->aug.mixup_alpha < 0 || o->aug.noise_std < 0)
        return rt_error(RT_ERR_ARG, "%s: mixup alpha %g and noise std %g must be >= 0", ds->source,
                        (double)o->aug.mixup_alpha, (double)o->aug.noise_std);
    ld->order = malloc((size_t)ds->n * sizeof *ld->order);
    if (!ld->order) return rt_error(RT_ERR_NOMEM, "%s: out of memory for the loader", ds->source);
    ld->ds = ds;
    ld->o = *o;
    ld->n_batches = o->drop_last ? ds->n / o->batch : (ds->n + o->batch - 1) / o->batch;
    draw_order(ld);
    return RT_OK;
}

void rt_loader_free(rt_loader *ld)
{
    free(ld->order);
    memset(ld, 0, sizeof *ld);
}

int64_t rt_loader_y_size(const rt_loader *ld)
{
    return ld->ds->n_classes > 0 ? ld->ds->n_classes : ld->ds->y_size;
}

/* A crop dataset's sample src as a random window of its utterance into xd: the start is
 * uniform over the utterance, a pure function of (seed, epoch, src). */
static void crop_row(const rt_loader *ld, float *xd, int64_t src)
{
    const rt_dataset *ds = ld->ds;
    int64_t len = ds->full_len[src], span = len - ds->crop + 1;
    uint32_t r[4];
    rt_philox4x32(ld->o.seed, TAG_CROP | (uint64_t)src, CROP_STREAM, (uint32_t)ld->epoch, r);
    uint64_t u = ((uint64_t)r[0] << 32) | r[1];
    rt_manifest_window(xd, ds->full + ds->full_off[src], ds->x_size / ds->crop, len,
                       (int64_t)(u % (uint64_t)span), ds->crop);
}

/* Copy sample `src` into row r of b. */
static void fill_row(const rt_loader *ld, rt_batch *b, int64_t r, int64_t src, int64_t ys)
{
    const rt_dataset *ds = ld->ds;
    const float *xs = ds->x + src * ds->x_size;
    float *xd = b->x + r * ds->x_size;
    if (ds->full) {
        crop_row(ld, xd, src);
        xs = xd;
    }
    if (ld->o.std > 0) {
        float m = ld->o.mean, inv = 1.f / ld->o.std;
        for (int64_t k = 0; k < ds->x_size; k++) xd[k] = (xs[k] - m) * inv;
    } else if (xs != xd) {
        memcpy(xd, xs, (size_t)ds->x_size * sizeof(float));
    }
    if (ds->label) {
        if (b->label) b->label[r] = (float)ds->label[src];
        if (b->y) {
            memset(b->y + r * ys, 0, (size_t)ys * sizeof(float));
            b->y[r * ys + ds->label[src]] = 1.f;
        }
    } else if (b->y) {
        memcpy(b->y + r * ys, ds->y + src * ys, (size_t)ys * sizeof(float));
    }
}

bool rt_loader_next(rt_loader *ld, rt_batch *b)
{
    const rt_dataset *ds = ld->ds;
    RT_ASSERT(b->x != NULL && b->cap >= ld->o.batch);
    if (ld->next >= ld->n_batches) {
        ld->epoch++;
        ld->next = 0;
        draw_order(ld);
        return false;
    }
    int64_t start = ld->next * ld->o.batch, n = ds->n - start, ys = rt_loader_y_size(ld);
    if (n > ld->o.batch) n = ld->o.batch;
    for (int64_t r = 0; r < n; r++) fill_row(ld, b, r, ld->order[start + r], ys);
    if (rt_specaug_active(&ds->specaug) && ds->x_ndim >= 2) {
        int64_t cols = ds->x_shape[ds->x_ndim - 1], rows = ds->x_shape[ds->x_ndim - 2];
        for (int64_t r = 0; r < n; r++)
            rt_specaug_apply(&ds->specaug, b->x + r * ds->x_size, ds->x_size / (rows * cols), rows, cols,
                             ld->o.aug.seed, ld->epoch, (uint64_t)ld->next, (uint64_t)r);
    }
    int64_t pad = b->cap - n;
    memset(b->x + n * ds->x_size, 0, (size_t)(pad * ds->x_size) * sizeof(float));
    if (b->y) memset(b->y + n * ys, 0, (size_t)(pad * ys) * sizeof(float));
    if (b->label) memset(b->label + n, 0, (size_t)pad * sizeof *b->label);
    b->n = n;
    b->idx = ld->order + start;
    rt_augment_apply(&ld->o.aug, b, ds->x_size, b->y ? ys : 0, ld->epoch, (uint64_t)ld->next);
    ld->next++;
    return true;
}

rt_loader_pos rt_loader_tell(const rt_loader *ld)
{
    return (rt_loader_pos){.epoch = ld->epoch, .batch = ld->next, .n = ld->ds->n, .batch_size = ld->o.batch};
}

rt_status rt_loader_seek(rt_loader *ld, rt_loader_pos pos)
{
    if (pos.n != ld->ds->n || pos.batch_size != ld->o.batch)
        return rt_error(RT_ERR_ARG,
                        "%s: loader position is for %lld samples in batches of %lld; this loader has %lld in "
                        "batches of %lld",
                        ld->ds->source, (long long)pos.n, (long long)pos.batch_size, (long long)ld->ds->n,
                        (long long)ld->o.batch);
    if (pos.batch < 0 || pos.batch > ld->n_batches)
        return rt_error(RT_ERR_ARG, "%s: loader position batch %lld is outside 0..%lld", ld->ds->source,
                        (long long)pos.batch, (long long)ld->n_batches);
    ld->epoch = pos.epoch;
    ld->next = pos.batch;
    draw_order(ld);
    return RT_OK;
}
