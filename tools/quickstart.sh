#!/usr/bin/env bash
# The README's two commands: set up a fresh Debian 12 machine, build, and
# either run the main job or the whole test suite.
#
#   bash tools/quickstart.sh main [sharesnet options...]   install, build, run the main job
#   bash tools/quickstart.sh test                          install, build, run every test,
#                                                          then the sanitizer build's fast
#                                                          tests and each fuzz harness
#                                                          (SN_FUZZ_SECONDS each, default 15)
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
          dataset-fashion-mnist gnuplot-nox
          libprotobuf-c-dev protobuf-c-compiler libonnx-dev
          python3-torch python3-torchvision python3-onnx)
# test mode also builds with sanitizers and fuzzes: clang and its libFuzzer.
[ "$mode" != test ] || packages+=(clang-15 libfuzzer-15-dev)

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

# Warnings fail the build: they are fixed, not silenced.
if [ ! -f build/build.ninja ]; then
  meson setup build --buildtype=debugoptimized -Dwerror=true
fi
ninja -C build

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
    ;;
  *)
    echo "usage: $0 main|test" >&2
    exit 2
    ;;
esac
