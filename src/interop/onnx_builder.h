/* Building ONNX protobuf messages (protobuf-c structs generated from
 * onnx.proto) from an arena: every message, string and array of one model
 * lives until onnx_arena_free, so building code needs no per-field cleanup.
 * An allocation failure sets arena->failed and returns NULL; later calls
 * keep going harmlessly and the caller checks `failed` once at the end. */
#ifndef SN_ONNX_BUILDER_H
#define SN_ONNX_BUILDER_H

#include <stddef.h>
#include <stdint.h>

#include "onnx.pb-c.h"

typedef struct onnx_arena {
    void **blocks;
    size_t count, capacity;
    int failed;
} onnx_arena;

void onnx_arena_free(onnx_arena *a);
/* Zeroed memory owned by the arena. */
void *onnx_alloc(onnx_arena *a, size_t size);
char *onnx_strdup(onnx_arena *a, const char *s);

/* A growing array of message pointers (nodes, initializers, ...). */
typedef struct onnx_list {
    void **items;
    size_t count, capacity;
} onnx_list;
void onnx_list_push(onnx_arena *a, onnx_list *l, void *item);

/* Attributes. */
Onnx__AttributeProto *onnx_attr_int(onnx_arena *a, const char *name, int64_t v);
Onnx__AttributeProto *onnx_attr_float(onnx_arena *a, const char *name, float v);
Onnx__AttributeProto *onnx_attr_ints(onnx_arena *a, const char *name, const int64_t *v, size_t n);

/* A node op_type(inputs) -> outputs named `name`, with n_attrs attributes. */
Onnx__NodeProto *onnx_node(onnx_arena *a, const char *op_type, const char *name,
                           const char *const *inputs, size_t n_inputs,
                           const char *const *outputs, size_t n_outputs,
                           Onnx__AttributeProto *const *attrs, size_t n_attrs);

/* Initializers: float32 (data copied in as raw little-endian bytes) and int64. */
Onnx__TensorProto *onnx_tensor_f32(onnx_arena *a, const char *name, const int64_t *dims,
                                   size_t ndim, const float *data);
Onnx__TensorProto *onnx_tensor_i64(onnx_arena *a, const char *name, const int64_t *dims,
                                   size_t ndim, const int64_t *data);

/* A float32 graph input/output; dims[i] < 0 is the symbolic dimension `sym`. */
Onnx__ValueInfoProto *onnx_value_f32(onnx_arena *a, const char *name, const int64_t *dims,
                                     size_t ndim, const char *sym);

Onnx__StringStringEntryProto *onnx_prop(onnx_arena *a, const char *key, const char *value);

#endif
