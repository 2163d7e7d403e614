"""What the dataset adapters cost, and whether PyDataset workers overlap a slow ``__getitem__``.

    python -m bench.data_pipeline                     # numpy backend, 5 rounds
    python -m bench.data_pipeline --backend cupy --rounds 3 --json out.json
    OPENBLAS_NUM_THREADS=1 python -m bench.data_pipeline --clock cpu   # on a busy machine

1. Overhead: one fit epoch on mlp-small-like data (20,000 x 784 float32, 10 classes,
   batch 128, Dense(256, relu) - Dense(10, softmax), Adam) from device-resident arrays
   (``shuffle=False``: slices, the cheapest array path), from a ``PyDataset`` whose
   ``__getitem__`` slices the same in-memory arrays (workers=1: one prefetch thread), and
   from a Python generator of the same batches. The three take turns in each round (so
   load that comes and goes on a shared machine hits all alike); the report gives the
   minimum and median epoch time of each and the ratios to the array path. ``--clock
   cpu`` times the process's CPU time (all threads, the prefetch thread's work included)
   instead of wall time: on a shared machine others' load disturbs it far less.
   Because a whole epoch varies by more than 5% on a busy machine, the adapters are also
   timed alone (one epoch of batches, no step) against the epoch's steps alone.
2. Overlap (wall time): a ``PyDataset`` of 16 batches whose ``__getitem__`` sleeps 50 ms,
   read by ``predict`` with workers=1, 2 and 4, against the serial sum (the sleeps plus
   the model's own time on the same batches from memory).

No PyTorch needed.
"""

import argparse
import json
import statistics
import time

import numpy as np

import portanet as pn

ROWS, FEATURES, CLASSES, BATCH = 20_000, 784, 10, 128


