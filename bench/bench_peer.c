/* The PyTorch peer: runs bench/peer/peer.py with a JSON request (models as
 * our graphs describe them: depth, sharing, input shape, and every parameter's
 * name and shape) and reads its JSON response (warm img/s per model and
 * batch). peer.py refuses to time a model whose parameters differ from ours.
 *
 * SN_PEER_DEVICE=cuda runs the peer on the GPU (PyTorch + cuDNN).
 * python: --python, $SN_PEER_PYTHON, /usr/bin/python3 (Debian's python3-torch
 * installs there), python3. script: --peer-script, $SN_PEER_SCRIPT, then next
 * to the executable (sharesnet-bench): <bin>/peer/peer.py (build tree, copied
 * there by meson) or <bin>/../share/sharesnet/peer/peer.py (installed). */
#include "bench.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int bench_peer_mode_parse(const char *text, bench_peer_mode *mode)
{
    if (!text || !strcmp(text, "auto"))
        *mode = BENCH_PEER_AUTO;
    else if (!strcmp(text, "on"))
        *mode = BENCH_PEER_ON;
    else if (!strcmp(text, "off"))
        *mode = BENCH_PEER_OFF;
    else {
        fprintf(stderr, "sharesnet: --peer must be auto, on or off, not '%s'\n", text);
        return 0;
    }
    return 1;
}

int bench_peer_supports(const sn_graph *g, char *why, size_t why_size)
{
    if (strcmp(g->family, "cifar-basic") != 0) {
        snprintf(why, why_size, "%s is %s; peer.py builds He et al. CIFAR ResNets only", g->model,
                 g->family);
        return 0;
    }
    if (g->shortcut != 'A') {
        snprintf(why, why_size, "%s uses shortcut %c; peer.py builds option-A shortcuts only",
                 g->model, g->shortcut);
        return 0;
    }
    if (g->policy != SN_SHARE_NONE && g->policy != SN_SHARE_PAPER) {
        snprintf(why, why_size, "%s shares with policy %s; peer.py knows none and paper", g->model,
                 sn_share_policy_name(g->policy));
        return 0;
    }
    return 1;
}

static const char *find_python(const bench_peer_config *cfg)
{
    if (cfg->python)
        return cfg->python;
    const char *env = getenv("SN_PEER_PYTHON");
    if (env && *env)
        return env;
    if (access("/usr/bin/python3", X_OK) == 0)
        return "/usr/bin/python3";
    return "python3";
}

static int find_script(const bench_peer_config *cfg, char *path, size_t size)
{
    const char *given = cfg->script ? cfg->script : getenv("SN_PEER_SCRIPT");
    if (given && *given) {
        snprintf(path, size, "%s", given);
        return access(path, R_OK) == 0;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return 0;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return 0;
    *slash = '\0';
    const char *candidates[] = {"peer/peer.py", "../share/sharesnet/peer/peer.py"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        char joined[PATH_MAX + 64];
        snprintf(joined, sizeof joined, "%s/%s", exe, candidates[i]);
        if (access(joined, R_OK) == 0) {
            char real[PATH_MAX];
            snprintf(path, size, "%s", realpath(joined, real) ? real : joined);
            return 1;
        }
    }
    return 0;
}

static json_t *graph_request(const sn_graph *g)
{
    json_t *params = json_array();
    for (int i = 0; i < g->n_params; i++) {
        const sn_param_spec *p = &g->params[i];
        json_t *shape = json_array();
        for (int d = 0; d < p->ndim; d++)
            json_array_append_new(shape, json_integer(p->shape[d]));
        json_array_append_new(params, json_pack("[s,o]", p->name, shape));
    }
    return json_pack("{s:s,s:s,s:i,s:s,s:i,s:i,s:i,s:I,s:o}", "name", g->model, "family",
                     g->family, "depth", g->depth, "policy", sn_share_policy_name(g->policy),
                     "classes", g->classes, "in_channels", g->in_channels, "size", g->size,
                     "count", (json_int_t)sn_graph_param_count(g), "params", params);
}

static int read_response(const char *path, bench_peer_run *run)
{
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root) {
        fprintf(stderr, "sharesnet: peer: cannot read its response %s: %s\n", path, err.text);
        return 1;
    }
    const char *version = "?";
    json_t *results = NULL;
    int threads = 0;
    if (json_unpack_ex(root, &err, 0, "{s:s,s:i,s:o}", "torch", &version, "threads", &threads,
                       "results", &results) != 0 || !json_is_array(results)) {
        fprintf(stderr, "sharesnet: peer: malformed response %s: %s\n", path, err.text);
        json_decref(root);
        return 1;
    }
    snprintf(run->torch_version, sizeof run->torch_version, "%s", version);
    run->threads = threads;
    size_t n = json_array_size(results);
    run->results = calloc(n ? n : 1, sizeof *run->results);
    if (!run->results) {
        json_decref(root);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        bench_peer_result *r = &run->results[run->n_results];
        const char *model;
        json_int_t params;
        if (json_unpack_ex(json_array_get(results, i), &err, 0,
                           "{s:s,s:i,s:I,s:F,s:F,s:F,s:F}", "model", &model, "batch", &r->batch,
                           "params", &params, "train_img_s", &r->train_img_s, "infer_img_s",
                           &r->infer_img_s, "train_median_s", &r->train_median_s,
                           "infer_median_s", &r->infer_median_s) != 0) {
            fprintf(stderr, "sharesnet: peer: malformed result %zu in %s: %s\n", i, path, err.text);
            json_decref(root);
            return 1;
        }
        snprintf(r->model, sizeof r->model, "%s", model);
        r->params = params;
        run->n_results++;
    }
    json_decref(root);
    return 0;
}

