/* ONNX export: the graph as standard opset-13 nodes, each parameter one
 * initializer (so a shared weight is stored once and referenced by every
 * Conv node that uses it: the file shrinks like the parameter count). BN
 * stays a BatchNormalization node per use instead of being folded into the
 * conv weight, which would need a copy of a shared weight per use. */
#include "interop/interop_internal.h"
#include "interop/onnx_builder.h"
#include "runtime/runtime_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ONNX_OPSET 13
#define ONNX_IR_VERSION 7 /* the IR of opset 13 (ONNX 1.8) */

typedef struct exporter {
    sn_model *m;
    const sn_graph *g;
    onnx_arena arena;
    onnx_list nodes, inits;
    char (*act)[112]; /* ONNX value name of every activation */
} exporter;

static void add_f32(exporter *e, const char *name, const sn_param_spec *shape_of,
                    const float *data, int64_t channels)
{
    int64_t dims[4];
    size_t ndim = shape_of ? (size_t)shape_of->ndim : 1;
    for (size_t d = 0; d < ndim; d++)
        dims[d] = shape_of ? shape_of->shape[d] : channels;
    onnx_list_push(&e->arena, &e->inits, onnx_tensor_f32(&e->arena, name, dims, ndim, data));
}

static void add_i64(exporter *e, const char *name, const int64_t *v, size_t n)
{
    int64_t dims[1] = {(int64_t)n};
    onnx_list_push(&e->arena, &e->inits, onnx_tensor_i64(&e->arena, name, dims, 1, v));
}

static void add_node(exporter *e, const char *op, const char *name, const char *const *in,
                     size_t n_in, const char *out, Onnx__AttributeProto *const *attrs,
                     size_t n_attrs)
{
    onnx_list_push(&e->arena, &e->nodes,
                   onnx_node(&e->arena, op, name, in, n_in, &out, 1, attrs, n_attrs));
}

/* Every parameter once, under its graph name; BN running statistics. */
static sn_status add_initializers(exporter *e)
{
    const sn_graph *g = e->g;
    for (int i = 0; i < g->n_params; i++) {
        float *host;
        SN_TRY(sn_interop_download(sn_model_param(e->m, i, SN_PARAM_VALUE), g->params[i].name,
                                   &host));
        add_f32(e, g->params[i].name, &g->params[i], host, 0);
        free(host);
    }
    for (int l = 0; l < g->n_layers; l++) {
        const sn_layer_spec *L = &g->layers[l];
        if (L->op != SN_OP_BN)
            continue;
        char name[128];
        const sn_tensor *stats[2] = {sn_model_bn_running_mean(e->m, l),
                                     sn_model_bn_running_var(e->m, l)};
        for (int k = 0; k < 2; k++) {
            snprintf(name, sizeof name, "%s.%s", L->name, k ? "running_var" : "running_mean");
            float *host;
            SN_TRY(sn_interop_download(stats[k], name, &host));
            add_f32(e, name, NULL, host, g->acts[L->out].c);
            free(host);
        }
    }
    return SN_OK;
}

/* x[:, :, ::s, ::s] then zero channels on both sides, as the option-A kernel
 * (kernels/shortcut.cl: (OC - C) / 2 before). */
static void add_shortcut_a(exporter *e, const sn_layer_spec *L)
{
    const sn_act_shape x = e->g->acts[L->in], y = e->g->acts[L->out];
    char names[5][128], sliced[128];
    static const char *const what[5] = {"starts", "ends", "axes", "steps", "pads"};
    for (int k = 0; k < 5; k++)
        snprintf(names[k], sizeof names[k], "%s.%s", L->name, what[k]);
    int64_t starts[2] = {0, 0}, ends[2] = {INT64_MAX, INT64_MAX}, axes[2] = {2, 3};
    int64_t steps[2] = {L->stride, L->stride};
    int64_t before = (y.c - x.c) / 2;
    int64_t pads[8] = {0, before, 0, 0, 0, y.c - x.c - before, 0, 0};
    add_i64(e, names[0], starts, 2);
    add_i64(e, names[1], ends, 2);
    add_i64(e, names[2], axes, 2);
    add_i64(e, names[3], steps, 2);
    add_i64(e, names[4], pads, 8);
    char slice[128];
    snprintf(slice, sizeof slice, "%s.slice", L->name);
    snprintf(sliced, sizeof sliced, "%s.subsampled", L->name);
    const char *slice_in[5] = {e->act[L->in], names[0], names[1], names[2], names[3]};
    add_node(e, "Slice", slice, slice_in, 5, sliced, NULL, 0);
    const char *pad_in[2] = {sliced, names[4]};
    add_node(e, "Pad", L->name, pad_in, 2, e->act[L->out], NULL, 0);
}

