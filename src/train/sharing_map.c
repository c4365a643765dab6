/* The sharing map: which layers use each shared parameter. Recorded in
 * checkpoints (and ONNX metadata) so that a reader need not re-derive the
 * family's sharing rule, and checked on load against the rebuilt graph. */
#include "sharesnet/interop.h"
#include "runtime/error_internal.h"

#include <jansson.h>
#include <stdlib.h>

static json_t *build_map(const sn_graph *g)
{
    json_t *map = json_object();
    for (int p = 0; map && p < g->n_params; p++) {
        if (g->params[p].uses < 2)
            continue;
        json_t *users = json_array();
        for (int l = 0; users && l < g->n_layers; l++)
            if (g->layers[l].weight == p && json_array_append_new(users, json_string(g->layers[l].name)))
                break;
        if (!users || json_object_set_new(map, g->params[p].name, users)) {
            json_decref(map);
            return NULL;
        }
    }
    return map;
}

sn_status sn_sharing_map_json(const sn_graph *g, char **json)
{
    *json = NULL;
    json_t *map = build_map(g);
    /* JSON_PRESERVE_ORDER: parameters in graph order, stable across runs. */
    *json = map ? json_dumps(map, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(map);
    if (!*json)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "sharing map of %s: out of host memory", g->model);
    return SN_OK;
}

sn_status sn_sharing_map_check(const sn_graph *g, const char *json, const char *what)
{
    json_error_t err;
    json_t *recorded = json_loads(json, 0, &err);
    if (!recorded || !json_is_object(recorded)) {
        json_decref(recorded);
        return sn_fail(SN_ERR_FORMAT, "%s: sharing map is not a JSON object (%s)", what,
                       recorded ? "another JSON value" : err.text);
    }
    json_t *expected = build_map(g);
    if (!expected) {
        json_decref(recorded);
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "%s: out of host memory", what);
    }
    sn_status st = SN_OK;
    const char *key;
    json_t *value;
    json_object_foreach(expected, key, value) {
        json_t *other = json_object_get(recorded, key);
        if (!json_equal(value, other)) {
            st = sn_fail(SN_ERR_FORMAT, "%s: sharing map gives %s %s users, model %s expects %zu",
                         what, key, other ? "other" : "no", g->model, json_array_size(value));
            break;
        }
    }
    json_object_foreach(recorded, key, value) {
        if (st == SN_OK && !json_object_get(expected, key))
            st = sn_fail(SN_ERR_FORMAT, "%s: sharing map shares %s, which model %s (policy %s) "
                         "does not share", what, key, g->model, sn_share_policy_name(g->policy));
    }
    json_decref(recorded);
    json_decref(expected);
    return st;
}
