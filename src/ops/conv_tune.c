/* The convolution auto-tuner (see ops/conv_tune.h for the rules and the
 * tuning file's format).
 *
 * Decisions live in one table per device, process-wide and under one lock:
 * the measuring itself runs under the lock too, so two threads never time
 * candidates against each other. The conv ops call sn_conv_choose() before
 * they take the shared workspace, and the timing runs call the public ops
 * with the candidate forced on the context (ctx->forced_algo), which
 * sn_conv_choose() answers before it takes the lock. */
#include "ops/conv_tune.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The algorithm without tuning, per device class and pass. GPUs: CLBlast's
 * tuned SGEMM; CPUs: the direct kernels (no im2col traffic), 3-21x faster
 * than GEMM (ours or CLBlast's) on every shape measured in bench/RESULTS.md,
 * so that CPUs need no timing by default (cpu_default). Entries that do not support a shape (CLBlast
 * where nothing may compile at run time) fall back to GEMM, our own kernel. */
static const sn_conv_algo default_algo[][3] = {
    /*                       forward             backward data       backward weights */
    [SN_DEVICE_GPU] = {SN_CONV_ALGO_CLBLAST, SN_CONV_ALGO_CLBLAST, SN_CONV_ALGO_CLBLAST},
    [SN_DEVICE_CPU] = {SN_CONV_ALGO_DIRECT, SN_CONV_ALGO_DIRECT, SN_CONV_ALGO_DIRECT},
    [SN_DEVICE_ACCELERATOR] = {SN_CONV_ALGO_GEMM, SN_CONV_ALGO_GEMM, SN_CONV_ALGO_GEMM},
    [SN_DEVICE_OTHER] = {SN_CONV_ALGO_GEMM, SN_CONV_ALGO_GEMM, SN_CONV_ALGO_GEMM},
};

#define TIMED_RUNS 3           /* after one warm-up; the median counts */
/* Version in the tuning file's first line: v3 lists one time per algorithm
 * of gemm, direct, winograd, clblast (v2: the first three, "gemm" then
 * meaning CLBlast). A file of another version never matches the
 * header, so it is ignored and rewritten (its shapes retuned). */
#define SN_TUNE_FORMAT_VERSION "3"
#define MAX_FILE_BYTES (1 << 20)
#define MAX_LINE 512
#define MAX_DIM (1 << 24)      /* sanity bound on a shape read from a file */
#define MAX_MS 1e9

static const char *const algo_names[SN_CONV_ALGO_COUNT] = SN_CONV_ALGO_NAMES;
_Static_assert(SN_CONV_ALGO_COUNT == SN_CONV_ALGO_NAME_COUNT, "one name per algorithm");
static const char *const pass_names[3] = {"forward", "backward_data", "backward_weights"};

const char *sn_conv_algo_name(sn_conv_algo algo)
{
    return (unsigned)algo < SN_CONV_ALGO_COUNT ? algo_names[algo] : "?";
}

const char *sn_conv_pass_name(sn_conv_pass pass)
{
    return (unsigned)pass < 3 ? pass_names[pass] : "?";
}

/* ---- forcing (a field of the context) ------------------------------------ */

int sn_conv_force_algo(sn_context *ctx, int algo)
{
    int previous = ctx->forced_algo;
    ctx->forced_algo = algo >= 0 && algo < SN_CONV_ALGO_COUNT ? algo : -1;
    return previous;
}

/* ---- shapes ---------------------------------------------------------------- */

static int shape_valid(const sn_conv_shape *s)
{
    if (s->N <= 0 || s->C <= 0 || s->H <= 0 || s->W <= 0 || s->OC <= 0 || s->K <= 0 ||
        s->stride <= 0 || s->pad < 0)
        return 0;
    return (long long)s->H + 2LL * s->pad >= s->K && (long long)s->W + 2LL * s->pad >= s->K;
}

static int out_size(int in, const sn_conv_shape *s)
{
    return (in + 2 * s->pad - s->K) / s->stride + 1;
}

static int supported(sn_context *ctx, sn_conv_algo algo, sn_conv_pass pass,
                     const sn_conv_shape *s)
{
    return sn_conv_algo_supported(ctx, algo, pass, s->N, s->C, s->H, s->W, s->OC, s->K, s->stride,
                                  s->pad);
}

/* On CPUs Winograd beats the direct kernels forward and backward-data on
 * wide 3x3 stride-1 layers: 1.4-1.9x from 128 channels on (ResNet-50's
 * stages 2-4, bench/RESULTS.md), within the noise at 64 (ResNet-50 stage 1,
 * ResNet-20 stage 3). The direct kernels keep the weight gradient. */
static sn_conv_algo cpu_default(sn_conv_pass pass, const sn_conv_shape *s)
{
    const int wide_3x3 = s->K == 3 && s->stride == 1 && s->C >= 128 && s->OC >= 128;
    return wide_3x3 && pass != SN_CONV_BACKWARD_WEIGHTS ? SN_CONV_ALGO_WINOGRAD
                                                         : SN_CONV_ALGO_DIRECT;
}

sn_conv_algo sn_conv_default_algo(sn_context *ctx, sn_conv_pass pass, const sn_conv_shape *s)
{
    unsigned type = (unsigned)ctx->info.type;
    if (type >= sizeof default_algo / sizeof default_algo[0])
        type = SN_DEVICE_OTHER;
    sn_conv_algo algo = (unsigned)pass < 3 ? default_algo[type][pass] : SN_CONV_ALGO_GEMM;
    if (type == SN_DEVICE_CPU && supported(ctx, cpu_default(pass, s), pass, s))
        algo = cpu_default(pass, s);
    return supported(ctx, algo, pass, s) ? algo : SN_CONV_ALGO_GEMM;
}

/* ---- the in-memory tables ------------------------------------------------------ */

typedef struct tune_entry {
    sn_conv_pass pass;
    sn_conv_shape shape;
    sn_conv_algo algo;
    sn_conv_tune_source source;
    double ms[SN_CONV_ALGO_COUNT];
} tune_entry;

/* Decisions of one device (and cache directory). */
typedef struct device_table {
    struct device_table *next;
    sn_device_info info;   /* identity: platform, device, driver, type ... */
    char dir[4096];        /* ... and cache directory ("" when caching is off) */
    char header[4400];     /* the tuning file's first line: the full key */
    char path[4200];       /* "" when caching is off */
    tune_entry *entries;
    int n, cap;
} device_table;

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static device_table *tables;
static long n_timings, n_file_loads;

static int same_device(const sn_device_info *a, const sn_device_info *b)
{
    return a->type == b->type && !strcmp(a->platform, b->platform) &&
           !strcmp(a->platform_version, b->platform_version) && !strcmp(a->name, b->name) &&
           !strcmp(a->driver_version, b->driver_version);
}

/* The program cache's key of ctx, its file name hash and the header line. */
static void device_key(sn_context *ctx, const char *dir, char *header, size_t header_size,
                       char *path, size_t path_size)
{
    char options[1024], key[4096];
    sn_program_options(ctx, options, sizeof options);
    sn_program_key(ctx, options, key, sizeof key);
    size_t used = (size_t)snprintf(header, header_size,
                                   "# sharesnet conv tuning v" SN_TUNE_FORMAT_VERSION);
    for (const char *p = key; *p && used + 4 < header_size;) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int n = snprintf(header + used, header_size - used, " | %.*s", (int)len, p);
        used = n < 0 ? header_size : used + (size_t)n;
        p += len + (end ? 1 : 0);
    }
    for (char *c = header; *c; c++) /* keep it one line whatever a driver reports */
        if (*c == '\r' || *c == '\n')
            *c = ' ';
    if (dir[0])
        snprintf(path, path_size, "%s/%016llx.tune", dir,
                 (unsigned long long)sn_hash64(key, strlen(key), 0));
    else
        path[0] = '\0';
}