static sn_status add_layer(exporter *e, const sn_layer_spec *L)
{
    const sn_graph *g = e->g;
    onnx_arena *a = &e->arena;
    const char *out = e->act[L->out];
    int64_t k2[2] = {L->kernel, L->kernel}, s2[2] = {L->stride, L->stride};
    int64_t p4[4] = {L->pad, L->pad, L->pad, L->pad};
    switch (L->op) {
    case SN_OP_CONV: {
        const char *in[2] = {e->act[L->in], g->params[L->weight].name};
        Onnx__AttributeProto *at[3] = {onnx_attr_ints(a, "kernel_shape", k2, 2),
                                       onnx_attr_ints(a, "strides", s2, 2),
                                       onnx_attr_ints(a, "pads", p4, 4)};
        add_node(e, "Conv", L->name, in, 2, out, at, 3);
        return SN_OK;
    }
    case SN_OP_BN: {
        char mean[128], var[128];
        snprintf(mean, sizeof mean, "%s.running_mean", L->name);
        snprintf(var, sizeof var, "%s.running_var", L->name);
        const char *in[5] = {e->act[L->in], g->params[L->weight].name, g->params[L->bias].name,
                             mean, var};
        Onnx__AttributeProto *at[1] = {onnx_attr_float(a, "epsilon", SN_BN_EPS)};
        add_node(e, "BatchNormalization", L->name, in, 5, out, at, 1);
        return SN_OK;
    }
    case SN_OP_RELU:
        add_node(e, "Relu", L->name, (const char *const[]){e->act[L->in]}, 1, out, NULL, 0);
        return SN_OK;
    case SN_OP_ADD:
        add_node(e, "Add", L->name, (const char *const[]){e->act[L->in], e->act[L->in2]}, 2,
                 out, NULL, 0);
        return SN_OK;
    case SN_OP_SHORTCUT_A:
        add_shortcut_a(e, L);
        return SN_OK;
    case SN_OP_MAXPOOL: {
        Onnx__AttributeProto *at[3] = {onnx_attr_ints(a, "kernel_shape", k2, 2),
                                       onnx_attr_ints(a, "strides", s2, 2),
                                       onnx_attr_ints(a, "pads", p4, 4)};
        add_node(e, "MaxPool", L->name, (const char *const[]){e->act[L->in]}, 1, out, at, 3);
        return SN_OK;
    }
    case SN_OP_GAP:
        add_node(e, "GlobalAveragePool", L->name, (const char *const[]){e->act[L->in]}, 1, out,
                 NULL, 0);
        return SN_OK;
    case SN_OP_LINEAR: {
        /* [N,C,1,1] -> [N,C] -> x W^T + b */
        char flat[128];
        snprintf(flat, sizeof flat, "%s.flat", L->name);
        Onnx__AttributeProto *axis[1] = {onnx_attr_int(a, "axis", 1)};
        add_node(e, "Flatten", flat, (const char *const[]){e->act[L->in]}, 1, flat, axis, 1);
        const char *in[3] = {flat, g->params[L->weight].name, g->params[L->bias].name};
        Onnx__AttributeProto *at[1] = {onnx_attr_int(a, "transB", 1)};
        add_node(e, "Gemm", L->name, in, 3, out, at, 1);
        return SN_OK;
    }
    }
    return sn_fail(SN_ERR_INTERNAL, "export onnx: layer %s has op %d, which has no ONNX form",
                   L->name, (int)L->op);
}

