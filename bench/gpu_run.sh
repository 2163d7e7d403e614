#!/usr/bin/env bash
# One GPU session in one go (about 6 minutes at most): the CuPy test suite, then the
# hot-loop bench on CuPy with its PyTorch peers, results written to $OUT.
#
# Run from the repository root on a machine with CuPy 14 and PyTorch (no network); the
# wheels the image lacks travel in .whl/ (see bench/README.md):
#     bash bench/gpu_run.sh            # OUT=/some/dir bash bench/gpu_run.sh elsewhere
# Files written to $OUT: pytest-cupy.log, bench-cupy.json, bench-cupy.md, bench-cupy.log,
# bench-cupy-portable.json (PORTANET_FUSED=none), bench-cupy-flat.json (PORTANET_ADAM_FLAT=1).
# PYTEST_ARGS overrides "-x" (e.g. PYTEST_ARGS="--maxfail=25" to see more failures);
# SUITE_TIMEOUT (seconds, default 180) bounds the rest of the suite.
set -u
OUT="${OUT:-$PWD/gpu-out}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
start=$(date +%s)
stamp() { echo "=== [$(( $(date +%s) - start ))s] $*"; }

stamp "device"
nvidia-smi || echo "nvidia-smi not available"
python3 --version

stamp "carried wheels"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || { echo "wheel install failed"; exit 1; }
    export PYTHONPATH=/tmp/site:$PWD
else
    echo "no .whl/ folder: using the installed packages"
    export PYTHONPATH=$PWD
fi
python3 - <<'EOF'
import importlib
for name in ("numpy", "cupy", "torch", "array_api_compat", "array_api_strict", "pytest"):
    try:
        m = importlib.import_module(name)
        print(f"{name} {getattr(m, '__version__', '?')}")
    except Exception as exc:
        print(f"{name}: not importable ({exc})")
import portanet as pn
b = pn.set_backend("cupy")
print("portanet backend:", b, "fast paths:", sorted(b.fused_paths()))
EOF

# The hot-loop files first, on their own, so a run cut short still covers the backend, the
# fast paths, streaming and the bench on the GPU; then the rest of the suite.
MINE="tests/test_backend.py tests/test_hot_loop.py tests/test_bench.py"
stamp "backend, hot-loop and bench tests on cupy (timeout 90 s)"
PORTANET_BACKEND=cupy timeout 90 python3 -m pytest -q ${PYTEST_ARGS:--x} -p no:cacheprovider $MINE \
    2>&1 | tee "$OUT/pytest-cupy.log" | tail -30
echo "pytest exit status: ${PIPESTATUS[0]} (124 = timed out)"
stamp "the rest of the test suite on cupy (timeout ${SUITE_TIMEOUT:-180} s)"
PORTANET_BACKEND=cupy timeout "${SUITE_TIMEOUT:-180}" python3 -m pytest -q ${PYTEST_ARGS:--x} \
    -p no:cacheprovider tests $(for f in $MINE; do printf -- "--ignore=%s " "$f"; done) \
    2>&1 | tee -a "$OUT/pytest-cupy.log" | tail -40
echo "pytest exit status: ${PIPESTATUS[0]} (124 = timed out)"

stamp "bench: all workloads on cupy, PyTorch eager and CUDA-graph peers (timeout 100 s)"
timeout 100 python3 -m bench --backend cupy --steps 200 --warmup 20 --chunk 10 \
    --json "$OUT/bench-cupy.json" --md "$OUT/bench-cupy.md" 2>&1 | tee "$OUT/bench-cupy.log"

stamp "bench: mlp on the portable path (PORTANET_FUSED=none) and with flat-buffer Adam (2 x 20 s)"
PORTANET_FUSED=none timeout 20 python3 -m bench --backend cupy --workloads mlp-small,mlp-large \
    --steps 200 --warmup 20 --no-graph --no-fit --json "$OUT/bench-cupy-portable.json" 2>&1 | tail -4
PORTANET_ADAM_FLAT=1 timeout 20 python3 -m bench --backend cupy --workloads mlp-small,mlp-large \
    --steps 200 --warmup 20 --no-graph --no-fit --json "$OUT/bench-cupy-flat.json" 2>&1 | tail -4

stamp "done; files in $OUT:"
ls -l "$OUT"