/* The table of ctx's device for the current cache directory, created on
 * first use; NULL when out of host memory. Caller holds the lock. */
static device_table *table_of(sn_context *ctx)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", ctx->cache_dir);
    for (device_table *t = tables; t; t = t->next)
        if (same_device(&t->info, &ctx->info) && !strcmp(t->dir, dir))
            return t;
    device_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->info = ctx->info;
    snprintf(t->dir, sizeof t->dir, "%s", dir);
    device_key(ctx, dir, t->header, sizeof t->header, t->path, sizeof t->path);
    t->next = tables;
    tables = t;
    return t;
}

static int same_shape(const sn_conv_shape *a, const sn_conv_shape *b)
{
    return a->N == b->N && a->C == b->C && a->H == b->H && a->W == b->W && a->OC == b->OC &&
           a->K == b->K && a->stride == b->stride && a->pad == b->pad;
}

static tune_entry *find(device_table *t, sn_conv_pass pass, const sn_conv_shape *s)
{
    for (int i = 0; i < t->n; i++)
        if (t->entries[i].pass == pass && same_shape(&t->entries[i].shape, s))
            return &t->entries[i];
    return NULL;
}

/* Insert or replace; 0 when out of host memory. */
static int put(device_table *t, const tune_entry *e)
{
    tune_entry *old = find(t, e->pass, &e->shape);
    if (old) {
        *old = *e;
        return 1;
    }
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 32;
        tune_entry *grown = realloc(t->entries, (size_t)cap * sizeof *grown);
        if (!grown)
            return 0;
        t->entries = grown;
        t->cap = cap;
    }
    t->entries[t->n++] = *e;
    return 1;
}

