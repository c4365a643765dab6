/* sharesnet-bench-ops: the op benchmark as its own program (bench_ops.c;
 * the same code runs as `sharesnet bench ops`). */
#include "bench.h"

int main(int argc, char **argv) { return bench_ops_main(argc, argv); }
