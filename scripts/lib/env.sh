# Shared by scripts/setup, scripts/vision and scripts/test: where the toolchain lives and how
# to run a command inside it. Sourced, never executed.

VISION_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VISION_ROOT=${VISION_ROOT:-/opt/vision-root}
VISION_BUILD_DIR=${VISION_BUILD_DIR:-$VISION_REPO/build}

# Debian 13 packages that the build, the tests and the benchmarks need (SPEC section 1).
# libopenblas0-pthread: without it Debian's torch runs linear layers and matmuls on the
# reference BLAS (bench/README.md has the figures).
# libgloo-dev: the Gloo headers c10d's ProcessGroupGloo.hpp includes (data-parallel training).
VISION_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git ca-certificates
  libtorch-dev libopenblas0-pthread libgloo-dev libonnxruntime-dev libonnx-dev libprotobuf-dev protobuf-compiler
  libopencv-dev libtomlplusplus-dev nlohmann-json3-dev libcli11-dev
  libcpp-httplib-dev libssl-dev zlib1g-dev libsqlite3-dev sqlite3 libpqxx-dev libyaml-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-opencv python3-numpy
  chromium postgresql wrk curl procps
)

log() { printf '[vision] %s\n' "$*" >&2; }
die() { printf '[vision] error: %s\n' "$*" >&2; exit 1; }

# True when this host's own apt can provide the stack (Debian 13, Ubuntu 24.04+).
host_is_native() {
  if [ -f "$VISION_ROOT/.vision-native" ]; then return 0; fi
  if [ -f /etc/os-release ]; then
    # shellcheck disable=SC1091
    . /etc/os-release
    case "${ID:-}:${VERSION_ID:-}" in
      debian:1[3-9]*|ubuntu:2[4-9]*|ubuntu:[3-9]*) return 0 ;;
    esac
  fi
  return 1
}

uses_root() { ! host_is_native; }

# Run "$@" inside the Debian 13 root (or directly on a native host). The process keeps its
# PID through every exec, so signals reach the command and its exit code comes back as is.
run_in_root() {
  if ! uses_root; then exec "$@"; fi
  local parent cwd
  parent=$(dirname "$VISION_REPO")
  cwd=$(pwd)
  exec unshare --mount --propagation private /bin/sh -c '
    root=$1; parent=$2; cwd=$3; shift 3
    for d in /dev /proc /sys /tmp "$parent" "$cwd"; do
      [ -d "$d" ] || continue
      mkdir -p "$root$d"
      mount --rbind "$d" "$root$d" || exit 125
    done
    cp -f /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
    exec chroot "$root" /bin/sh -c "cd \"\$0\" && exec \"\$@\"" "$cwd" "$@"
  ' vision-root "$VISION_ROOT" "$parent" "$cwd" "$@"
}

# For the benchmarks, inside the root: Debian's python3-onnx and python3-onnxruntime (ONNX
# Runtime's own quantizer, the FLOP counter); installed the first time, the product never needs them.
ensure_onnx_python() {
  if ! python3 -c 'import onnx, onnx.reference, onnxruntime.quantization' >/dev/null 2>&1; then
    log "installing python3-onnxruntime and python3-onnx (benchmark tools)"
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      python3-onnxruntime python3-onnx; } >&2 || die "cannot install python3-onnxruntime and python3-onnx"
  fi
}