long sn_conv_tune_timings(void)
{
    pthread_mutex_lock(&table_lock);
    long n = n_timings;
    pthread_mutex_unlock(&table_lock);
    return n;
}

long sn_conv_tune_file_hits(void)
{
    pthread_mutex_lock(&table_lock);
    long n = n_file_loads;
    pthread_mutex_unlock(&table_lock);
    return n;
}

void sn_conv_tune_forget(void)
{
    pthread_mutex_lock(&table_lock);
    while (tables) {
        device_table *t = tables;
        tables = t->next;
        free(t->entries);
        free(t);
    }
    pthread_mutex_unlock(&table_lock);
}

void sn_conv_tune_path(sn_context *ctx, char *path, size_t size)
{
    char dir[4096], header[4400], p[4200];
    snprintf(dir, sizeof dir, "%s", ctx->cache_dir);
    device_key(ctx, dir, header, sizeof header, p, sizeof p);
    snprintf(path, size, "%s", p);
}

void sn_conv_tune_header(sn_context *ctx, char *line, size_t size)
{
    char header[4400], p[4200];
    device_key(ctx, "", header, sizeof header, p, sizeof p);
    snprintf(line, size, "%s", header);
}

/* ---- the tuning file ------------------------------------------------------------ */

static unsigned line_check(const char *content, size_t len)
{
    return (unsigned)(sn_hash64(content, len, 0x7e11) & 0xffffffffu);
}

/* "pass N C H W OC K stride pad algo ms... check" into buf; 0 if it does not fit. */
static int format_line(const tune_entry *e, char *buf, size_t size)
{
    const sn_conv_shape *s = &e->shape;
    int n = snprintf(buf, size, "%s %d %d %d %d %d %d %d %d %s", pass_names[e->pass], s->N, s->C,
                     s->H, s->W, s->OC, s->K, s->stride, s->pad, algo_names[e->algo]);
    for (int a = 0; a < SN_CONV_ALGO_COUNT && n > 0 && (size_t)n < size; a++)
        n += e->ms[a] >= 0 ? snprintf(buf + n, size - (size_t)n, " %.4f", e->ms[a])
                           : snprintf(buf + n, size - (size_t)n, " -");
    if (n <= 0 || (size_t)n >= size)
        return 0;
    unsigned check = line_check(buf, (size_t)n);
    n += snprintf(buf + n, size - (size_t)n, " %08x", check);
    return n > 0 && (size_t)n < size;
}

