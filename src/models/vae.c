/*
 * vae.c - "vae": a variational autoencoder, linear (MLP) or convolutional.
 *
 *   encoder -> h (B, F) -> fc_mu, fc_logvar (B, latent)
 *   z = mu + exp(logvar / 2) eps (rt_gaussian_sample: eps ~ N(0, 1) in
 *       training mode; z = mu in eval mode, so eval outputs are deterministic)
 *   decoder(z) -> reconstruction, shaped like the input
 *
 * Variant "linear": input (any shape) flattened to F0 features;
 *   encoder.blocks.<i>: fc Linear(prev, hidden[i]) [-> norm BatchNorm1d] -> act
 *   decoder.blocks.<i>: the same over reversed(hidden), from latent; the last
 *   block decoder.blocks.<n_hidden>.fc maps to F0 (bias, no norm, no act),
 *   then output_activation, reshaped to the input shape.
 * Variant "conv": input [C, H, W]; every stage halves H and W (stride 2,
 *   padding (kernel - 1) / 2), so H and W must be divisible by
 *   2^len(channels):
 *   encoder.blocks.<i>: conv Conv2d(prev, channels[i], kernel, 2) [-> norm
 *   BatchNorm2d] -> act; flattened to F = channels[-1] h w (h = H / 2^n).
 *   decoder.fc Linear(latent, F), reshaped to (channels[-1], h, w), then
 *   decoder.blocks.<i>: conv ConvTranspose2d(reversed channels, kernel, 2,
 *   same padding, output_padding kernel % 2: exactly doubles H and W)
 *   [-> norm] -> act, the last block to C channels (bias, no norm, no act),
 *   then output_activation.
 *   Convolutions before a batch norm have no bias (the norm's shift does it).
 *
 * Fields:
 *   "variant"            "linear" | "conv" (required)
 *   "latent"             latent size (required, >= 1)
 *   "hidden"             linear only: encoder hidden sizes (default [], the
 *                        encoder is then the flattened input itself)
 *   "channels"           conv only: encoder channels per stage (required,
 *                        1 to 8 stages)
 *   "kernel"             conv only: square kernel size, 2..15 (default 4)
 *   "batch_norm"         batch norm after each hidden layer (default false)
 *   "activation"         "relu" | "gelu" | "tanh" (default relu)
 *   "output_activation"  "sigmoid" (images in [0, 1]) | "tanh" ([-1, 1]) |
 *                        "none" (default sigmoid)
 *   "task" must be "reconstruction".
 *
 * Names (PyTorch twin: tests/fixtures/ref/vae.py, a module with submodules
 * encoder, fc_mu, fc_logvar, decoder as above): encoder.blocks.<i>.{fc,
 * conv,norm}.*, fc_mu.*, fc_logvar.*, decoder.fc.* (conv), decoder.blocks.
 * <i>.{fc,conv,norm}.*.
 *
 * Taps: "mu", "logvar" (B, latent) (scope fc_mu, fc_logvar), "z" (B,
 * latent), "embedding" (a copy of mu, for embedding distillation and
 * retrieval), "encoder.blocks.<i>.out", "decoder.blocks.<i>.out" (all but
 * the last decoder block) and "output", the reconstruction (B, *input).
 *
 * Loss: none is built here. The training code assembles the ELBO from the
 * taps: reconstruction(output, input) (MSE, or BCE with the sigmoid output)
 * + beta * KL, KL = -1/2 sum(1 + logvar - mu^2 - exp(logvar)) per sample;
 * gradients reach mu and logvar both through z and through the KL term.
 *
 * Shipped configs: configs/tinyvae-{64,32,16,8,4}.json, one conv VAE for
 * 64x64 RGB camera frames on a small robot computer (Jetson Nano class),
 * encoder 32-64-128-256 channels, 4x4 kernels, batch norm, ReLU, sigmoid
 * output, differing only in the latent size (64, 32, 16, 8, 4): 2.17M
 * parameters (8.7 MB in float32) for latent 64 down to 1.43M for latent 4
 * (fc_mu, fc_logvar and decoder.fc scale with it), about 54M multiply-
 * accumulates per frame, 4x4x256 features at the bottleneck. Small enough
 * to sweep latent sizes cheaply and to encode frames in real time on the
 * device; a wider or deeper stack would mostly buy detail a 64x64 frame
 * does not have.
 */
