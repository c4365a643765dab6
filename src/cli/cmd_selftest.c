/* `sharesnet selftest`: the first thing to run on a new device or driver.
 * Builds (or loads) every kernel family, runs kernels on random data and
 * compares with the host; any failure is reported with its reason. */
#include "cli/cli.h"



/* Run and print each case of a list; returns the number that failed. */
static int run_cases(sn_context *ctx, const sn_selftest_case *cases)
{
    int failures = 0;
    for (const sn_selftest_case *c = cases; c->name; c++) {
        char detail[512] = "";
        double start = sn_now_seconds();
        sn_status st = c->run(ctx, detail, sizeof detail);
        double ms = 1e3 * (sn_now_seconds() - start);
        if (st == SN_OK) {
            printf("  ok    %-28s %8.1f ms  %s\n", c->name, ms, detail);
        } else {
            failures++;
            printf("  FAIL  %-28s %s (%s)\n", c->name, sn_last_error(), sn_status_name(st));
        }
    }
    return failures;
}

int cmd_selftest(int argc, char **argv)
{
    cli_option opts[] = {
        {"device", 1, "device selector (P:D, gpu/cpu/accelerator, or a name part)", NULL},
    };
    cli_args args = {opts, 1, NULL, 0};
    int rc = cli_parse(argc, argv, 2,
                       "usage: sharesnet selftest [--device X]\n\n"
                       "Builds the kernels on the device and checks their results on random\n"
                       "data against the host. Exits non-zero with the reason on failure.",
                       &args);
    cli_args_free(&args);
    if (rc)
        return rc == 1 ? 0 : rc;

    sn_context *ctx;
    if (cli_open_context(cli_get(&args, "device"), &ctx))
        return 1;
    /* Every kernel family, not only those the checks below use. */
    sn_status st = sn_context_build_kernels(ctx);
    if (st != SN_OK) {
        sn_context_free(ctx);
        return cli_error("selftest", st);
    }
    const sn_device_info dev = *sn_context_device(ctx), *d = &dev;
    printf("device   %d:%d %s (%s, %s)\n", d->platform_index, d->device_index, d->name,
           d->platform, d->driver_version);
    printf("program  %s in %.3f s\n", sn_program_origin_name(sn_context_program_origin(ctx)),
           sn_context_program_seconds(ctx));
    printf("compile  %s\n", sn_context_runtime_compile(ctx)
                                 ? "run-time compilation allowed (CLBlast may be used)"
                                 : "no run-time compilation: every op from the library's program");

    int failures = run_cases(ctx, sn_selftest_cases) + run_cases(ctx, sn_selftest_ops_cases);
    sn_context_free(ctx);
    if (failures) {
        fprintf(stderr, "sharesnet: selftest: %d check(s) failed on %s\n", failures, d->name);
        return 1;
    }
    printf("selftest passed\n");
    return 0;
}
