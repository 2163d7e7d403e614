"""Run under ``mpirun -n 2``: rank 1 raises in the middle of the second epoch while rank 0
is about to wait in the next all-reduce; both must end, with rank 1's error shown.
With the argument ``outside``, rank 1 raises outside fit while rank 0 waits in a barrier
(the exception hook that init() installs ends both).

Usage: mpirun -n 2 python tests/distributed_scripts/fail_one_rank.py [outside]
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import portanet as pn  # noqa: E402
import portanet.distributed  # noqa: E402,F401
from common import train  # noqa: E402

pn.config.set_floatx("float64")
info = pn.distributed.init()


class FailOnRankOne(pn.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if info.rank == 1 and self.epoch == 1 and batch == 2:
            raise RuntimeError("deliberate failure on rank 1 in epoch 1, batch 2")


if sys.argv[1:] == ["outside"]:
    if info.rank == 1:
        raise ValueError("deliberate failure on rank 1 outside fit")
    pn.distributed.barrier()
else:
    train("empty", 4, True, callbacks=[FailOnRankOne()])
print(f"rank {info.rank} finished training", flush=True)