#include "models/model.h"

#include "core/ops.h"
#include "nn/nn.h"

#include <string.h>

#define VAE_MAX_LINEAR 16
#define VAE_MAX_STAGES 8

enum vae_variant { VAE_LINEAR = 0, VAE_CONV };
enum vae_act { ACT_RELU = 0, ACT_GELU, ACT_TANH, ACT_SIGMOID, ACT_NONE };

struct vae_settings {
    enum vae_variant variant;
    int64_t latent, kernel;
    int n;                          /* hidden sizes (linear) or stages (conv) */
    int64_t sizes[VAE_MAX_LINEAR];  /* hidden sizes or channels */
    bool batch_norm;
    enum vae_act act, out_act;
};

static int choice(const char *const *choices, const char *s)
{
    for (int i = 0; choices[i]; i++)
        if (!strcmp(choices[i], s)) return i;
    return 0;
}

/* A field of the other variant is an error that says so (not "unknown field"). */
static void reject_other(rt_cfg *c, const char *key, const char *variant)
{
    if (c->status == RT_OK && cJSON_GetObjectItemCaseSensitive(c->root, key))
        rt_cfg_fail(c, key, "not used by variant '%s'", variant);
}

static void parse_conv(rt_cfg *c, const rt_model *m, struct vae_settings *s)
{
    reject_other(c, "hidden", "conv");
    rt_cfg_int_array(c, c->root, "channels", true, 1, 1 << 16, VAE_MAX_STAGES, s->sizes, &s->n);
    rt_cfg_int(c, c->root, "kernel", false, 2, 15, &s->kernel);
    if (c->status != RT_OK) return;
    if (s->n < 1) {
        rt_cfg_fail(c, "channels", "needs at least one stage");
        return;
    }
    if (m->in_ndim != 3) {
        rt_cfg_fail(c, "input", "variant 'conv' needs [C, H, W] (%d dimensions given)", m->in_ndim);
        return;
    }
    int64_t f = (int64_t)1 << s->n;
    if (m->in_shape[1] % f || m->in_shape[2] % f)
        rt_cfg_fail(c, "input", "height %lld and width %lld must be divisible by %lld: %d stride-2 stages "
                    "(one per entry of 'channels') halve them", (long long)m->in_shape[1],
                    (long long)m->in_shape[2], (long long)f, s->n);
}