int bench_peer_measure(const bench_peer_config *cfg, const sn_graph *const *graphs, int n_graphs,
                       const int *batches, int n_batches, int warmup, int reps,
                       const sn_sgd_options *sgd, int cores, bench_peer_run *run)
{
    memset(run, 0, sizeof *run);
    if (cfg->mode == BENCH_PEER_OFF) {
        snprintf(run->note, sizeof run->note, "peer: off (--peer off)");
        return 0;
    }
    const char *python = find_python(cfg);
    char script[PATH_MAX + 64];
    char *probe[] = {(char *)python, "-c", "import torch", NULL};
    if (cli_run(probe, NULL, 1) != 0) {
        snprintf(run->note, sizeof run->note,
                 "peer: skipped: PyTorch is missing (%.200s -c 'import torch' failed; Debian: "
                 "apt install python3-torch)", python);
    } else if (!find_script(cfg, script, sizeof script)) {
        snprintf(run->note, sizeof run->note,
                 "peer: skipped: bench/peer/peer.py not found (give --peer-script or "
                 "$SN_PEER_SCRIPT)");
    } else if (n_graphs == 0) {
        snprintf(run->note, sizeof run->note, "peer: skipped: no model it can build");
    }
    if (run->note[0]) {
        if (cfg->mode == BENCH_PEER_ON) {
            fprintf(stderr, "sharesnet: %s\n", run->note);
            return 1;
        }
        return 0;
    }

    const char *tmp = cfg->work_dir ? cfg->work_dir : getenv("TMPDIR");
    char dir[PATH_MAX], request[PATH_MAX + 32], response[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/sn_peer_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "sharesnet: peer: cannot create a directory under %s: %s\n",
                tmp && *tmp ? tmp : "/tmp", strerror(errno));
        return 1;
    }
    snprintf(request, sizeof request, "%s/request.json", dir);
    snprintf(response, sizeof response, "%s/response.json", dir);

    json_t *models = json_array(), *bs = json_array();
    for (int i = 0; i < n_graphs; i++)
        json_array_append_new(models, graph_request(graphs[i]));
    for (int i = 0; i < n_batches; i++)
        json_array_append_new(bs, json_integer(batches[i]));
    json_t *req = json_pack("{s:o,s:o,s:i,s:i,s:i,s:{s:f,s:f,s:f,s:b}}", "models", models,
                            "batches", bs, "warmup", warmup, "reps", reps, "threads", cores,
                            "sgd", "lr", (double)sgd->lr, "momentum", (double)sgd->momentum,
                            "weight_decay", (double)sgd->weight_decay, "nesterov", sgd->nesterov);
    int rc = 1;
    if (!req || json_dump_file(req, request, JSON_INDENT(1)) != 0) {
        fprintf(stderr, "sharesnet: peer: cannot write %s\n", request);
    } else {
        char *argv[] = {(char *)python, script, "--request", request, "--response", response, NULL};
        int status = cli_run(argv, NULL, 0);
        if (status != 0)
            fprintf(stderr, "sharesnet: peer: %s %s failed (exit %d)%s\n", python, script, status,
                    status == 3 ? ": its models differ from ours" : "");
        else
            rc = read_response(response, run);
    }
    json_decref(req);
    remove(request);
    remove(response);
    rmdir(dir);
    if (rc == 0) {
        run->ran = 1;
        /* peer.py runs where $SN_PEER_DEVICE says (cuda: cuDNN on the GPU). */
        const char *where = getenv("SN_PEER_DEVICE");
        snprintf(run->note, sizeof run->note, "peer: PyTorch %s on %s, %d thread(s), %.300s",
                 run->torch_version, where && *where ? where : "the CPU", run->threads, script);
    } else {
        bench_peer_run_free(run);
    }
    return rc;
}

void bench_peer_run_free(bench_peer_run *run)
{
    free(run->results);
    run->results = NULL;
    run->n_results = 0;
}

const bench_peer_result *bench_peer_find(const bench_peer_run *run, const char *model, int batch)
{
    for (int i = 0; run->ran && i < run->n_results; i++)
        if (!strcmp(run->results[i].model, model) && run->results[i].batch == batch)
            return &run->results[i];
    return NULL;
}
