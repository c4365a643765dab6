/* A data-parallel training loop of one's own (what sn_train does for you
 * with sn_train_config.dist): each rank trains its slice of every step and
 * the gradient reducer sums the gradients across ranks while backward runs.
 *
 *   mpirun -np 2 train_dist_loop        (or alone: train_dist_loop)
 *
 * Data: 8x8 gray stripes of two classes, made up here (as train_tiny). Every
 * rank builds the same data and the same model (same seed), so all start
 * equal; rank r takes samples [r*B, r*B + B) of each step's global batch of
 * ranks*B. Exits 0 when the model learnt the stripes and every rank ends
 * with the same weights. */
#include "example_util.h"

#include <string.h>

enum { SIZE = 8, CLASSES = 2, BATCH = 16, STEPS = 60 };

static void make_data(float *images, int32_t *labels, int count, uint32_t seed)
{
    uint32_t rng = seed;
    for (int i = 0; i < count; i++) {
        labels[i] = i % CLASSES;
        for (int p = 0; p < SIZE * SIZE; p++) {
            rng = rng * 1664525u + 1013904223u;
            int on = (labels[i] ? p % SIZE : p / SIZE) % 2;
            images[(size_t)i * SIZE * SIZE + p] =
                (on ? 0.5f : -0.5f) + (float)((int)(rng >> 27) - 16) / 64.0f;
        }
    }
}

int main(void)
{
    /* Join the job when mpirun started several processes. */
    sn_dist *dist = NULL;
    if (sn_dist_launched_size() > 1)
        CHECK(sn_dist_init(&dist));
    const int rank = sn_dist_rank(dist), ranks = sn_dist_size(dist);

    sn_context *ctx;
    CHECK(sn_context_create(NULL, &ctx));
    sn_graph_options o;
    sn_graph_options_default(&o);
    o.classes = CLASSES;
    o.in_channels = 1;
    o.size = SIZE;
    sn_graph *g;
    CHECK(sn_graph_build("sharesnet8", &o, &g));
    sn_model *m;
    CHECK(sn_model_create(ctx, g, BATCH, /*seed*/ 1, &m));
    sn_grad_reducer *reducer = NULL;
    if (dist)
        CHECK(sn_grad_reducer_create(dist, m, 0, &reducer));

    const int global = ranks * BATCH; /* samples per optimizer step, all ranks */
    float *images = malloc(sizeof(float) * (size_t)global * SIZE * SIZE);
    int32_t *labels = malloc(sizeof(int32_t) * (size_t)global);
    if (!images || !labels)
        return 1;
    sn_sgd_options sgd = {0.05f, 0.9f, 5e-4f, 1};
    for (int step = 0; step < STEPS; step++) {
        make_data(images, labels, global, 1000u + (uint32_t)step); /* the step's global batch */
        const float *mine = images + (size_t)rank * BATCH * SIZE * SIZE;
        CHECK(sn_model_set_batch(m, mine, labels + rank * BATCH, BATCH));
        CHECK(sn_model_forward(m, 1));
        if (reducer)
            sn_grad_reducer_arm(reducer); /* this rank's last (only) micro-batch */
        /* The mean loss over the whole global batch: scale by 1/global. */
        CHECK(sn_model_backward(m, 1.0f / (float)global, 0));
        if (reducer)
            CHECK(sn_grad_reducer_finish(reducer)); /* gradients summed over the ranks */
        CHECK(sn_model_sgd_step(m, &sgd));
    }

    /* Test: fresh stripes, in eval mode. */
    make_data(images, labels, BATCH, 7);
    double loss;
    int top1, top5;
    CHECK(sn_model_set_batch(m, images, labels, BATCH));
    CHECK(sn_model_forward(m, 0));
    CHECK(sn_model_metrics(m, &loss, &top1, &top5));

    /* Every rank took the same steps: its weights must equal rank 0's. */
    sn_tensor *w = sn_model_param(m, 0, SN_PARAM_VALUE);
    float *mine = malloc(sizeof(float) * w->count), *first = malloc(sizeof(float) * w->count);
    CHECK(sn_tensor_download(w, mine, w->count));
    memcpy(first, mine, sizeof(float) * w->count);
    if (dist)
        CHECK(sn_dist_broadcast(dist, first, sizeof(float) * w->count));
    const int same = memcmp(first, mine, sizeof(float) * w->count) == 0;
    printf("rank %d of %d: test top-1 %d/%d, loss %.4f, weights %s rank 0's\n", rank, ranks, top1,
           BATCH, loss, same ? "equal" : "DIFFER from");

    free(mine);
    free(first);
    free(images);
    free(labels);
    sn_grad_reducer_free(reducer);
    sn_model_free(m);
    sn_graph_free(g);
    sn_context_free(ctx);
    sn_dist_finalize(dist);
    return same && top1 >= BATCH - 1 ? 0 : 1;
}