static rt_status vae_parse(rt_cfg *c, rt_model *m, void **out)
{
    static const char *const variants[] = {"linear", "conv", NULL};
    static const char *const acts[] = {"relu", "gelu", "tanh", NULL};
    static const char *const act_names[] = {"relu", "gelu", "tanh", "sigmoid", "none", NULL}; /* enum vae_act */
    static const char *const out_acts[] = {"sigmoid", "tanh", "none", NULL};
    struct vae_settings *s = calloc(1, sizeof *s);
    if (!s) return rt_error(RT_ERR_NOMEM, "%s: out of memory", c->label);
    const char *variant = "linear", *act = "relu", *out_act = "sigmoid";
    s->kernel = 4;
    rt_cfg_str(c, c->root, "variant", true, variants, &variant);
    rt_cfg_int(c, c->root, "latent", true, 1, 1 << 20, &s->latent);
    rt_cfg_bool(c, c->root, "batch_norm", false, &s->batch_norm);
    rt_cfg_str(c, c->root, "activation", false, acts, &act);
    rt_cfg_str(c, c->root, "output_activation", false, out_acts, &out_act);
    if (c->status == RT_OK && m->task != RT_TASK_RECONSTRUCTION)
        rt_cfg_fail(c, "task", "vae supports task 'reconstruction' only");
    if (c->status == RT_OK && m->num_outputs)
        rt_cfg_fail(c, "num_outputs", "not used by vae (the output is the reconstruction, shaped like the input)");
    s->variant = (enum vae_variant)choice(variants, variant);
    s->act = (enum vae_act)choice(act_names, act);
    s->out_act = (enum vae_act)choice(act_names, out_act);
    if (c->status == RT_OK && s->variant == VAE_LINEAR) {
        reject_other(c, "channels", "linear");
        reject_other(c, "kernel", "linear");
        rt_cfg_int_array(c, c->root, "hidden", false, 1, 1 << 20, VAE_MAX_LINEAR, s->sizes, &s->n);
    } else if (c->status == RT_OK) {
        parse_conv(c, m, s);
    }
    if (c->status != RT_OK) {
        free(s);
        return c->status;
    }
    *out = s;
    return RT_OK;
}

static rt_node *activate(rt_graph *g, rt_node *h, enum vae_act act)
{
    switch (act) {
    case ACT_RELU: return rt_relu(g, h);
    case ACT_GELU: return rt_gelu(g, h);
    case ACT_TANH: return rt_tanh(g, h);
    case ACT_SIGMOID: return rt_sigmoid(g, h);
    case ACT_NONE: break;
    }
    return h;
}

/* [norm ->] act, in scope <prefix>.blocks.<i>, tagged "<prefix>.blocks.<i>.out". */
static rt_node *norm_act(rt_graph *g, const struct vae_settings *s, rt_node *h, const char *block, int64_t ch)
{
    char name[RT_NAME_MAX];
    if (s->batch_norm) h = rt_nn_batch_norm(g, h, rt_nn_name(name, block, "norm"), ch, 1e-5f, 0.1f);
    rt_graph_scope(g, "%s", block);
    return rt_tag(activate(g, h, s->act), rt_nn_name(name, block, "out"));
}

/* x (B, F0) -> (B, hidden[-1]) (or x itself without hidden layers) */
static rt_node *encode_linear(rt_graph *g, const struct vae_settings *s, rt_node *h, int64_t *f)
{
    char block[RT_NAME_MAX], name[RT_NAME_MAX];
    for (int i = 0; i < s->n; i++) {
        snprintf(block, sizeof block, "encoder.blocks.%d", i);
        h = rt_nn_linear(g, h, rt_nn_name(name, block, "fc"), *f, s->sizes[i], !s->batch_norm);
        h = norm_act(g, s, h, block, s->sizes[i]);
        *f = s->sizes[i];
    }
    return h;
}

/* z (B, latent) -> (B, F0) */
static rt_node *decode_linear(rt_graph *g, const struct vae_settings *s, rt_node *h, int64_t f0)
{
    char block[RT_NAME_MAX], name[RT_NAME_MAX];
    int64_t f = s->latent;
    for (int i = 0; i <= s->n; i++) {
        bool last = i == s->n;
        int64_t out = last ? f0 : s->sizes[s->n - 1 - i];
        snprintf(block, sizeof block, "decoder.blocks.%d", i);
        h = rt_nn_linear(g, h, rt_nn_name(name, block, "fc"), f, out, last || !s->batch_norm);
        if (!last) h = norm_act(g, s, h, block, out);
        f = out;
    }
    return h;
}

static int conv_pad(const struct vae_settings *s) { return (int)(s->kernel - 1) / 2; }

