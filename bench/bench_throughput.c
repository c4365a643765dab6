/* `sharesnet bench throughput` (and `bench peer`): warm train-step and
 * inference img/s of every model of a list at several batch sizes on every
 * device found (or those selected), with the device's name, driver and
 * OpenCL version; optionally next to PyTorch on the CPU. Markdown on stdout,
 * JSON with --json (bench/merge_throughput.py puts several side by side). */
#include "bench.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ITEMS 16

static const char usage_throughput[] =
    "usage: sharesnet bench throughput [--model M[,M...]] [--batch B[,B...]] [--in-ch C] [--size S]\n"
    "                                  [--device X[,X...]] [--quick] [--json FILE] [--peer auto|on|off]\n\n"
    "Warm train-step (upload, forward, backward, SGD step) and inference (upload, forward) img/s\n"
    "of each model at each batch size on each device (default: every device found). Each figure\n"
    "is the median of --reps timed steps after --warmup untimed ones, each step between two\n"
    "clFinish calls. With PyTorch installed (Debian python3-torch) the He CIFAR models are also\n"
    "timed in PyTorch on the CPU (bench/peer/peer.py) and the ratio printed.\n"
    "Defaults: --model resnet20,sharesnet20, --batch 32,128 (--quick: 16), --reps 10 (--quick: 3),\n"
    "--warmup 3, --peer auto.";

static const char usage_peer[] =
    "usage: sharesnet bench peer [--model M[,M...]] [--batch B[,B...]] [--in-ch C] [--size S]\n"
    "                            [--device X] [--quick] [--json FILE]\n\n"
    "Our warm train / inference img/s next to PyTorch's on the CPU for the same models (He et al.\n"
    "CIFAR ResNets and ShaResNets, built by bench/peer/peer.py to match our graphs: parameter\n"
    "names, shapes and count are checked), same recipe (SGD, Nesterov 0.9, weight decay 5e-4),\n"
    "torch.set_num_threads(online CPUs). Default device: cpu. Without PyTorch a line says so and\n"
    "only our figures are printed. Same options and defaults as `bench throughput`.";

typedef struct tp_result {
    int device;              /* index into the device array */
    int model, batch;        /* indices */
    int ok;
    char error[256];
    bench_speed speed;
} tp_result;

typedef struct tp_device {
    sn_device_info info;
    int ok;
    char error[512];
    char program[32];        /* compiled / from cache / from binary */
    double program_seconds;
} tp_device;

typedef struct tp_run {
    char list[1024], devlist[1024];
    char *models[MAX_ITEMS];
    int n_models;
    sn_graph *graphs[MAX_ITEMS];
    int batches[MAX_ITEMS], n_batches;
    int warmup, reps, quick;
    tp_device *devices;
    int n_devices;
    tp_result *results;
    int n_results;
    bench_peer_run peer;
    bench_machine machine;
    sn_sgd_options sgd;
} tp_run;

static int select_devices(const char *given, tp_run *r)
{
    if (!given || !strcmp(given, "all")) {
        sn_device_info *all = NULL;
        int n = 0;
        sn_status st = sn_devices_list(&all, &n);
        if (st != SN_OK)
            return cli_error("devices", st);
        r->devices = calloc((size_t)n, sizeof *r->devices);
        if (!r->devices) {
            free(all);
            return 1;
        }
        for (int i = 0; i < n; i++)
            r->devices[i].info = all[i];
        r->n_devices = n;
        free(all);
        return 0;
    }
    snprintf(r->devlist, sizeof r->devlist, "%s", given);
    char *sel[MAX_ITEMS];
    int n = bench_split(r->devlist, sel, MAX_ITEMS);
    if (n <= 0) {
        fprintf(stderr, "sharesnet: --device expects 1 to %d comma-separated selectors\n", MAX_ITEMS);
        return 2;
    }
    r->devices = calloc((size_t)n, sizeof *r->devices);
    if (!r->devices)
        return 1;
    for (int i = 0; i < n; i++) {
        sn_device_info info;
        sn_status st = sn_device_select(sel[i], &info);
        if (st != SN_OK)
            return cli_error("device", st);
        int dup = 0;
        for (int k = 0; k < r->n_devices; k++)
            dup |= r->devices[k].info.platform_index == info.platform_index &&
                   r->devices[k].info.device_index == info.device_index;
        if (!dup)
            r->devices[r->n_devices++].info = info;
    }
    return 0;
}

