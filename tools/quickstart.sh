#!/usr/bin/env bash
# The README's two commands: set up a fresh Debian 12 machine, build, and
# either run the main job or the whole test suite.
#
#   bash tools/quickstart.sh main [sharesnet options...]   install, build, run the main job
#   bash tools/quickstart.sh test                          install, build, run every test,
#                                                          then the sanitizer build's fast
#                                                          tests, each fuzz harness
#                                                          (SN_FUZZ_SECONDS each, default 15)
#                                                          and the Oclgrind step
#   bash tools/quickstart.sh oclgrind                      install, build, the Oclgrind step
#
# Installs only the Debian packages that are missing (sudo when not root),
# builds into ./build with meson, and exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-main}
shift || true

packages=(build-essential meson ninja-build pkg-config python3
          ocl-icd-opencl-dev opencl-headers pocl-opencl-icd clinfo
          libclblast-dev libpng-dev zlib1g-dev libjansson-dev libcriterion-dev
          dataset-fashion-mnist gnuplot-nox oclgrind
          libprotobuf-c-dev protobuf-c-compiler libonnx-dev
          python3-torch python3-torchvision python3-onnx)
# test mode also builds with sanitizers and fuzzes (clang and its
# libFuzzer), and trains on 2 MPI ranks (Open MPI).
[ "$mode" != test ] || packages+=(clang-15 libfuzzer-15-dev libopenmpi-dev openmpi-bin)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm (test mode: onnxruntime for the ONNX test). Only when the command is
# missing: NodeSource's nodejs provides npm itself and conflicts with Debian's.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if ((${#missing[@]})); then
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  echo "quickstart: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Warnings fail the build: they are fixed, not silenced. The tests need the
# MPI build (data-parallel training on 2 ranks): without Open MPI the setup
# fails rather than leaving the test out.
mpi=auto
[ "$mode" != test ] || mpi=enabled
if [ ! -f build/build.ninja ]; then
  meson setup build --buildtype=debugoptimized -Dwerror=true -Dmpi=$mpi
elif [ $mpi = enabled ]; then
  meson configure build -Dmpi=enabled
fi
ninja -C build

# The second OpenCL implementation (issue 11): Oclgrind simulates a GPU
# (SN_DEVICE_GPU kernel variants, local memory) and checks every kernel run
# for out-of-bounds accesses, data races, uninitialised values and API
# misuse; tools/oclgrind_check.sh fails on any report. It interprets the
# kernels, so the op tests run on a subset of small awkward shapes (odd
# sizes, channels not a multiple of 4, stride 2 on odd inputs, one pixel):
# a few minutes on two cores.
oclgrind_step() {
  local check=tools/oclgrind_check.sh ops=build/tests/ops t0=$SECONDS
  local tune_dir
  tune_dir=$(mktemp -d)
  # selftest with the tuner timing every candidate (an empty cache: no
  # stored decision), then with each algorithm forced.
  SN_CACHE_DIR="$tune_dir" $check ./build/src/cli/sharesnet selftest
  rm -rf "$tune_dir"
  for algo in gemm direct winograd; do
    SN_CONV_ALGO=$algo $check ./build/src/cli/sharesnet selftest
  done
  # Op tests, algorithms pinned as in the normal suite (SN_TUNE=0), shape
  # loops without their large shapes (SN_TEST_SMALL, tests/ops/op_test.h).
  export SN_TUNE=0 SN_TEST_SMALL=1
  $check $ops/test_conv_linear -j2 --filter \
    '@(conv2d_direct|conv2d_gemm)/@(k3_1x1_spatial_pad1|stride2_odd_9x9|k1_stride2_pad1|lanes_40_17_stride2|k5_pad3_tiny_input)'
  $check $ops/test_conv_linear -j2 --filter 'linear/@(batch1_in7_out10|after_global_pool)'
  # Our SGEMM's local-memory (GPU) variant: every transpose pair, edges,
  # batches (CLBlast's own kernels are not ours to check).
  $check $ops/test_gemm -j2 --filter 'gemm/@(one_by_one|odd_small|odd_accumulate|alpha_beta|past_a_block|batched|batched_accumulate)'
  $check $ops/test_conv_winograd -j2 --filter \
    '@(conv2d_winograd|conv2d_winograd_affine)/@(odd_7x9_c5_oc17|pad2_one_pixel|tiny_2x3_pad2_oc17|one_pixel_pad2)'
  $check $ops/test_conv_direct_affine -j2 --filter \
    'conv_direct_affine/@(batch1_3x3_odd|stride2_odd_9x9|one_pixel|k1_projection_stride2)'
  $check $ops/test_norm_pool_loss -j2 --filter \
    '@(batchnorm/@(forward_train_awkward_shapes|backward_awkward_shapes|forward_eval|backward_eval|deterministic)|batchnorm_relu/*|elementwise/*|pool/*|loss/*)'
  $check $ops/test_fusion -j2 --filter \
    '@(bn_add_relu/@(forward_awkward_shapes|backward_awkward_shapes)|conv_affine/bn_fold)'
  $check $ops/test_conv_direct_tiles -j2 --filter \
    'conv_direct_tiles/@(gather_forward_40_channels|stride2_pad0_5_channels)'
  $check $ops/test_sgd_util -j2
  unset SN_TUNE SN_TEST_SMALL
  echo "quickstart: Oclgrind step passed in $((SECONDS - t0)) s"
}

case "$mode" in
  main)
    # Check the device, then the short budget of the main job: ResNet-20 vs
    # ShaResNet-20 on Fashion-MNIST, same recipe and seed. Later arguments
    # override these (e.g. --epochs 164 for the papers' full recipe).
    ./build/src/cli/sharesnet selftest
    ./build/src/cli/sharesnet compare --data fashion-mnist --models resnet20,sharesnet20 \
      --epochs 3 --batch 128 --out runs/main "$@"
    ;;
  test)
    # onnxruntime for the ONNX interop test (tests/interop/package.json): the
    # package carries the Linux x64 runtime; its install script would try to
    # download extras, so it is skipped.
    (cd tests/interop && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)
    # --verbose shows each Criterion program's own summary of the tests it ran.
    meson test -C build --print-errorlogs --verbose --num-processes 1
    # Hardening (docs/RELIABILITY.md): the fast tests under ASan+UBSan+LSan,
    # then every fuzz harness for a short bounded time (the kept crash
    # inputs of fuzz/regressions/ are replayed first).
    bash tools/sanitize.sh
    bash tools/fuzz.sh "${SN_FUZZ_SECONDS:-15}"
    oclgrind_step
    ;;
  oclgrind)
    oclgrind_step
    ;;
  *)
    echo "usage: $0 main|test|oclgrind" >&2
    exit 2
    ;;
esac
