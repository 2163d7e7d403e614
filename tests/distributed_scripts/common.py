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


# ---- data-parallel training on datasets (train_datasets_two_ranks.py)
DATASET_KINDS = ("iterable", "pydataset", "pydataset_workers")
DATASET_BATCH = 4  # rows per batch of the dataset; 2 ranks make global steps of 8 rows


def dataset_data():
    """42 rows with sample weights: 11 batches of 4 (the last has 2), and 9 validation rows."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((42, 5))
    y = rng.integers(0, 3, size=42)
    sw = rng.uniform(0.5, 2.0, size=42)
    return x, y, sw, rng.standard_normal((9, 5)), rng.integers(0, 3, size=9)


class Batches(pn.utils.PyDataset):
    """(x, y, sample_weight) batches of DATASET_BATCH rows; records which batches it read."""

    def __init__(self, x, y, sw, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.sw = x, y, sw
        self.rows_read = []

    def __len__(self):
        return -(-len(self.x) // DATASET_BATCH)

    def __getitem__(self, i):
        s = slice(i * DATASET_BATCH, (i + 1) * DATASET_BATCH)
        self.rows_read.append(i)
        return self.x[s], self.y[s], self.sw[s]


class Stream:
    """An iterable of the same batches without a length (a fresh pass per epoch)."""

    def __init__(self, x, y, sw):
        self.x, self.y, self.sw = x, y, sw

    def __iter__(self):
        for start in range(0, len(self.x), DATASET_BATCH):
            s = slice(start, start + DATASET_BATCH)
            yield self.x[s], self.y[s], self.sw[s]


def make_dataset(kind, x, y, sw):
    if kind == "iterable":
        return Stream(x, y, sw)
    return Batches(x, y, sw, workers=2 if kind == "pydataset_workers" else 1)


def dataset_reference():
    """One process, the same rows in batches of 2 * DATASET_BATCH: (model, history)."""
    x, y, sw, vx, vy = dataset_data()
    m = model()
    history = m.fit(x, y, sample_weight=sw, batch_size=2 * DATASET_BATCH, epochs=2, verbose=0,
                    shuffle=False, validation_data=(vx, vy))
    return m, history