/* x (B, C, H, W) -> (B, channels[-1], H / 2^n, W / 2^n) */
static rt_node *encode_conv(rt_graph *g, const struct vae_settings *s, rt_node *h, int64_t c)
{
    char block[RT_NAME_MAX], name[RT_NAME_MAX];
    for (int i = 0; i < s->n; i++) {
        snprintf(block, sizeof block, "encoder.blocks.%d", i);
        h = rt_nn_conv2d(g, h, rt_nn_name(name, block, "conv"), c, s->sizes[i], (int)s->kernel, 2, conv_pad(s), 1,
                         !s->batch_norm);
        h = norm_act(g, s, h, block, s->sizes[i]);
        c = s->sizes[i];
    }
    return h;
}

/* h (B, channels[-1], h, w) -> (B, C, H, W) */
static rt_node *decode_conv(rt_graph *g, const struct vae_settings *s, rt_node *h, int64_t c_out)
{
    char block[RT_NAME_MAX], name[RT_NAME_MAX];
    for (int i = 0; i < s->n; i++) {
        bool last = i == s->n - 1;
        int64_t in = s->sizes[s->n - 1 - i], out = last ? c_out : s->sizes[s->n - 2 - i];
        snprintf(block, sizeof block, "decoder.blocks.%d", i);
        h = rt_nn_conv_transpose2d(g, h, rt_nn_name(name, block, "conv"), in, out, (int)s->kernel, 2, conv_pad(s),
                                   (int)(s->kernel % 2), 1, last || !s->batch_norm);
        if (!last) h = norm_act(g, s, h, block, out);
    }
    return h;
}

static rt_node *vae_build(rt_graph *g, const rt_model *m, rt_node *x)
{
    const struct vae_settings *s = m->settings;
    if (!x) return NULL;
    int64_t B = x->out.shape[0], f0 = 1, f;
    for (int i = 0; i < m->in_ndim; i++) f0 *= m->in_shape[i];
    int64_t ch = s->n ? s->sizes[s->n - 1] : 0, hh = 0, ww = 0;
    rt_node *h;
    if (s->variant == VAE_CONV) { /* flatten the last feature map */
        hh = m->in_shape[1] >> s->n;
        ww = m->in_shape[2] >> s->n;
        f = ch * hh * ww;
        h = encode_conv(g, s, x, m->in_shape[0]);
        rt_graph_scope(g, "encoder");
        h = rt_reshape(g, h, RT_DIMS(B, f));
    } else { /* flatten the input */
        f = f0;
        rt_graph_scope(g, "encoder");
        h = encode_linear(g, s, rt_reshape(g, x, RT_DIMS(B, f0)), &f);
    }
    rt_node *mu = rt_tag(rt_nn_linear(g, h, "fc_mu", f, s->latent, true), "mu");
    rt_node *logvar = rt_tag(rt_nn_linear(g, h, "fc_logvar", f, s->latent, true), "logvar");
    rt_graph_scope(g, "fc_mu");
    rt_tag(rt_reshape(g, mu, RT_DIMS(B, s->latent)), "embedding");
    rt_graph_scope(g, "%s", "");
    rt_node *z = rt_tag(rt_gaussian_sample(g, mu, logvar), "z");
    if (s->variant == VAE_CONV) {
        h = rt_nn_linear(g, z, "decoder.fc", s->latent, f, true);
        rt_graph_scope(g, "decoder");
        h = decode_conv(g, s, rt_reshape(g, h, RT_DIMS(B, ch, hh, ww)), m->in_shape[0]);
    } else {
        h = decode_linear(g, s, z, f0);
    }
    rt_graph_scope(g, "decoder");
    h = activate(g, h, s->out_act);
    if (s->variant == VAE_LINEAR) {
        int64_t shape[RT_MAX_DIMS] = {B};
        for (int i = 0; i < m->in_ndim; i++) shape[i + 1] = m->in_shape[i];
        h = rt_reshape(g, h, m->in_ndim + 1, shape);
    }
    return h;
}

const struct rt_arch rt_arch_vae = {.name = "vae", .parse = vae_parse, .build = vae_build};