static void print_device(const tp_device *d)
{
    const sn_device_info *i = &d->info;
    printf("- device %d:%d: %s (%s, %s, %u compute units, %.1f GiB)\n", i->platform_index,
           i->device_index, i->name, sn_device_type_name(i->type), i->vendor, i->compute_units,
           (double)i->global_mem_bytes / (1024.0 * 1024 * 1024));
    printf("  platform %s (%s), driver %s, %s, %s\n", i->platform, i->platform_version,
           i->driver_version, i->device_version, i->c_version);
}

/* One device: every model at every batch. */
static void run_device(tp_run *r, int di)
{
    tp_device *d = &r->devices[di];
    char sel[32];
    snprintf(sel, sizeof sel, "%d:%d", d->info.platform_index, d->info.device_index);
    sn_context_options o;
    sn_context_options_default(&o);
    o.device = sel;
    sn_context *ctx = NULL;
    printf("\n");
    print_device(d);
    sn_status st = sn_context_create(&o, &ctx);
    /* Every kernel family now, so that no compile falls into a timing. */
    if (st == SN_OK && (st = sn_context_build_kernels(ctx)) != SN_OK) {
        sn_context_free(ctx);
        ctx = NULL;
    }
    if (st != SN_OK) {
        snprintf(d->error, sizeof d->error, "%s (%s)", sn_last_error(), sn_status_name(st));
        printf("  skipped: %s\n", d->error);
        fflush(stdout);
        return;
    }
    d->ok = 1;
    snprintf(d->program, sizeof d->program, "%s", sn_program_origin_name(sn_context_program_origin(ctx)));
    d->program_seconds = sn_context_program_seconds(ctx);
    printf("  kernels %s in %.2f s (not counted)\n\n", d->program, d->program_seconds);
    printf("| device | model | parameters | batch | mode | img/s | median ms | min ms | max ms | "
           "peak device |\n");
    printf("|---|---|--:|--:|---|--:|--:|--:|--:|--:|\n");
    fflush(stdout);
    for (int mi = 0; mi < r->n_models; mi++) {
        const sn_graph *g = r->graphs[mi];
        char params[32];
        bench_grouped(params, sizeof params, sn_graph_param_count(g));
        for (int bi = 0; bi < r->n_batches; bi++) {
            tp_result *res = &r->results[r->n_results++];
            memset(res, 0, sizeof *res);
            res->device = di;
            res->model = mi;
            res->batch = bi;
            sn_model *m = NULL;
            st = sn_model_create(ctx, g, r->batches[bi], 1, &m);
            if (st == SN_OK)
                st = bench_model_speed(ctx, m, r->batches[bi], BENCH_TRAIN | BENCH_INFER,
                                       r->warmup, r->reps, &r->sgd, &res->speed);
            sn_model_free(m);
            if (st != SN_OK && cli_dist()) { /* the others wait in an all-reduce: end the job */
                cli_error(g->model, st);
                return;
            }
            if (st != SN_OK) {
                snprintf(res->error, sizeof res->error, "%s (%s)", sn_last_error(),
                         sn_status_name(st));
                printf("| %s | %s | %s | %d | train+infer | failed: %s | | | | |\n", sel, g->model,
                       params, r->batches[bi], res->error);
                fflush(stdout);
                continue;
            }
            res->ok = 1;
            char peak[32];
            cli_format_bytes(peak, sizeof peak, (double)res->speed.peak_device_bytes);
            const bench_timing *t[2] = {&res->speed.train, &res->speed.infer};
            const double ips[2] = {res->speed.train_img_s, res->speed.infer_img_s};
            for (int k = 0; k < 2; k++)
                printf("| %s | %s | %s | %d | %s | %.1f img/s | %.2f | %.2f | %.2f | %s |\n", sel,
                       g->model, params, r->batches[bi], k ? "infer" : "train", ips[k],
                       1e3 * t[k]->median_s, 1e3 * t[k]->min_s, 1e3 * t[k]->max_s, peak);
            fflush(stdout);
        }
    }
    sn_context_free(ctx);
}

