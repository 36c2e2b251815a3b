#!/usr/bin/env bash
# One-shot GPU check for a machine with an NVIDIA GPU, nvcc, cmake, ninja and pytest:
# builds the CUDA-enabled package (modular build, sm_90), then runs the GPU tests of
# tests/python/test_cuda.py (CUDA against CPU) and the op tables and gradient checks with gpu(0)
# as the default context. Logs go to $OUT (or ./device-out).
#   WHEELS=dir   wheels to install first (cffi and pycparser where the machine lacks them)
#   JOBS=n       parallel build jobs and test workers
#   ONLY=expr    a pytest -k expression for both test runs (e.g. "Convolution")
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/device-out}"
mkdir -p "$OUT"
JOBS="${JOBS:-$(nproc)}"
SITE=/tmp/brass-site
export PYTHONUNBUFFERED=1
if [ -n "${WHEELS:-}" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/brass-deps \
    "$WHEELS"/*.whl || exit 1
  export PYTHONPATH=/tmp/brass-deps
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
t0=$(date +%s)
CMAKE_BUILD_PARALLEL_LEVEL="$JOBS" python3 -m pip install -q --no-build-isolation --no-deps --target "$SITE" \
  -Ccmake.define.BRASS_USE_CUDA=ON -Ccmake.define.BRASS_AMALGAMATION=OFF -Ccmake.define.BRASS_CUDA_ARCHS=90 \
  -Cbuild-dir=build/device . >"$OUT/build.log" 2>&1 || { tail -50 "$OUT/build.log"; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s; LDFLAGS=${LDFLAGS:-} CXXFLAGS=${CXXFLAGS:-}"
ldd "$SITE/brass/libbrass.so" | grep -q libstdc || echo "note: libstdc++ is linked statically"
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
python3 -c "import brass as mx; print(mx.base.ffi.string(mx.base.lib.brass_build_info()).decode(), 'gpus', mx.num_gpus())" || exit 1
cd tests/python
K=()
if [ -n "${ONLY:-}" ]; then K=(-k "$ONLY"); fi
T=(-q -p no:cacheprovider -p no:benchmark -n "$JOBS" --timeout 300 -rfE --tb=short)
python3 -m pytest "${T[@]}" test_cuda.py -k "test_gpu_ and not suite${ONLY:+ and ($ONLY)}" 2>&1 | tee "$OUT/gpu_tests.log" | tail -40
# The op tables and gradient checks on gpu(0): the files test_cuda.py lists in OP_TABLES.
TABLES=$(python3 -c "import re; s = open('test_cuda.py').read(); print(' '.join(re.findall(r'\"(test_[a-z_]+\.py)\"', s[s.index('OP_TABLES = '):s.index(')]', s.index('OP_TABLES = '))])))")
BRASS_TEST_DEVICE=gpu python3 -m pytest "${T[@]}" "${K[@]}" $TABLES 2>&1 \
  | tee "$OUT/op_tables_gpu.log" | tail -60
if [ -f ../../benchmarks/bench_gpu.py ]; then
  python3 ../../benchmarks/bench_gpu.py 2>&1 | tee "$OUT/bench_gpu.log"
fi
echo "total: $(( $(date +%s) - t0 )) s"