static int parse_int(const char *tok, int lo, int hi, int *out)
{
    if (!tok || !*tok)
        return 0;
    char *end;
    errno = 0;
    long v = strtol(tok, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return 0;
    *out = (int)v;
    return 1;
}

static int parse_name(const char *tok, const char *const *names, int count)
{
    for (int i = 0; tok && i < count; i++)
        if (!strcmp(tok, names[i]))
            return i;
    return -1;
}

/* One decision line (no newline). Every field is checked; anything odd
 * rejects the whole line. */
static int parse_line(const char *line, size_t len, tune_entry *e)
{
    if (len == 0 || len >= MAX_LINE)
        return 0;
    /* the last token is the checksum of everything before its space */
    const char *check_tok = line + len;
    while (check_tok > line && check_tok[-1] != ' ')
        check_tok--;
    if (check_tok == line || line + len - check_tok != 8)
        return 0;
    unsigned check = 0;
    for (int i = 0; i < 8; i++) {
        if (!isxdigit((unsigned char)check_tok[i]))
            return 0;
        check = check * 16 + (unsigned)(isdigit((unsigned char)check_tok[i])
                                             ? check_tok[i] - '0'
                                             : (tolower((unsigned char)check_tok[i]) - 'a' + 10));
    }
    const size_t content_len = (size_t)(check_tok - 1 - line);
    if (check != line_check(line, content_len))
        return 0;

    char buf[MAX_LINE];
    memcpy(buf, line, content_len);
    buf[content_len] = '\0';
    char *tok[10 + SN_CONV_ALGO_COUNT + 1], *save = NULL;
    int n = 0;
    for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        if (n == (int)(sizeof tok / sizeof tok[0]))
            return 0;
        tok[n++] = t;
    }
    if (n != 10 + SN_CONV_ALGO_COUNT)
        return 0;
    int pass = parse_name(tok[0], pass_names, 3), algo = parse_name(tok[9], algo_names,
                                                                     SN_CONV_ALGO_COUNT);
    sn_conv_shape *s = &e->shape;
    if (pass < 0 || algo < 0 || !parse_int(tok[1], 1, MAX_DIM, &s->N) ||
        !parse_int(tok[2], 1, MAX_DIM, &s->C) || !parse_int(tok[3], 1, MAX_DIM, &s->H) ||
        !parse_int(tok[4], 1, MAX_DIM, &s->W) || !parse_int(tok[5], 1, MAX_DIM, &s->OC) ||
        !parse_int(tok[6], 1, MAX_DIM, &s->K) || !parse_int(tok[7], 1, MAX_DIM, &s->stride) ||
        !parse_int(tok[8], 0, MAX_DIM, &s->pad) || !shape_valid(s))
        return 0;
    for (int a = 0; a < SN_CONV_ALGO_COUNT; a++) {
        const char *t = tok[10 + a];
        if (!strcmp(t, "-")) {
            e->ms[a] = -1;
            continue;
        }
        char *end;
        errno = 0;
        double v = strtod(t, &end);
        if (errno || *end || !(v >= 0 && v < MAX_MS) || !isdigit((unsigned char)t[0]))
            return 0;
        e->ms[a] = v;
    }
    if (e->ms[algo] < 0) /* a measured decision has the winner's time */
        return 0;
    e->pass = (sn_conv_pass)pass;
    e->algo = (sn_conv_algo)algo;
    e->source = SN_TUNE_SOURCE_FILE;
    return 1;
}

/* Add the valid decisions of t's file to t, without replacing measured or
 * file decisions already there (a failure default is replaced). Returns the
 * number added; a missing, foreign or corrupt file adds nothing. */
static int merge_file(device_table *t)
{
    if (!t->path[0])
        return 0;
    FILE *f = fopen(t->path, "rb");
    if (!f)
        return 0;
    char *data = malloc(MAX_FILE_BYTES + 1);
    size_t len = data ? fread(data, 1, MAX_FILE_BYTES + 1, f) : 0;
    fclose(f);
    if (!data || len > MAX_FILE_BYTES) {
        free(data);
        return 0;
    }
    data[len] = '\0';
    int added = 0;
    const size_t header_len = strlen(t->header);
    if (len <= header_len || memcmp(data, t->header, header_len) != 0 || data[header_len] != '\n')
        goto done;
    /* Only lines ending in '\n' count: a truncated last line is dropped. */
    for (char *line = data + header_len + 1, *nl; (nl = memchr(line, '\n', (size_t)(data + len - line)));
         line = nl + 1) {
        size_t line_len = (size_t)(nl - line);
        tune_entry e;
        if (line_len == 0 || line[0] == '#' || memchr(line, '\0', line_len) ||
            !parse_line(line, line_len, &e))
            continue;
        tune_entry *old = find(t, e.pass, &e.shape);
        if (old && (old->source == SN_TUNE_SOURCE_TIMED || old->source == SN_TUNE_SOURCE_FILE))
            continue;
        if (put(t, &e))
            added++;
    }
done:
    free(data);
    n_file_loads += added;
    return added;
}

