/* Save a model to a checkpoint and load it into another: the same logits.
 *
 *   save_load FILE.safetensors
 *
 * A ShaResNet's shared weight is one tensor in the file, however many
 * blocks use it; loading checks every tensor's dtype and shape against the
 * model. The model here uses the zoo's default input, 3x32x32 with 10
 * classes, and two SGD steps on random data so that the batch-norm running
 * statistics and momentum are not at their initial values. */
#include "example_util.h"

#include <math.h>
#include <string.h>

enum { BATCH = 4, CH = 3, SIZE = 32, CLASSES = 10 };

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE.safetensors\n", argv[0]);
        return 2;
    }
    static float images[BATCH * CH * SIZE * SIZE];
    int32_t labels[BATCH];
    uint32_t rng = 7;
    for (size_t i = 0; i < sizeof images / sizeof images[0]; i++) {
        rng = rng * 1664525u + 1013904223u;
        images[i] = (float)(rng >> 8) / (float)(1u << 24) - 0.5f;
    }
    for (int i = 0; i < BATCH; i++)
        labels[i] = i % CLASSES;

    sn_context *ctx;
    CHECK(sn_context_create(NULL, &ctx));
    sn_graph *g;
    CHECK(sn_graph_build("sharesnet14", NULL, &g)); /* NULL options: 3x32x32, 10 classes */
    sn_model *a, *b;
    CHECK(sn_model_create(ctx, g, BATCH, /*seed*/ 1, &a));
    CHECK(sn_model_create(ctx, g, BATCH, /*seed*/ 2, &b)); /* other weights until loaded */

    sn_sgd_options sgd = {0.05f, 0.9f, 5e-4f, 1};
    CHECK(sn_model_set_batch(a, images, labels, BATCH));
    for (int step = 0; step < 2; step++) {
        CHECK(sn_model_forward(a, 1));
        CHECK(sn_model_backward(a, 1.0f / BATCH, 0));
        CHECK(sn_model_sgd_step(a, &sgd));
    }
    sn_train_state state;
    memset(&state, 0, sizeof state); /* no run: inputs taken as already normalised */
    CHECK(sn_checkpoint_save(a, &state, argv[1]));
    CHECK(sn_checkpoint_load(b, argv[1], /*with_optimizer*/ 1, NULL));

    float za[BATCH * CLASSES], zb[BATCH * CLASSES];
    CHECK(sn_model_forward(a, 0));
    CHECK(sn_model_logits(a, za, BATCH));
    CHECK(sn_model_set_batch(b, images, labels, BATCH));
    CHECK(sn_model_forward(b, 0));
    CHECK(sn_model_logits(b, zb, BATCH));
    double worst = 0;
    for (int i = 0; i < BATCH * CLASSES; i++)
        worst = fmax(worst, fabs((double)za[i] - zb[i]));
    printf("%s: %lld parameters saved to %s and loaded back; largest logit difference %g\n",
           g->model, sn_graph_param_count(g), argv[1], worst);

    sn_model_free(a);
    sn_model_free(b);
    sn_graph_free(g);
    sn_context_free(ctx);
    return worst == 0 ? 0 : 1;
}
