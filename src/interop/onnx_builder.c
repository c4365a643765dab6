/* ONNX messages from an arena (see onnx_builder.h). */
#include "interop/onnx_builder.h"

#include <stdlib.h>
#include <string.h>

void onnx_arena_free(onnx_arena *a)
{
    for (size_t i = 0; i < a->count; i++)
        free(a->blocks[i]);
    free(a->blocks);
    memset(a, 0, sizeof *a);
}

void *onnx_alloc(onnx_arena *a, size_t size)
{
    if (a->failed)
        return NULL;
    if (a->count == a->capacity) {
        size_t cap = a->capacity ? 2 * a->capacity : 256;
        void **blocks = realloc(a->blocks, cap * sizeof *blocks);
        if (!blocks) {
            a->failed = 1;
            return NULL;
        }
        a->blocks = blocks;
        a->capacity = cap;
    }
    void *p = calloc(1, size ? size : 1);
    if (!p) {
        a->failed = 1;
        return NULL;
    }
    a->blocks[a->count++] = p;
    return p;
}

char *onnx_strdup(onnx_arena *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = onnx_alloc(a, n);
    if (p)
        memcpy(p, s, n);
    return p;
}

void onnx_list_push(onnx_arena *a, onnx_list *l, void *item)
{
    if (!item) {
        a->failed = 1;
        return;
    }
    if (l->count == l->capacity) {
        size_t cap = l->capacity ? 2 * l->capacity : 64;
        void **items = onnx_alloc(a, cap * sizeof *items);
        if (!items)
            return;
        if (l->count)
            memcpy(items, l->items, l->count * sizeof *items);
        l->items = items; /* the old array stays in the arena until the end */
        l->capacity = cap;
    }
    l->items[l->count++] = item;
}

static Onnx__AttributeProto *attr(onnx_arena *a, const char *name,
                                  Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *p = onnx_alloc(a, sizeof *p);
    if (!p)
        return NULL;
    onnx__attribute_proto__init(p);
    p->name = onnx_strdup(a, name);
    p->has_type = 1;
    p->type = type;
    return p;
}

