/* gemm: being written. */
typedef int sn_placeholder_gemm;