static int write_lines(FILE *f, void *user)
{
    const device_table *t = user;
    int ok = fprintf(f, "%s\n# pass N C H W OC K stride pad chosen", t->header) > 0;
    for (int a = 0; a < SN_CONV_ALGO_COUNT; a++)
        ok = ok && fprintf(f, " ms(%s)", algo_names[a]) > 0;
    ok = ok && fprintf(f, " check\n") > 0;
    for (int i = 0; ok && i < t->n; i++) {
        const tune_entry *e = &t->entries[i];
        char line[MAX_LINE];
        if (e->source != SN_TUNE_SOURCE_TIMED && e->source != SN_TUNE_SOURCE_FILE)
            continue;
        if (format_line(e, line, sizeof line))
            ok = fprintf(f, "%s\n", line) > 0;
    }
    return ok;
}

/* Rewrite t's file: its current valid lines merged with t's measured and
 * file decisions, through a temp file renamed into place. */
static sn_status write_file(device_table *t)
{
    if (!t->path[0])
        return SN_OK;
    merge_file(t); /* a concurrent process's decisions survive our rewrite */
    return sn_file_write_atomic(t->path, "tuning file", SN_FILE_CACHE, write_lines, t);
}

/* ---- measuring ---------------------------------------------------------------- */

/* Runs one candidate once; the tuner knows nothing else of the kernels. */
typedef sn_status (*tune_run_fn)(void *user, sn_conv_algo algo);

/* Median milliseconds of TIMED_RUNS runs after a warm-up, the queue
 * drained before and after each. */
static sn_status time_candidate(sn_context *ctx, tune_run_fn run, void *user, sn_conv_algo algo,
                                double *ms)
{
    double t[TIMED_RUNS];
    SN_TRY(sn_context_finish(ctx));
    SN_TRY(run(user, algo));
    SN_TRY(sn_context_finish(ctx));
    for (int i = 0; i < TIMED_RUNS; i++) {
        double start = sn_now();
        SN_TRY(run(user, algo));
        SN_TRY(sn_context_finish(ctx));
        t[i] = (sn_now() - start) * 1e3;
    }
    for (int i = 1; i < TIMED_RUNS; i++) /* insertion sort */
        for (int j = i; j > 0 && t[j - 1] > t[j]; j--) {
            double swap = t[j];
            t[j] = t[j - 1];
            t[j - 1] = swap;
        }
    *ms = t[TIMED_RUNS / 2];
    return SN_OK;
}

/* Scratch tensors of one pass: `in` x or dx [N,C,H,W], `w` w or dw
 * [OC,C,K,K], `out` y or dy [N,OC,OH,OW]. All three hold random values in
 * [-1, 1), the pass's outputs too: a candidate is timed on defined data
 * whatever it reads (an output it accumulates into, a clamped tile that
 * reads past its last store), never on whatever the allocator left there,
 * which may hold NaNs or denormals that slow some devices down. */
typedef struct conv_scratch {
    sn_context *ctx;
    sn_conv_pass pass;
    sn_conv2d_desc d;
    sn_tensor in, w, out;
} conv_scratch;

static void scratch_free(conv_scratch *s)
{
    sn_tensor_release(&s->in);
    sn_tensor_release(&s->w);
    sn_tensor_release(&s->out);
}

static sn_status random_tensor(sn_context *ctx, sn_tensor *t, const int *shape, uint32_t seed)
{
    SN_TRY(sn_tensor_alloc(ctx, t, 4, shape, SN_MEM_WORKSPACE));
    float *host = malloc(t->count * sizeof *host);
    if (!host)
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "conv tuning: out of host memory (%zu floats)",
                       t->count);
    uint32_t state = seed * 2654435761u + 1;
    for (size_t i = 0; i < t->count; i++) {
        state = state * 1664525u + 1013904223u;
        host[i] = (float)(state >> 8) * (2.0f / 16777216.0f) - 1.0f;
    }
    sn_status st = sn_tensor_upload(t, host, t->count);
    free(host);
    return st;
}