static sn_status add_metadata(exporter *e, const sn_train_state *s, onnx_list *props)
{
    char *sharing;
    SN_TRY(sn_sharing_map_json(e->g, &sharing));
    char mean[256], std[256];
    sn_interop_norm_strings(s, mean, std, sizeof mean);
    const char *kv[][2] = {
        {"sharesnet.model", e->g->model},
        {"sharesnet.policy", sn_share_policy_name(e->g->policy)},
        {"sharesnet.sharing", sharing},
        {"norm_mean", mean},
        {"norm_std", std},
        {"class_names", s ? s->class_names : ""},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        onnx_list_push(&e->arena, props, onnx_prop(&e->arena, kv[i][0], kv[i][1]));
    free(sharing);
    return SN_OK;
}

typedef struct packed {
    uint8_t *data;
    size_t size;
} packed;

static int write_packed(FILE *f, void *user)
{
    const packed *p = user;
    /* The temp file is created 0600; a model is meant to be shared (0644, as
     * our safetensors files). Set before the rename, so atomically. */
    return fchmod(fileno(f), 0644) == 0 && fwrite(p->data, 1, p->size, f) == p->size;
}

static sn_status build_and_write(exporter *e, const sn_train_state *s, const char *path)
{
    const sn_graph *g = e->g;
    onnx_arena *a = &e->arena;
    for (int l = 0; l < g->n_layers; l++)
        snprintf(e->act[g->layers[l].out], sizeof e->act[0], "%s", g->layers[l].name);
    snprintf(e->act[0], sizeof e->act[0], "input");
    snprintf(e->act[g->logits], sizeof e->act[0], "logits");
    SN_TRY(add_initializers(e));
    for (int l = 0; l < g->n_layers; l++)
        SN_TRY(add_layer(e, &g->layers[l]));
    onnx_list props = {0};
    SN_TRY(add_metadata(e, s, &props));

    int64_t in_dims[4] = {-1, g->in_channels, g->size, g->size}, out_dims[2] = {-1, g->classes};
    Onnx__ValueInfoProto *input = onnx_value_f32(a, "input", in_dims, 4, "N");
    Onnx__ValueInfoProto *output = onnx_value_f32(a, "logits", out_dims, 2, "N");
    Onnx__GraphProto *graph = onnx_alloc(a, sizeof *graph);
    Onnx__ModelProto *model = onnx_alloc(a, sizeof *model);
    Onnx__OperatorSetIdProto *opset = onnx_alloc(a, sizeof *opset);
    Onnx__ValueInfoProto **ins = onnx_alloc(a, sizeof *ins), **outs = onnx_alloc(a, sizeof *outs);
    Onnx__OperatorSetIdProto **opsets = onnx_alloc(a, sizeof *opsets);
    if (a->failed || !input || !output || !graph || !model || !opset || !ins || !outs || !opsets)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "export onnx %s: out of host memory", path);
    onnx__graph_proto__init(graph);
    graph->name = onnx_strdup(a, g->model);
    graph->n_node = e->nodes.count;
    graph->node = (Onnx__NodeProto **)e->nodes.items;
    graph->n_initializer = e->inits.count;
    graph->initializer = (Onnx__TensorProto **)e->inits.items;
    ins[0] = input;
    outs[0] = output;
    graph->n_input = graph->n_output = 1;
    graph->input = ins;
    graph->output = outs;
    onnx__operator_set_id_proto__init(opset);
    opset->domain = "";
    opset->has_version = 1;
    opset->version = ONNX_OPSET;
    opsets[0] = opset;
    onnx__model_proto__init(model);
    model->has_ir_version = 1;
    model->ir_version = ONNX_IR_VERSION;
    model->n_opset_import = 1;
    model->opset_import = opsets;
    model->producer_name = "sharesnet";
    model->graph = graph;
    model->n_metadata_props = props.count;
    model->metadata_props = (Onnx__StringStringEntryProto **)props.items;

    packed p = {NULL, onnx__model_proto__get_packed_size(model)};
    p.data = malloc(p.size ? p.size : 1);
    if (!p.data)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "export onnx %s: out of host memory for %zu bytes",
                       path, p.size);
    size_t written = onnx__model_proto__pack(model, p.data);
    sn_status st = written == p.size
                       ? sn_file_write_atomic(path, "ONNX model", SN_FILE_EXPORT, write_packed, &p)
                       : sn_fail(SN_ERR_INTERNAL, "export onnx %s: packed %zu of %zu bytes", path,
                                 written, p.size);
    free(p.data);
    return st;
}

sn_status sn_export_onnx(sn_model *m, const sn_train_state *state, const char *path)
{
    if (!m || !path)
        return sn_fail(SN_ERR_INVALID_ARG, "export onnx: model and path are required");
    exporter e = {.m = m, .g = sn_model_graph(m)};
    e.act = calloc((size_t)e.g->n_acts, sizeof *e.act);
    if (!e.act)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "export onnx %s: out of host memory", path);
    sn_status st = build_and_write(&e, state, path);
    free(e.act);
    onnx_arena_free(&e.arena);
    return st;
}