class InMemory(pn.utils.PyDataset):
    """Batches sliced from arrays held in memory (what a PyDataset over a loaded data set does)."""

    def __init__(self, x, y, batch, sleep=0.0, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.batch, self.sleep = x, y, batch, sleep

    def __len__(self):
        return -(-len(self.x) // self.batch)

    def __getitem__(self, idx):
        if self.sleep:
            time.sleep(self.sleep)
        s = slice(idx * self.batch, (idx + 1) * self.batch)
        return self.x[s], self.y[s]


def _model():
    pn.utils.set_random_seed(0)
    model = pn.Sequential([pn.Input((FEATURES,)), pn.layers.Dense(256, activation="relu"),
                           pn.layers.Dense(CLASSES, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def _generator(x, y):
    for i in range(0, len(x), BATCH):
        yield x[i:i + BATCH], y[i:i + BATCH]


def overhead(rounds, clock=time.perf_counter):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((ROWS, FEATURES)).astype("float32")
    y = rng.integers(0, CLASSES, ROWS)
    model = _model()
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)  # warm-up, builds
    cases = {
        "arrays": lambda: model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0),
        "pydataset": lambda: model.fit(InMemory(x, y, BATCH), epochs=1, shuffle=False, verbose=0),
        "generator": lambda: model.fit(_generator(x, y), epochs=1, verbose=0),
    }
    times = {k: [] for k in cases}
    for _ in range(rounds):
        for name, run in cases.items():
            start = clock()
            run()
            model.backend.synchronize()
            times[name].append(clock() - start)
    out = {name: {"min_s": min(t), "median_s": statistics.median(t), "all_s": t}
           for name, t in times.items()}
    for name in ("pydataset", "generator"):
        out[name]["min_ratio_to_arrays"] = out[name]["min_s"] / out["arrays"]["min_s"]
        out[name]["median_ratio_to_arrays"] = out[name]["median_s"] / out["arrays"]["median_s"]
    return out


def pipeline_only(rounds, clock=time.perf_counter):
    """The adapters alone: one epoch of batches from each, no training step (the part of the
    epoch that differs between the paths), and the steps alone, each the minimum over rounds;
    ``estimated_ratio`` = (steps + dataset batches) / (steps + array batches)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((ROWS, FEATURES)).astype("float32")
    y = rng.integers(0, CLASSES, ROWS)
    model = _model()
    model.fit(x[:BATCH], y[:BATCH], batch_size=BATCH, epochs=1, verbose=0)
    get = pn.training.get_data_adapter
    sources = {
        "arrays": lambda: get(model, x, y, batch_size=BATCH),
        "pydataset": lambda: get(model, InMemory(x, y, BATCH)),
        "generator": lambda: get(model, _generator(x, y)),
    }
    times = {k: [] for k in list(sources) + ["steps"]}
    batch = (x[:BATCH], y[:BATCH], None)
    for _ in range(rounds):
        for name, make in sources.items():
            adapter = make()
            start = clock()
            for _ in adapter:
                pass
            times[name].append(clock() - start)
            adapter.close()
        start = clock()
        for _ in range(-(-ROWS // BATCH)):
            model.train_step(batch)
        model.backend.synchronize()
        times["steps"].append(clock() - start)
    out = {k: min(v) for k, v in times.items()}
    for name in ("pydataset", "generator"):
        out[f"{name}_estimated_ratio"] = (out["steps"] + out[name]) / (out["steps"] + out["arrays"])
    return out


def overlap(batches=16, sleep=0.05):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batches * BATCH, FEATURES)).astype("float32")
    y = rng.integers(0, CLASSES, len(x))
    model = _model()
    model.predict(x[:BATCH], verbose=0)
    start = time.perf_counter()
    model.predict(InMemory(x, y, BATCH), verbose=0)
    compute = time.perf_counter() - start
    out = {"batches": batches, "sleep_s": sleep, "compute_s": compute,
           "serial_sum_s": compute + batches * sleep}
    for workers in (1, 2, 4):
        start = time.perf_counter()
        model.predict(InMemory(x, y, BATCH, sleep=sleep, workers=workers), verbose=0)
        out[f"workers_{workers}_s"] = time.perf_counter() - start
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    with pn.use_backend(args.backend):
        result = {"backend": args.backend, "clock": args.clock,
                  "overhead": overhead(args.rounds, clock),
                  "pipeline_only": pipeline_only(args.rounds, clock), "overlap": overlap()}
    o, v = result["overhead"], result["overlap"]
    print(f"backend {args.backend}: one fit epoch of {ROWS} x {FEATURES}, batch {BATCH} "
          f"({args.clock} clock)")
    for name in ("arrays", "pydataset", "generator"):
        ratio = "" if name == "arrays" else \
            f"  ratio min {o[name]['min_ratio_to_arrays']:.3f}, median {o[name]['median_ratio_to_arrays']:.3f}"
        print(f"  {name:10s} min {o[name]['min_s'] * 1e3:8.1f} ms  median {o[name]['median_s'] * 1e3:8.1f} ms{ratio}")
    p = result["pipeline_only"]
    print(f"  batches alone (min): arrays {p['arrays'] * 1e3:.1f} ms, pydataset {p['pydataset'] * 1e3:.1f} ms, "
          f"generator {p['generator'] * 1e3:.1f} ms; the epoch's steps alone {p['steps'] * 1e3:.0f} ms; "
          f"estimated ratio pydataset {p['pydataset_estimated_ratio']:.3f}, generator "
          f"{p['generator_estimated_ratio']:.3f}")
    print(f"slow __getitem__ ({v['batches']} x {v['sleep_s'] * 1e3:.0f} ms sleep): serial sum "
          f"{v['serial_sum_s'] * 1e3:.0f} ms (compute {v['compute_s'] * 1e3:.0f} ms); workers=1 "
          f"{v['workers_1_s'] * 1e3:.0f} ms, workers=2 {v['workers_2_s'] * 1e3:.0f} ms, "
          f"workers=4 {v['workers_4_s'] * 1e3:.0f} ms")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
