/* The one table of device parameters: tile sizes and vector widths of the
 * kernels per device class (and vendor, where a vendor needs its own row).
 * They reach the kernels as -D options (sn_program_options), and the host
 * code that sizes launches reads the same struct (ctx->params), so a
 * kernel and its launch can never disagree. The kernels hold no defaults:
 * building one without these options is a compile error.
 *
 * To add a device class: add a row (first match wins, the last row matches
 * everything), run the op tests on the device (SN_TEST_DEVICE) and
 * `sharesnet bench ops` to pick the sizes. */
#include "runtime/runtime_internal.h"

#include <stdio.h>

typedef struct param_row {
    int type;              /* sn_device_type, or -1 for any */
    const char *vendor;    /* case-insensitive substring of the vendor, or NULL */
    sn_device_params p;
} param_row;

static const param_row rows[] = {
    /* CPUs (POCL, measured on 2 Zen 5 cores with AVX-512): 16-float vectors.
     * Direct: 12x12 gather tiles, 8 weight-gradient columns (12 left a
     * tenth of a 1x1's 64 columns idle). Winograd: OB 3 x PB 8 beat 2x8,
     * 2x12 and 4x6 by 0-12%; WC 6 x WO 4 beat 4x4, 5x5, 4x6, 8x3 by 0-15%.
     * GEMM: 8x8 work items of 4x8 tiles, 32-deep k steps (bench ops). */
    {SN_DEVICE_CPU, NULL,
     {.name = "cpu",
      .convd_v = 16, .convd_pa = 12, .convd_pb = 12, .convd_pbw = 8,
      .wino_v = 16, .wino_pa = 12, .wino_ob = 3, .wino_pb = 8, .wino_wc = 6, .wino_wo = 4,
      .gemm_local = 0, .gemm_tm = 8, .gemm_tn = 16, .gemm_wm = 1, .gemm_wn = 1, .gemm_tk = 1,
      .gemm_dm = 4, .gemm_dn = 4}},
    /* GPUs and everything else: 4-float vectors, 16x16 work-groups of 4x4
     * GEMM tiles (64x64 blocks, 8 KiB of local memory per 16-deep step). */
    {-1, NULL,
     {.name = "gpu",
      .convd_v = 4, .convd_pa = 4, .convd_pb = 4, .convd_pbw = 4,
      .wino_v = 4, .wino_pa = 4, .wino_ob = 2, .wino_pb = 4, .wino_wc = 4, .wino_wo = 4,
      .gemm_local = 1, .gemm_tm = 4, .gemm_tn = 4, .gemm_wm = 16, .gemm_wn = 16, .gemm_tk = 16,
      .gemm_dm = 1, .gemm_dn = 1}},
};

void sn_device_params_for(const sn_device_info *info, sn_device_params *out)
{
    const size_t n = sizeof rows / sizeof rows[0];
    for (size_t i = 0; i < n; i++) {
        const param_row *r = &rows[i];
        if (r->type >= 0 && r->type != (int)info->type)
            continue;
        if (r->vendor && !sn_contains_nocase(info->vendor, r->vendor))
            continue;
        *out = r->p;
        return;
    }
    *out = rows[n - 1].p;
}

void sn_device_params_options(const sn_device_params *p, char *out, size_t size)
{
    snprintf(out, size,
             "-DSN_CONVD_V=%d -DSN_CONVD_PA=%d -DSN_CONVD_PB=%d -DSN_CONVD_PBW=%d "
             "-DSN_WINO_V=%d -DSN_WINO_PA=%d -DSN_WINO_OB=%d -DSN_WINO_PB=%d -DSN_WINO_WC=%d "
             "-DSN_WINO_WO=%d -DSN_GEMM_LOCAL=%d -DSN_GEMM_TM=%d -DSN_GEMM_TN=%d "
             "-DSN_GEMM_WM=%d -DSN_GEMM_WN=%d -DSN_GEMM_TK=%d -DSN_GEMM_DM=%d -DSN_GEMM_DN=%d",
             p->convd_v, p->convd_pa, p->convd_pb, p->convd_pbw, p->wino_v, p->wino_pa,
             p->wino_ob, p->wino_pb, p->wino_wc, p->wino_wo, p->gemm_local, p->gemm_tm,
             p->gemm_tn, p->gemm_wm, p->gemm_wn, p->gemm_tk, p->gemm_dm, p->gemm_dn);
}