static sn_status scratch_create(sn_context *ctx, sn_conv_pass pass, const sn_conv_shape *s,
                                conv_scratch *sc)
{
    memset(sc, 0, sizeof *sc);
    sc->ctx = ctx;
    sc->pass = pass;
    sc->d = (sn_conv2d_desc){s->K, s->stride, s->pad};
    const int in_shape[4] = {s->N, s->C, s->H, s->W}, w_shape[4] = {s->OC, s->C, s->K, s->K},
              out_shape[4] = {s->N, s->OC, out_size(s->H, s), out_size(s->W, s)};
    sn_status st = random_tensor(ctx, &sc->in, in_shape, 1);
    if (st == SN_OK)
        st = random_tensor(ctx, &sc->w, w_shape, 2);
    if (st == SN_OK)
        st = random_tensor(ctx, &sc->out, out_shape, 3);
    if (st != SN_OK)
        scratch_free(sc);
    return st;
}

/* One run of the public op with `algo` forced (tune_run_fn). */
static sn_status scratch_run(void *user, sn_conv_algo algo)
{
    conv_scratch *s = user;
    int previous = sn_conv_force_algo(s->ctx, (int)algo);
    sn_status st;
    switch (s->pass) {
    case SN_CONV_FORWARD:
        st = sn_conv2d_forward(s->ctx, &s->d, &s->in, &s->w, &s->out);
        break;
    case SN_CONV_BACKWARD_DATA:
        st = sn_conv2d_backward_data(s->ctx, &s->d, &s->out, &s->w, &s->in, 0);
        break;
    default:
        st = sn_conv2d_backward_weights(s->ctx, &s->d, &s->in, &s->out, &s->w, 0);
        break;
    }
    sn_conv_force_algo(s->ctx, previous);
    return st;
}

/* Time every candidate with supported[a] set into ms[a] (-1 when it failed)
 * and status[a]. SN_OK when at least one ran; else the first failure.
 * Measuring leaves the context's memory as it found it or smaller: the
 * scratch tensors do not count towards its peak. */
static sn_status measure(sn_context *ctx, sn_conv_pass pass, const sn_conv_shape *s,
                         const int *supported_algo, double *ms, sn_status *status)
{
    const size_t peak = ctx->mem.peak, workspace_bytes = ctx->workspace_bytes,
                 gemm_temp_bytes = ctx->gemm_temp_bytes;
    conv_scratch sc;
    sn_status st = scratch_create(ctx, pass, s, &sc);
    sn_status first_failure = st;
    int ran = 0;
    for (int a = 0; a < SN_CONV_ALGO_COUNT; a++) {
        ms[a] = -1;
        status[a] = st;
        if (st != SN_OK || !supported_algo[a])
            continue;
        status[a] = time_candidate(ctx, scratch_run, &sc, (sn_conv_algo)a, &ms[a]);
        if (status[a] == SN_OK)
            ran = 1;
        else if (first_failure == SN_OK)
            first_failure = status[a];
        if (status[a] != SN_OK)
            ms[a] = -1;
    }
    if (st == SN_OK) {
        sn_context_finish(ctx);
        scratch_free(&sc);
    }
    /* A losing candidate may have grown the shared workspace (or CLBlast's
     * temporary buffer): give it back, the next op allocates what the
     * winner needs. */
    if (ctx->workspace_bytes > workspace_bytes) {
        sn_context_finish(ctx);
        sn_buffer_release(ctx, ctx->workspace, ctx->workspace_bytes, SN_MEM_WORKSPACE);
        ctx->workspace = NULL;
        ctx->workspace_bytes = 0;
    }
    if (ctx->gemm_temp_bytes > gemm_temp_bytes) {
        sn_context_finish(ctx);
        sn_buffer_release(ctx, ctx->gemm_temp, ctx->gemm_temp_bytes, SN_MEM_WORKSPACE);
        ctx->gemm_temp = NULL;
        ctx->gemm_temp_bytes = 0;
    }
    ctx->mem.peak = peak > ctx->mem.total ? peak : ctx->mem.total;
    return ran ? SN_OK : first_failure;
}

/* ---- deciding ---------------------------------------------------------------- */

