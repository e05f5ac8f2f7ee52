/*
 * fuzz_qfile.c - libFuzzer target for the quantized model file reader
 * (src/quant/qfile.c): safetensors parse, the embedded config, then the
 * checked reading of int8 / q4 payloads and their scales.
 * Build: make fuzz; run: build/fuzz/fuzz_qfile -max_total_time=60 fuzz/seeds/fuzz_qfile
 * Any accepted file must give integer weights whose shapes match the views,
 * and its integer inference graph (batch 1, zero input) must run.
 */
#include "quant/qfile.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rt_model_set_max_params((size_t)1 << 16); /* keep each run small */
    rt_safetensors st;
    if (rt_st_parse(&st, data, size, "fuzz") != RT_OK) return 0;
    const char *cfg = rt_st_meta_get(&st, "config");
    rt_model *m = NULL;
    if (cfg && rt_model_from_json(&m, cfg, strlen(cfg), "fuzz config") == RT_OK &&
        rt_qfile_load_weights(m, &st, "fuzz") == RT_OK) {
        for (int i = 0; i < m->params->n_views; i++) {
            const rt_qmat *q = m->qw->mat[i];
            const rt_param_view *v = &m->params->views[i];
            if (q && (q->N != v->shape[0] || (size_t)(q->N * q->K) != v->numel)) abort();
        }
        rt_graph *g = rt_model_graph(m, 1, RT_PLAN_INFER);
        if (g) {
            rt_node *in = rt_graph_tap(g, "input");
            memset(rt_data(in), 0, (size_t)rt_numel(in) * sizeof(float));
            rt_graph_set_training(g, false);
            rt_graph_forward(g);
            rt_graph_free(g);
        }
    }
    rt_model_free(m);
    rt_st_close(&st);
    return 0;
}
