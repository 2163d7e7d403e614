"""Shared by the distributed test scripts and tests/test_distributed.py: the data, the
model and the scenarios, so the two-rank run and the one-process reference build exactly
the same thing."""

import numpy as np

import portanet as pn

# name -> (rows, per-rank batch, epochs, shuffle, sample weights?, validation?)
# "empty": 41 rows in global batches of 8 leave one row for the last batch, so rank 0's
#          shard of it is empty (it still joins the all-reduce).
# "uneven": 45 rows leave 5 for the last batch, split 2 / 3, with sample weights,
#          weighted metrics, validation data and shuffle="batch".
SCENARIOS = {
    "empty": (41, 4, 3, True, False, False),
    "uneven": (45, 4, 2, "batch", True, True),
}


def data(name):
    rows = SCENARIOS[name][0]
    rng = np.random.default_rng(7)
    x = rng.standard_normal((rows, 5))
    y = rng.integers(0, 3, size=rows)
    sw = rng.uniform(0.5, 2.0, size=rows)
    vx = rng.standard_normal((9, 5))
    vy = rng.integers(0, 3, size=9)
    return x, y, sw, vx, vy


def model():
    pn.utils.set_random_seed(0)
    m = pn.Sequential([pn.Input((5,)), pn.layers.Dense(8, activation="tanh"),
                       pn.layers.Dense(3, activation="softmax")])
    m.compile(optimizer=pn.optimizers.Adam(learning_rate=0.05), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"], weighted_metrics=["accuracy"])
    return m


def train(name, batch_size, distributed, callbacks=None):
    """Fit scenario ``name``; returns (model, history). ``batch_size`` is per process."""
    rows, _, epochs, shuffle, weighted, validation = SCENARIOS[name]
    x, y, sw, vx, vy = data(name)
    m = model()
    history = m.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=shuffle,
                    sample_weight=sw if weighted else None,
                    validation_data=(vx, vy) if validation else None,
                    callbacks=callbacks, distributed=distributed)
    return m, history
