# Last GPU check of a session: the changed tests on cupy, then the bench. Writes to $OUT.
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD || exit 1
PY=$(command -v python3); export PYTHONUNBUFFERED=1
echo "=== tests"; PORTANET_BACKEND=cupy timeout 100 $PY -m pytest -p no:cacheprovider tests/test_conv.py tests/test_core_layers.py tests/test_backend.py tests/test_distributed.py tests/test_lr_finder.py tests/test_callbacks.py 2>&1 | tee $OUT/pytest-cupy-final.log | tail -8
echo "=== bench"; timeout 100 $PY -m bench --backend cupy --steps 100 --warmup 10 --json $OUT/bench-cupy.json --md $OUT/bench-cupy.md 2>&1 | tail -9