static void print_peer_table(const tp_run *r)
{
    printf("\n%s\n", r->peer.note);
    if (!r->peer.ran)
        return;
    printf("\n| device | model | batch | mode | sharesnet img/s | PyTorch img/s | sharesnet / PyTorch |\n");
    printf("|---|---|--:|---|--:|--:|--:|\n");
    for (int i = 0; i < r->n_results; i++) {
        const tp_result *res = &r->results[i];
        const sn_graph *g = r->graphs[res->model];
        const bench_peer_result *p = bench_peer_find(&r->peer, g->model, r->batches[res->batch]);
        if (!res->ok || !p)
            continue;
        const tp_device *d = &r->devices[res->device];
        for (int k = 0; k < 2; k++) {
            double ours = k ? res->speed.infer_img_s : res->speed.train_img_s;
            double theirs = k ? p->infer_img_s : p->train_img_s;
            printf("| %d:%d %s | %s | %d | %s | %.1f img/s | %.1f img/s | %.3f |\n",
                   d->info.platform_index, d->info.device_index, d->info.name, g->model,
                   r->batches[res->batch], k ? "infer" : "train", ours, theirs,
                   theirs > 0 ? ours / theirs : 0.0);
        }
    }
}

static json_t *timing_json(const bench_timing *t, double img_s)
{
    return json_pack("{s:f,s:f,s:f,s:f,s:i}", "img_per_s", img_s, "median_s", t->median_s,
                     "min_s", t->min_s, "max_s", t->max_s, "reps", t->reps);
}

static int write_json(const tp_run *r, const char *path)
{
    const bench_machine *m = &r->machine;
    json_t *devices = json_array(), *results = json_array();
    for (int i = 0; i < r->n_devices; i++) {
        const tp_device *d = &r->devices[i];
        const sn_device_info *in = &d->info;
        char sel[32];
        snprintf(sel, sizeof sel, "%d:%d", in->platform_index, in->device_index);
        json_t *dj = json_pack(
            "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:I,s:b}", "selector", sel, "name", in->name,
            "type", sn_device_type_name(in->type), "vendor", in->vendor, "platform", in->platform,
            "platform_version", in->platform_version, "driver", in->driver_version, "opencl",
            in->device_version, "opencl_c", in->c_version, "compute_units", (int)in->compute_units,
            "global_mem_bytes", (json_int_t)in->global_mem_bytes, "ok", d->ok);
        if (d->ok) {
            json_object_set_new(dj, "kernels", json_string(d->program));
            json_object_set_new(dj, "kernels_seconds", json_real(d->program_seconds));
        } else {
            json_object_set_new(dj, "error", json_string(d->error));
        }
        json_array_append_new(devices, dj);
    }
    for (int i = 0; i < r->n_results; i++) {
        const tp_result *res = &r->results[i];
        const sn_graph *g = r->graphs[res->model];
        const sn_device_info *in = &r->devices[res->device].info;
        char sel[32];
        snprintf(sel, sizeof sel, "%d:%d", in->platform_index, in->device_index);
        json_t *rj = json_pack("{s:s,s:s,s:s,s:I,s:i,s:i,s:i,s:i,s:b}", "device", sel,
                               "device_name", in->name, "model", g->model, "params",
                               (json_int_t)sn_graph_param_count(g), "in_channels", g->in_channels,
                               "size", g->size, "classes", g->classes, "batch",
                               r->batches[res->batch], "ok", res->ok);
        if (res->ok) {
            json_object_set_new(rj, "train", timing_json(&res->speed.train, res->speed.train_img_s));
            json_object_set_new(rj, "infer", timing_json(&res->speed.infer, res->speed.infer_img_s));
            json_object_set_new(rj, "peak_device_bytes",
                                json_integer((json_int_t)res->speed.peak_device_bytes));
        } else {
            json_object_set_new(rj, "error", json_string(res->error));
        }
        json_array_append_new(results, rj);
    }
    json_t *peer = json_pack("{s:b,s:s}", "ran", r->peer.ran, "note", r->peer.note);
    if (r->peer.ran) {
        json_t *pr = json_array();
        for (int i = 0; i < r->peer.n_results; i++) {
            const bench_peer_result *p = &r->peer.results[i];
            json_array_append_new(
                pr, json_pack("{s:s,s:i,s:I,s:{s:f,s:f},s:{s:f,s:f}}", "model", p->model, "batch",
                              p->batch, "params", (json_int_t)p->params, "train", "img_per_s",
                              p->train_img_s, "median_s", p->train_median_s, "infer",
                              "img_per_s", p->infer_img_s, "median_s", p->infer_median_s));
        }
        json_object_set_new(peer, "torch", json_string(r->peer.torch_version));
        json_object_set_new(peer, "threads", json_integer(r->peer.threads));
        json_object_set_new(peer, "results", pr);
    }
    json_t *root = json_pack(
        "{s:s,s:s,s:{s:s,s:s,s:s,s:i},s:{s:i,s:i,s:s,s:b,s:s},s:o,s:o,s:o}", "schema",
        "sharesnet-throughput/1", "date", m->date, "machine", "host", m->host, "cpu", m->cpu,
        "os", m->os, "cores", m->cores, "method", "warmup", r->warmup, "reps", r->reps,
        "statistic", "median", "quick", r->quick, "train_step",
        "upload + forward + backward + SGD step (Nesterov 0.9, wd 5e-4); infer: upload + forward",
        "devices", devices, "results", results, "peer", peer);
    /* Under mpirun: img/s are the ranks' sum, the devices rank 0's. */
    if (root)
        json_object_set_new(root, "ranks", json_integer(sn_dist_size(cli_dist())));
    int rc = 0;
    if (!root || json_dump_file(root, path, JSON_INDENT(1)) != 0) {
        fprintf(stderr, "sharesnet: cannot write %s\n", path);
        rc = 1;
    }
    json_decref(root);
    return rc;
}

