/* Learning-rate schedules: multistep (the papers' recipe), cosine, constant,
 * each with an optional linear warm-up. */
#include "sharesnet/train.h"

#include <math.h>

double sn_lr_at(const sn_lr_schedule *s, double t)
{
    double lr = s->base_lr;
    switch (s->kind) {
    case SN_LR_MULTISTEP:
        for (int i = 0; i < s->n_milestones; i++)
            if (t >= s->milestones[i])
                lr *= s->gamma;
        break;
    case SN_LR_COSINE:
        if (s->total_epochs > 0) {
            double f = t / s->total_epochs;
            if (f > 1)
                f = 1;
            lr = 0.5 * s->base_lr * (1.0 + cos(M_PI * f));
        }
        break;
    case SN_LR_CONSTANT:
        break;
    }
    if (s->warmup_epochs > 0 && t < s->warmup_epochs)
        lr *= t / s->warmup_epochs;
    return lr;
}
