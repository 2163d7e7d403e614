"""Run under ``mpirun -n 2``: every scenario of common.py with distributed=True, then
write what the test compares (rank 0: weights and logs; each rank: its counters).

Usage: mpirun -n 2 python tests/distributed_scripts/train_two_ranks.py OUT_DIR
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import portanet as pn  # noqa: E402
import portanet.distributed  # noqa: E402,F401
from common import SCENARIOS, data, train  # noqa: E402
from common import model as new_model  # noqa: E402

pn.config.set_floatx("float64")
out = sys.argv[1]
info = pn.distributed.init()


class RankFileWriter(pn.callbacks.Callback):
    """A checkpoint-like callback: writes a file named after the rank that wrote it."""

    writes_files = True

    def on_epoch_end(self, epoch, logs=None):
        path = os.path.join(out, f"ckpt_rank{info.rank}_epoch{epoch}.npz")
        np.savez(path, *self.model.get_weights())


counters = {"rank": info.rank, "size": info.size, "local_rank": info.local_rank,
            "launcher": pn.distributed.launcher()}
for name in SCENARIOS:
    per_rank_batch = SCENARIOS[name][1]
    parallel_steps = []

    class CountSteps(pn.callbacks.Callback):
        def on_train_end(self, logs=None):
            parallel_steps.append(self.model.distribution.steps)

    callbacks = [CountSteps()]
    if name == "empty":
        # Only rank 0 keeps callbacks that write files: the flag (RankFileWriter) and
        # portanet's ModelCheckpoint (here with a per-rank name, to see who wrote).
        checkpoint = pn.callbacks.ModelCheckpoint(
            os.path.join(out, f"ckpt_mc_rank{info.rank}_" + "{epoch}.weights.h5"), save_weights_only=True)
        callbacks += [RankFileWriter(), checkpoint]
    model, history = train(name, per_rank_batch, True, callbacks=callbacks)
    counters[name] = {"reducer_steps": parallel_steps[0]}
    if name == "empty":  # the training streams (dropout masks) must differ across ranks
        counters["stream_after_fit"] = [float(v) for v in model.backend.to_numpy(
            model.backend.random_uniform((4,), dtype="float64"))]
    if pn.distributed.is_main():
        np.savez(os.path.join(out, f"{name}_weights.npz"), *model.get_weights())
        with open(os.path.join(out, f"{name}_history.json"), "w") as f:
            json.dump({k: [float(v) for v in vs] for k, vs in history.history.items()}, f)
# Interrupted and resumed: 2 epochs with a backup (written by rank 0 only), then a fresh
# model asks for 3; rank 0 restores the backup and the other rank must follow it (weights,
# optimizer state, epoch). The result must be the uninterrupted run's ("empty").
backup = os.path.join(out, "backup")
x, y, *_ = data("empty")
first = new_model()
first.fit(x, y, batch_size=4, epochs=2, verbose=0, distributed=True,
          callbacks=[pn.callbacks.BackupAndRestore(backup, delete_checkpoint=False)])
resumed = new_model()
history = resumed.fit(x, y, batch_size=4, epochs=3, verbose=0, distributed=True,
                      callbacks=[pn.callbacks.BackupAndRestore(backup)])
counters["resume"] = {"epochs_run": len(history.epoch)}
if pn.distributed.is_main():
    np.savez(os.path.join(out, "resume_weights.npz"), *resumed.get_weights())
with open(os.path.join(out, f"rank{info.rank}.json"), "w") as f:
    json.dump(counters, f)
print(f"rank {info.rank} finished", flush=True)
