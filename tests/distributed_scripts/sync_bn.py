"""BatchNormalization(synchronized=True) under data parallelism: the model and data shared by
tests/test_sync_batchnorm.py and its ``mpirun -n 2`` run (python sync_bn.py OUT_DIR).

Scenarios: "even" (48 rows, 8 per process: every global batch splits 8 / 8) and "empty" (41
rows: the last global batch has one row, so one process's shard is empty and joins the
all-reduces with zeros), each with a Dense -> BatchNormalization -> Dense model and a
Conv1D -> BatchNormalization(axis=-1) model, trained with shuffling, in float64.
"""

import json
import os
import sys

import numpy as np

import portanet as pn

SCENARIOS = {"even": (48, 8), "empty": (41, 4)}


def data(rows, conv):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((rows, 6, 3)) if conv else rng.standard_normal((rows, 5)) * 3.0 + 1.0
    y = rng.integers(0, 3, size=rows)
    return x, y


def model(conv):
    pn.utils.set_random_seed(0)
    if conv:
        layers = [pn.Input((6, 3)), pn.layers.Conv1D(4, 3, activation="relu"),
                  pn.layers.BatchNormalization(synchronized=True, momentum=0.5),
                  pn.layers.GlobalAveragePooling1D(), pn.layers.Dense(3, activation="softmax")]
    else:
        layers = [pn.Input((5,)), pn.layers.Dense(6),
                  pn.layers.BatchNormalization(synchronized=True, momentum=0.5),
                  pn.layers.Activation("tanh"), pn.layers.Dense(3, activation="softmax")]
    m = pn.Sequential(layers)
    m.compile(optimizer=pn.optimizers.SGD(learning_rate=0.1, momentum=0.5),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def train(name, conv, batch_size, distributed):
    rows, _ = SCENARIOS[name]
    x, y = data(rows, conv)
    m = model(conv)
    history = m.fit(x, y, batch_size=batch_size, epochs=2, verbose=0, shuffle=True, distributed=distributed)
    return m, history


if __name__ == "__main__":
    import portanet.distributed  # noqa: F401

    pn.config.set_floatx("float64")
    out = sys.argv[1]
    info = pn.distributed.init()
    for name, (_, per_rank) in SCENARIOS.items():
        for conv in (False, True):
            m, history = train(name, conv, per_rank, True)
            tag = f"{name}_{'conv' if conv else 'dense'}"
            np.savez(os.path.join(out, f"{tag}_rank{info.rank}.npz"), *m.get_weights())
            if info.rank == 0:
                with open(os.path.join(out, f"{tag}_history.json"), "w") as f:
                    json.dump({k: [float(v) for v in vs] for k, vs in history.history.items()}, f)
    print(f"rank {info.rank} finished", flush=True)