static int throughput(int argc, char **argv, int peer_command)
{
    cli_option opts[] = {
        {"model", 1, "comma list of models (default resnet20,sharesnet20)", NULL},
        {"batch", 1, "comma list of batch sizes (default 32,128; --quick 16)", NULL},
        CLI_GRAPH_OPTIONS,
        {"device", 1, peer_command ? "device selector (default cpu)"
                                   : "comma list of device selectors, or all (default all)", NULL},
        {"quick", 0, "small budget: about a minute (CI, smoke runs)", NULL},
        {"reps", 1, "timed steps per figure (default 10; --quick 3)", NULL},
        {"warmup", 1, "untimed steps first (default 3)", NULL},
        {"json", 1, "write the results as JSON (bench/merge_throughput.py merges files)", NULL},
        {"peer", 1, "PyTorch on the CPU: auto (when installed), on, off (default auto)", NULL},
        {"peer-script", 1, "path of bench/peer/peer.py (default: found next to the build)", NULL},
        {"python", 1, "python with torch (default $SN_PEER_PYTHON, /usr/bin/python3)", NULL},
    };
    cli_args args = {opts, (int)(sizeof opts / sizeof opts[0]), NULL, 0};
    int rc = cli_parse(argc, argv, 1, peer_command ? usage_peer : usage_throughput, &args);
    cli_args_free(&args);
    if (rc)
        return rc == 1 ? 0 : rc;

    tp_run r;
    memset(&r, 0, sizeof r);
    r.quick = cli_get(&args, "quick") != NULL;
    long v;
    if (!cli_int(&args, "reps", r.quick ? 3 : 10, &v) || v < 1) {
        fprintf(stderr, "sharesnet: --reps must be >= 1\n");
        return 2;
    }
    r.reps = (int)v;
    if (!cli_int(&args, "warmup", 3, &v) || v < 0) {
        fprintf(stderr, "sharesnet: --warmup must be >= 0\n");
        return 2;
    }
    r.warmup = (int)v;
    const char *batch = cli_get(&args, "batch");
    if (!bench_int_list("batch", batch ? batch : r.quick ? "16" : "32,128", r.batches, MAX_ITEMS,
                        &r.n_batches))
        return 2;
    const char *list = cli_get(&args, "model");
    snprintf(r.list, sizeof r.list, "%s", list ? list : "resnet20,sharesnet20");
    r.n_models = bench_split(r.list, r.models, MAX_ITEMS);
    if (r.n_models <= 0) {
        fprintf(stderr, "sharesnet: --model expects 1 to %d comma-separated models\n", MAX_ITEMS);
        return 2;
    }
    bench_peer_config peer = {BENCH_PEER_AUTO, cli_get(&args, "python"),
                              cli_get(&args, "peer-script"), NULL};
    if (!bench_peer_mode_parse(cli_get(&args, "peer"), &peer.mode))
        return 2;
    if (peer_command && peer.mode == BENCH_PEER_OFF) {
        fprintf(stderr, "sharesnet: `bench peer` with --peer off: use `bench throughput`\n");
        return 2;
    }
    sn_graph_options go;
    if (!cli_graph_options(&args, &go))
        return 2;
    r.sgd = (sn_sgd_options){0.1f, 0.9f, 5e-4f, 1};
    for (int i = 0; i < r.n_models; i++) {
        sn_status st = sn_graph_build(r.models[i], &go, &r.graphs[i]);
        if (st != SN_OK) {
            rc = cli_error("model", st);
            goto done;
        }
    }
    const char *device = cli_get(&args, "device");
    /* Under mpirun each rank measures its own device (train's rule for
     * --device), training data-parallel; PyTorch has no part in it. */
    char rank_device[256];
    if (cli_dist()) {
        if ((rc = cli_rank_device(device, rank_device, sizeof rank_device)) != 0)
            goto done;
        device = rank_device[0] ? rank_device : NULL;
        peer.mode = BENCH_PEER_OFF;
    }
    if ((rc = select_devices(device ? device : peer_command ? "cpu" : NULL, &r)) != 0)
        goto done;
    r.results = calloc((size_t)(r.n_devices * r.n_models * r.n_batches) + 1, sizeof *r.results);
    if (!r.results) {
        rc = 1;
        goto done;
    }

    bench_machine_get(&r.machine);
    printf("# sharesnet %s\n\n", peer_command ? "vs PyTorch" : "throughput");
    printf("- machine: %s, %s, %d CPUs, %s\n", r.machine.host, r.machine.cpu, r.machine.cores,
           r.machine.os);
    printf("- date: %s\n", r.machine.date);
    printf("- method: %d warm-up steps discarded, median of %d timed steps, each between clFinish "
           "calls; train = upload + forward + backward + SGD step, infer = upload + forward%s\n",
           r.warmup, r.reps, r.quick ? " (--quick)" : "");
    if (cli_dist())
        printf("- data-parallel: %d ranks, each with the batch given and its own device (rank 0's "
               "below); train steps all-reduce the gradients; img/s are the ranks' sum, times "
               "rank 0's\n", sn_dist_size(cli_dist()));
    fflush(stdout);
    for (int di = 0; di < r.n_devices; di++)
        run_device(&r, di);

    /* PyTorch on the CPU, for the models it can build. */
    const sn_graph *peer_graphs[MAX_ITEMS];
    int n_peer = 0;
    for (int i = 0; i < r.n_models; i++) {
        char why[256];
        if (bench_peer_supports(r.graphs[i], why, sizeof why))
            peer_graphs[n_peer++] = r.graphs[i];
        else if (peer.mode != BENCH_PEER_OFF)
            printf("\npeer: not measured: %s\n", why);
    }
    rc = bench_peer_measure(&peer, peer_graphs, n_peer, r.batches, r.n_batches, r.warmup, r.reps,
                            &r.sgd, r.machine.cores, &r.peer);
    if (rc)
        goto done;
    print_peer_table(&r);

    const char *json = cli_get(&args, "json");
    if (json && sn_dist_rank(cli_dist()) == 0 && (rc = write_json(&r, json)) == 0)
        printf("\nwrote %s\n", json);
    int ok = 0, devices_ok = 0;
    for (int i = 0; i < r.n_results; i++)
        ok += r.results[i].ok;
    for (int i = 0; i < r.n_devices; i++)
        devices_ok += r.devices[i].ok;
    if (!rc && devices_ok == 0) {
        fprintf(stderr, "sharesnet: no device could run the benchmark\n");
        rc = 1;
    }
    if (!rc && ok < r.n_results) {
        fprintf(stderr, "sharesnet: %d of %d measurement(s) failed\n", r.n_results - ok,
                r.n_results);
        rc = 1;
    }
done:
    for (int i = 0; i < r.n_models; i++)
        sn_graph_free(r.graphs[i]);
    bench_peer_run_free(&r.peer);
    free(r.devices);
    free(r.results);
    return rc;
}

int bench_throughput_main(int argc, char **argv) { return throughput(argc, argv, 0); }

int bench_peer_main(int argc, char **argv) { return throughput(argc, argv, 1); }