Onnx__AttributeProto *onnx_attr_int(onnx_arena *a, const char *name, int64_t v)
{
    Onnx__AttributeProto *p = attr(a, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (p) {
        p->has_i = 1;
        p->i = v;
    }
    return p;
}

Onnx__AttributeProto *onnx_attr_float(onnx_arena *a, const char *name, float v)
{
    Onnx__AttributeProto *p = attr(a, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (p) {
        p->has_f = 1;
        p->f = v;
    }
    return p;
}

Onnx__AttributeProto *onnx_attr_ints(onnx_arena *a, const char *name, const int64_t *v, size_t n)
{
    Onnx__AttributeProto *p = attr(a, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *ints = onnx_alloc(a, n * sizeof *ints);
    if (!p || !ints)
        return NULL;
    memcpy(ints, v, n * sizeof *ints);
    p->n_ints = n;
    p->ints = ints;
    return p;
}

/* An arena copy of n strings. */
static char **strings(onnx_arena *a, const char *const *s, size_t n)
{
    char **out = onnx_alloc(a, n * sizeof *out);
    for (size_t i = 0; out && i < n; i++)
        out[i] = onnx_strdup(a, s[i]);
    return out;
}

Onnx__NodeProto *onnx_node(onnx_arena *a, const char *op_type, const char *name,
                           const char *const *inputs, size_t n_inputs,
                           const char *const *outputs, size_t n_outputs,
                           Onnx__AttributeProto *const *attrs, size_t n_attrs)
{
    Onnx__NodeProto *node = onnx_alloc(a, sizeof *node);
    Onnx__AttributeProto **at = onnx_alloc(a, n_attrs * sizeof *at);
    if (!node || !at)
        return NULL;
    onnx__node_proto__init(node);
    node->op_type = onnx_strdup(a, op_type);
    node->name = onnx_strdup(a, name);
    node->n_input = n_inputs;
    node->input = strings(a, inputs, n_inputs);
    node->n_output = n_outputs;
    node->output = strings(a, outputs, n_outputs);
    for (size_t i = 0; i < n_attrs; i++)
        if (!(at[i] = attrs[i]))
            a->failed = 1;
    node->n_attribute = n_attrs;
    node->attribute = at;
    return a->failed ? NULL : node;
}

static Onnx__TensorProto *tensor(onnx_arena *a, const char *name, const int64_t *dims,
                                 size_t ndim, Onnx__TensorProto__DataType type, const void *data,
                                 size_t bytes)
{
    Onnx__TensorProto *t = onnx_alloc(a, sizeof *t);
    int64_t *d = onnx_alloc(a, ndim * sizeof *d);
    uint8_t *raw = onnx_alloc(a, bytes);
    if (!t || !d || !raw)
        return NULL;
    onnx__tensor_proto__init(t);
    t->name = onnx_strdup(a, name);
    memcpy(d, dims, ndim * sizeof *d);
    t->n_dims = ndim;
    t->dims = d;
    t->has_data_type = 1;
    t->data_type = type;
    /* raw_data is little-endian, as the host (sharesnet targets little-endian
     * hosts only, see safetensors.h). */
    memcpy(raw, data, bytes);
    t->has_raw_data = 1;
    t->raw_data.len = bytes;
    t->raw_data.data = raw;
    return t;
}

static size_t numel(const int64_t *dims, size_t ndim)
{
    size_t n = 1;
    for (size_t i = 0; i < ndim; i++)
        n *= (size_t)dims[i];
    return n;
}

Onnx__TensorProto *onnx_tensor_f32(onnx_arena *a, const char *name, const int64_t *dims,
                                   size_t ndim, const float *data)
{
    return tensor(a, name, dims, ndim, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, data,
                  numel(dims, ndim) * sizeof *data);
}

Onnx__TensorProto *onnx_tensor_i64(onnx_arena *a, const char *name, const int64_t *dims,
                                   size_t ndim, const int64_t *data)
{
    return tensor(a, name, dims, ndim, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, data,
                  numel(dims, ndim) * sizeof *data);
}

Onnx__ValueInfoProto *onnx_value_f32(onnx_arena *a, const char *name, const int64_t *dims,
                                     size_t ndim, const char *sym)
{
    Onnx__ValueInfoProto *v = onnx_alloc(a, sizeof *v);
    Onnx__TypeProto *type = onnx_alloc(a, sizeof *type);
    Onnx__TypeProto__Tensor *tt = onnx_alloc(a, sizeof *tt);
    Onnx__TensorShapeProto *shape = onnx_alloc(a, sizeof *shape);
    Onnx__TensorShapeProto__Dimension **dim = onnx_alloc(a, ndim * sizeof *dim);
    if (!v || !type || !tt || !shape || !dim)
        return NULL;
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(type);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(shape);
    for (size_t i = 0; i < ndim; i++) {
        Onnx__TensorShapeProto__Dimension *d = onnx_alloc(a, sizeof *d);
        if (!d)
            return NULL;
        onnx__tensor_shape_proto__dimension__init(d);
        if (dims[i] < 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = onnx_strdup(a, sym);
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[i];
        }
        dim[i] = d;
    }
    shape->n_dim = ndim;
    shape->dim = dim;
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = shape;
    type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    type->tensor_type = tt;
    v->name = onnx_strdup(a, name);
    v->type = type;
    return v;
}

Onnx__StringStringEntryProto *onnx_prop(onnx_arena *a, const char *key, const char *value)
{
    Onnx__StringStringEntryProto *p = onnx_alloc(a, sizeof *p);
    if (!p)
        return NULL;
    onnx__string_string_entry_proto__init(p);
    p->key = onnx_strdup(a, key);
    p->value = onnx_strdup(a, value);
    return p;
}
