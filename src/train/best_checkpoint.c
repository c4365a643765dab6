/* The best checkpoint by test top-1, kept next to the last one: with a step
 * schedule or an unlucky last epoch the last model is not the best, and a
 * run that overfits should not lose its peak.
 *
 * out_dir/best.safetensors is the checkpoint of the epoch with the highest
 * test top-1 so far; out_dir/best.json says which epoch and what top-1, so a
 * resumed run goes on comparing against it. The freshly written
 * checkpoint.safetensors is hard-linked under a temporary name and renamed
 * over best.safetensors: as atomic as the last checkpoint and no second
 * write; a file system without hard links gets a second save. */
#include "train/train_internal.h"
#include "runtime/error_internal.h"
#include "runtime/runtime_internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

double sn_best_checkpoint_top1(const char *out_dir, const sn_train_state *state)
{
    /* A new run in a used directory starts afresh. */
    if (!out_dir || state->epoch == 0)
        return -1;
    char path[4200];
    snprintf(path, sizeof path, "%s/best.json", out_dir);
    json_t *root = json_load_file(path, 0, NULL);
    json_t *top1 = root ? json_object_get(root, "test_top1") : NULL;
    double best = json_is_number(top1) ? json_number_value(top1) : -1;
    json_decref(root);
    return best;
}

typedef struct best_record {
    int epoch;
    double top1;
} best_record;

static int write_record(FILE *f, void *user)
{
    const best_record *b = user;
    return fprintf(f, "{\"epoch\": %d, \"test_top1\": %.6f, \"checkpoint\": "
                      "\"best.safetensors\"}\n", b->epoch, b->top1) > 0;
}

sn_status sn_best_checkpoint_update(sn_model *m, const sn_train_state *state, const char *out_dir,
                                    const sn_epoch_report *r, double *best_top1)
{
    if (!r->evaluated || !(r->test_top1 > *best_top1))
        return SN_OK;
    char last[4200], best[4200], tmp[4300];
    snprintf(last, sizeof last, "%s/checkpoint.safetensors", out_dir);
    snprintf(best, sizeof best, "%s/best.safetensors", out_dir);
    snprintf(tmp, sizeof tmp, "%s/best.safetensors.tmp.%ld", out_dir, (long)getpid());
    unlink(tmp);
    if (link(last, tmp) == 0) {
        if (rename(tmp, best) != 0) {
            int e = errno;
            unlink(tmp);
            return sn_fail(SN_ERR_IO, "cannot replace best checkpoint '%s': %s", best,
                           strerror(e));
        }
    } else {
        SN_TRY(sn_checkpoint_save_finite(m, state, best));
    }
    best_record rec = {r->epoch, r->test_top1};
    snprintf(tmp, sizeof tmp, "%s/best.json", out_dir);
    SN_TRY(sn_file_write_atomic(tmp, "best checkpoint record", SN_FILE_RESULT, write_record,
                                &rec));
    *best_top1 = r->test_top1;
    return SN_OK;
}
