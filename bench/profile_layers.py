"""Where a training step's time goes, layer by layer, on the chosen backend.

    python -m bench.profile_layers --backend cupy --workload cnn --batch 1024

Each layer's forward and backward is timed on its own with the device synchronized around
it (so on a GPU this measures each layer's kernels plus its host overhead), then the loss
and the optimizer update. Medians over ``--repeat`` runs, microseconds.
"""

import argparse
import statistics
import time

import portanet as pn

from . import workloads


def profile(workload, batch, repeat=20):
    backend = pn.backend.current()
    model = workloads.portanet_model(workload, pn)
    x, y = workloads.make_data(workload, batch)
    xd, yd = backend.from_numpy(x), backend.from_numpy(y)
    model._ensure_compiled_outputs()
    model._reset_trackers()
    for _ in range(3):
        model._train_step([xd], [yd], [None], batch)
    sync = backend.synchronize
    rows = {}

    def timed(key, fn):
        sync()
        t = time.perf_counter()
        out = fn()
        sync()
        rows.setdefault(key, []).append((time.perf_counter() - t) * 1e6)
        return out

    for _ in range(repeat):
        model._zero_grads(model.weights)
        h, backs = xd, []
        for layer in model.layers:
            h, back, _, _ = timed(f"{layer.name} forward", lambda l=layer, h=h: l.run(h, training=True))
            backs.append((layer, back))
        loss = model._compiled_outputs["losses"][0]
        value, lback = timed("loss forward", lambda: loss.forward(yd, h, None))
        d = timed("loss backward", lambda: lback(1.0))
        for layer, back in reversed(backs):
            d = timed(f"{layer.name} backward", lambda b=back, d=d: b(d))
        timed("optimizer", lambda: model.optimizer.apply(model.trainable_weights))
        timed("whole step", lambda: model._train_step([xd], [yd], [None], batch))
    return {k: statistics.median(v) for k, v in rows.items()}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.profile_layers")
    p.add_argument("--backend", default=None)
    p.add_argument("--workload", default="cnn")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeat", type=int, default=20)
    a = p.parse_args(argv)
    if a.backend:
        pn.set_backend(a.backend)
    res = profile(a.workload, a.batch, a.repeat)
    total = res.pop("whole step")
    print(f"{a.workload} batch {a.batch} on {pn.backend.current().name}: whole step {total:,.0f} us (median)")
    for k, v in res.items():
        print(f"  {k:32s} {v:10,.0f} us")


if __name__ == "__main__":
    main()