static void fill_result(sn_conv_tune_result *r, const tune_entry *e, const int *supported_algo)
{
    r->pass = e->pass;
    r->shape = e->shape;
    r->algo = e->algo;
    r->source = e->source;
    for (int a = 0; a < SN_CONV_ALGO_COUNT; a++) {
        r->supported[a] = supported_algo[a];
        r->ms[a] = e->ms[a];
    }
}

/* Which algorithms support pass and shape; returns how many. */
static int supported_set(sn_context *ctx, sn_conv_pass pass, const sn_conv_shape *s,
                         int *supported_algo)
{
    int n = 0;
    for (int a = 0; a < SN_CONV_ALGO_COUNT; a++) {
        supported_algo[a] = supported(ctx, (sn_conv_algo)a, pass, s);
        n += supported_algo[a];
    }
    return n;
}

/* The decision t remembers or its file stores for pass and shape, NULL if
 * none. A stored choice the algorithms no longer support is stale; an
 * explicit tune measures what was only defaulted. Caller holds the lock. */
static const tune_entry *remembered(device_table *t, sn_conv_pass pass, const sn_conv_shape *s,
                                    int explicit_tune, const int *supported_algo)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        const tune_entry *old = find(t, pass, s);
        if (old && supported_algo[old->algo] &&
            (!explicit_tune || old->source == SN_TUNE_SOURCE_FILE ||
             old->source == SN_TUNE_SOURCE_TIMED))
            return old;
        if (attempt == 0 && !merge_file(t))
            break;
    }
    return NULL;
}

/* Step 4 of sn_conv_choose, and sn_conv_tune (explicit: always measure,
 * even one candidate; retime: ignore what is remembered or stored). Without
 * may_time a shape nothing decides yet takes the default, unremembered (a
 * context that may time still times it). Caller holds the lock. */
static sn_status decide(sn_context *ctx, sn_conv_pass pass, const sn_conv_shape *s,
                        int explicit_tune, int retime, int may_time, sn_conv_tune_result *r)
{
    int supported_algo[SN_CONV_ALGO_COUNT];
    const int n_supported = supported_set(ctx, pass, s, supported_algo);
    tune_entry e = {pass, *s, sn_conv_default_algo(ctx, pass, s), SN_TUNE_SOURCE_DEFAULT, {0}};
    for (int a = 0; a < SN_CONV_ALGO_COUNT; a++)
        e.ms[a] = -1;

    device_table *t = table_of(ctx);
    if (!t) { /* out of host memory: decide without remembering */
        fill_result(r, &e, supported_algo);
        return sn_fail(SN_ERR_OUT_OF_MEMORY, "conv tuning: out of host memory");
    }
    const tune_entry *old = retime ? NULL : remembered(t, pass, s, explicit_tune, supported_algo);
    if (old) {
        fill_result(r, old, supported_algo);
        return SN_OK;
    }

    sn_status st = SN_OK;
    if (n_supported == 1 && !explicit_tune) {
        for (int a = 0; a < SN_CONV_ALGO_COUNT; a++)
            if (supported_algo[a])
                e.algo = (sn_conv_algo)a;
        e.source = SN_TUNE_SOURCE_ONLY;
    } else if (!may_time && !explicit_tune) {
        fill_result(r, &e, supported_algo);
        return SN_OK;
    } else {
        sn_status status[SN_CONV_ALGO_COUNT];
        n_timings++;
        st = measure(ctx, pass, s, supported_algo, e.ms, status);
        if (st == SN_OK) {
            e.source = SN_TUNE_SOURCE_TIMED;
            int best = -1;
            for (int a = 0; a < SN_CONV_ALGO_COUNT; a++) /* ties go to the lower algorithm */
                if (e.ms[a] >= 0 && (best < 0 || e.ms[a] < e.ms[best]))
                    best = a;
            e.algo = (sn_conv_algo)best;
        }
    }
    if (!put(t, &e) && st == SN_OK)
        st = sn_fail(SN_ERR_OUT_OF_MEMORY, "conv tuning: out of host memory");
    fill_result(r, &e, supported_algo);
    if (e.source == SN_TUNE_SOURCE_TIMED) {
        sn_status written = write_file(t);
        if (st == SN_OK)
            st = written;
    }
    return st;
}

