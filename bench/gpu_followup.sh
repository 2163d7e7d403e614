# Follow-up GPU checks (after bench/gpu_run.sh): the tests that failed there, the bench again,
# and a host-side profile of the LSTM step on cupy. Writes to $OUT.
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD || exit 1
PY=$(command -v python3); export PYTHONUNBUFFERED=1
echo "=== tests"; PORTANET_BACKEND=cupy timeout 150 $PY -m pytest -p no:cacheprovider tests/test_callbacks.py tests/test_lr_finder.py tests/test_normalization.py tests/test_distributed.py tests/test_conv.py tests/test_losses.py 2>&1 | tee $OUT/pytest-cupy-followup.log | tail -15
echo "=== bench"; timeout 120 $PY -m bench --backend cupy --steps 100 --warmup 10 --json $OUT/bench-cupy.json --md $OUT/bench-cupy.md 2>&1 | tail -12
echo "=== profile"; timeout 40 $PY -m bench.profile_layers --backend cupy --workload cnn --batch 1024 --repeat 5 | tee $OUT/profile.txt
timeout 60 $PY -m cProfile -s tottime -m bench.profile_layers --backend cupy --workload lstm --batch 64 --repeat 5 2>&1 | head -45 | tee -a $OUT/profile.txt
