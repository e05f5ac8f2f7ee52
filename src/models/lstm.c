/*
 * lstm.c - "lstm": a multi-layer LSTM encoder over frames, the last step's
 * hidden state as the utterance vector, an optional projection to the
 * embedding, and an optional LSTM autoencoder that reconstructs the frames
 * from the embedding.
 *
 * input [T, F] (T frames of F features, e.g. log-mel bins; `retort
 * features` writes (F, T), so transpose) -> encoder (nn.LSTM(F, hidden,
 * layers, batch_first=True), zero initial state) -> top layer's hidden
 * state at the last step (B, hidden) -> [embedding Linear(hidden,
 * embed_dim)] -> embedding (B, D), D = embed_dim or hidden -> [head].
 * Autoencoder ("decoder" present): the embedding repeated over the T steps
 * (B, T, D) -> decoder (nn.LSTM(D, decoder.hidden, decoder.layers,
 * batch_first=True)) -> reconstruct Linear(decoder.hidden, F) per frame
 * -> (B, T, F).
 * The repeat is rt_repeat (embedding.unsqueeze(1).expand(B, T, D)).
 *
 * Fields, defaults in ():
 *   "hidden"      encoder hidden size (required)
 *   "layers"      encoder layers (1)
 *   "embed_dim"   size of the projection after the encoder (none: the
 *                 embedding is the last hidden state itself)
 *   "dropout"     p on the outputs of every LSTM layer but the last of the
 *                 encoder and of the decoder, as nn.LSTM's dropout (0)
 *   "decoder": {  the autoencoder's decoder (absent: no autoencoder)
 *     "hidden": decoder hidden size (the encoder's),
 *     "layers": decoder layers (the encoder's)
 *   }
 *   task "embedding" (output = the embedding), "reconstruction" (output =
 *   the reconstruction; needs "decoder"), "classification" or "regression"
 *   (a Linear head on the embedding).
 *
 * Names: encoder.{weight_ih,weight_hh,bias_ih,bias_hh}_l<k>, embedding.*,
 * decoder.{...}_l<k>, reconstruct.*, head.* (the twin's module attributes).
 * Tags: "blocks.<k>.out" (encoder layer k's output (B, T, hidden)),
 * "pooled" (last step, (B, hidden)), "embedding" ((B, D)),
 * "reconstruction" ((B, T, F), with a decoder), "output".
 * PyTorch twin: tests/fixtures/ref/lstm.py.
 */
#include "models/model.h"

#include "core/ops.h"
#include "nn/nn.h"

#define LSTM_MAX_LAYERS 64

struct lstm_settings {
    int64_t hidden, layers, embed_dim; /* embed_dim 0: no projection */
    bool decoder;
    int64_t dec_hidden, dec_layers;
    double dropout;
};

static rt_status lstm_parse(rt_cfg *c, rt_model *m, void **out)
{
    struct lstm_settings *s = calloc(1, sizeof *s);
    if (!s) return rt_error(RT_ERR_NOMEM, "%s: out of memory", c->label);
    s->layers = 1;
    rt_cfg_int(c, c->root, "hidden", true, 1, 1 << 16, &s->hidden);
    rt_cfg_int(c, c->root, "layers", false, 1, LSTM_MAX_LAYERS, &s->layers);
    rt_cfg_int(c, c->root, "embed_dim", false, 1, 1 << 16, &s->embed_dim);
    rt_cfg_num(c, c->root, "dropout", false, 0.0, 0.99, &s->dropout);
    const cJSON *dec = rt_cfg_obj(c, c->root, "decoder", false);
    s->dec_hidden = s->hidden;
    s->dec_layers = s->layers;
    if (dec) {
        s->decoder = true;
        rt_cfg_int(c, dec, "hidden", false, 1, 1 << 16, &s->dec_hidden);
        rt_cfg_int(c, dec, "layers", false, 1, LSTM_MAX_LAYERS, &s->dec_layers);
    }
    if (c->status == RT_OK && m->in_ndim != 2) rt_cfg_fail(c, "input", "expected [T, F] (frames, features)");
    if (c->status == RT_OK && m->task == RT_TASK_RECONSTRUCTION && !s->decoder)
        rt_cfg_fail(c, "task", "'reconstruction' needs a \"decoder\"");
    if (c->status != RT_OK) {
        free(s);
        return c->status;
    }
    *out = s;
    return RT_OK;
}

/* `layers` LSTM layers named `name` (nn.LSTM's <name>.weight_ih_l<k> ...),
 * dropout between them; tags layer k's output "<tag_prefix>.<k>.out" if a
 * prefix is given. */
static rt_node *lstm_stack(rt_graph *g, rt_node *h, const char *name, int64_t in, int64_t hidden, int64_t layers,
                           double dropout, const char *tag_prefix)
{
    for (int k = 0; k < (int)layers; k++) {
        h = rt_nn_lstm_layer(g, h, name, k, k ? hidden : in, hidden, true);
        if (tag_prefix) {
            char t[RT_LABEL_MAX];
            snprintf(t, sizeof t, "%s.%d.out", tag_prefix, k);
            rt_tag(h, t);
        }
        if (dropout > 0 && k + 1 < layers) h = rt_dropout(g, h, (float)dropout);
    }
    return h;
}

static rt_node *lstm_build(rt_graph *g, const rt_model *m, rt_node *x)
{
    const struct lstm_settings *s = m->settings;
    int64_t T = m->in_shape[0], F = m->in_shape[1], H = s->hidden, D = s->embed_dim ? s->embed_dim : H;
    rt_node *h = lstm_stack(g, x, "encoder", F, H, s->layers, s->dropout, "blocks");
    rt_graph_scope(g, "%s", "");
    rt_node *last = rt_tag(rt_reshape(g, rt_slice(g, h, 1, T - 1, T), RT_DIMS(-1, H)), "pooled");
    rt_node *e = s->embed_dim ? rt_nn_linear(g, last, "embedding", H, D, true)
                              : rt_reshape(g, last, RT_DIMS(-1, H)); /* one tag a node: a copy */
    rt_tag(e, "embedding");
    rt_node *recon = NULL;
    if (s->decoder) {
        rt_graph_scope(g, "%s", "");
        rt_node *d = rt_repeat(g, e, 1, T);
        d = lstm_stack(g, d, "decoder", D, s->dec_hidden, s->dec_layers, s->dropout, NULL);
        recon = rt_tag(rt_nn_linear(g, d, "reconstruct", s->dec_hidden, F, true), "reconstruction");
    }
    switch (m->task) {
    case RT_TASK_RECONSTRUCTION: /* copies: the output node needs its own tag */
        return rt_reshape(g, recon, RT_DIMS(-1, T, F));
    case RT_TASK_EMBEDDING:
        rt_graph_scope(g, "%s", s->embed_dim ? "embedding" : "");
        return rt_reshape(g, e, RT_DIMS(-1, D));
    default:
        return rt_nn_linear(g, e, "head", D, m->num_outputs, true);
    }
}

const struct rt_arch rt_arch_lstm = {.name = "lstm", .parse = lstm_parse, .build = lstm_build};