sn_status sn_conv_tune(sn_context *ctx, sn_conv_pass pass, const sn_conv_shape *shape,
                       int retime, sn_conv_tune_result *out)
{
    if (!ctx || !shape || !out || (unsigned)pass > SN_CONV_BACKWARD_WEIGHTS)
        return sn_fail(SN_ERR_INVALID_ARG, "conv tuning: no context, shape or result");
    if (!shape_valid(shape))
        return sn_fail(SN_ERR_SHAPE,
                       "conv tuning: invalid shape N %d C %d H %d W %d OC %d K %d stride %d pad %d",
                       shape->N, shape->C, shape->H, shape->W, shape->OC, shape->K, shape->stride,
                       shape->pad);
    pthread_mutex_lock(&table_lock);
    sn_status st = decide(ctx, pass, shape, 1, retime, 1, out);
    pthread_mutex_unlock(&table_lock);
    return st;
}

/* What sn_conv_choose decides before consulting the tables: an algorithm
 * forced for ctx (thread or context option), the device default (tune
 * off), or -1 when the tables decide. */
static int decided_up_front(sn_context *ctx, sn_conv_pass pass, const sn_conv_shape *s)
{
    if (ctx->forced_algo >= 0)
        return supported(ctx, (sn_conv_algo)ctx->forced_algo, pass, s) ? ctx->forced_algo
                                                                        : SN_CONV_ALGO_GEMM;
    if (ctx->conv_algo >= 0) /* the context's option (or SN_CONV_ALGO at its creation) */
        return supported(ctx, (sn_conv_algo)ctx->conv_algo, pass, s) ? ctx->conv_algo
                                                                    : SN_CONV_ALGO_GEMM;
    if (ctx->tune == SN_TUNE_DEFAULTS)
        return sn_conv_default_algo(ctx, pass, s);
    return -1;
}

/* A smaller batch than the context's largest (a partial last batch, a
 * smaller eval batch) takes that batch's decision: no retuning. */
static sn_conv_shape decision_shape(const sn_context *ctx, const sn_conv_shape *s)
{
    sn_conv_shape d = *s;
    if (ctx->tune_batch > d.N)
        d.N = ctx->tune_batch;
    return d;
}

sn_conv_algo sn_conv_choose(sn_context *ctx, sn_conv_pass pass, int N, int C, int H, int W,
                            int OC, int K, int stride, int pad)
{
    const sn_conv_shape s = {N, C, H, W, OC, K, stride, pad};
    if (!ctx || !shape_valid(&s) || (unsigned)pass > SN_CONV_BACKWARD_WEIGHTS)
        return SN_CONV_ALGO_GEMM;
    const int up_front = decided_up_front(ctx, pass, &s);
    if (up_front >= 0)
        return (sn_conv_algo)up_front;
    const sn_conv_shape decide_for = decision_shape(ctx, &s);
    sn_conv_tune_result r;
    pthread_mutex_lock(&table_lock);
    sn_status st = decide(ctx, pass, &decide_for, 0, 0, ctx->tune == SN_TUNE_TIME, &r);
    pthread_mutex_unlock(&table_lock);
    if (st != SN_OK) /* the op goes on with r.algo (the default on failure) */
        sn_clear_error();
    return supported(ctx, r.algo, pass, &s) ? r.algo : SN_CONV_ALGO_GEMM;
}

int sn_conv_tune_pending(sn_context *ctx, sn_conv_pass pass, const sn_conv_shape *shape)
{
    if (!ctx || !shape || !shape_valid(shape) || (unsigned)pass > SN_CONV_BACKWARD_WEIGHTS ||
        decided_up_front(ctx, pass, shape) >= 0 || ctx->tune != SN_TUNE_TIME)
        return 0;
    const sn_conv_shape s = decision_shape(ctx, shape);
    int supported_algo[SN_CONV_ALGO_COUNT];
    if (supported_set(ctx, pass, &s, supported_algo) <= 1)
        return 0;
    pthread_mutex_lock(&table_lock);
    device_table *t = table_of(ctx);
    const int pending = t && !remembered(t, pass, &s, 0, supported_algo);
    pthread_mutex_unlock(&table_lock);
    return pending;
}
