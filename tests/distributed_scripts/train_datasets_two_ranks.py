"""Run under ``mpirun -n 2``: data-parallel fit on datasets (an iterable of batches without a
length, a PyDataset read by one worker and by two), each of 11 batches of 4 rows, so the
last global step has one batch and rank 1 gets an empty one. Rank 0 writes the weights and
History for tests/test_distributed.py, which compares them with one process training on the
same rows in batches of 8 (common.dataset_reference).

Usage: mpirun -n 2 python tests/distributed_scripts/train_datasets_two_ranks.py OUT_DIR
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import portanet as pn  # noqa: E402
import portanet.distributed  # noqa: E402,F401
from common import DATASET_KINDS, dataset_data, make_dataset, model  # noqa: E402

pn.config.set_floatx("float64")
out = sys.argv[1]
info = pn.distributed.init()
seen = {}
for kind in DATASET_KINDS:
    x, y, sw, vx, vy = dataset_data()
    m = model()
    source = make_dataset(kind, x, y, sw)
    history = m.fit(source, epochs=2, verbose=0, shuffle=False, validation_data=(vx, vy),
                    distributed=True)
    seen[kind] = source.rows_read if hasattr(source, "rows_read") else None
    if pn.distributed.is_main():
        np.savez(os.path.join(out, f"{kind}_weights.npz"), *m.get_weights())
        with open(os.path.join(out, f"{kind}_history.json"), "w") as f:
            json.dump({k: [float(v) for v in vs] for k, vs in history.history.items()}, f)
with open(os.path.join(out, f"datasets_rank{info.rank}.json"), "w") as f:
    json.dump(seen, f)
print(f"rank {info.rank} finished", flush=True)
