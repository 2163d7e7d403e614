"""Timing: portanet's training step, one fit() epoch, and the PyTorch peers, in one process.

A step is forward + loss + backward + Adam update on one fixed batch already on the
device (bench/workloads.py). Steps run in chunks of ``chunk`` with a device
synchronization before and after each chunk; a chunk's time divided by its length is one
sample. On the CPU chunk is 1 (every step timed alone); on a GPU a few steps per chunk
keep the launch queue as full as it is inside fit while still synchronizing around
every timed region.
"""

import gc
import resource
import statistics
import sys
import time

from . import workloads as W


def _percentile(values, q):
    data = sorted(values)
    if not data:
        return float("nan")
    pos = (len(data) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def summarize(samples, batch):
    """Per-step seconds -> median/p10/p90 in microseconds and samples per second."""
    med = statistics.median(samples)
    return {"median_us": med * 1e6, "p10_us": _percentile(samples, 0.1) * 1e6,
            "p90_us": _percentile(samples, 0.9) * 1e6, "samples_per_s": batch / med,
            "timed_steps": len(samples)}


def _timed_chunks(step, sync, steps, warmup, chunk):
    for _ in range(warmup):
        step()
    sync()
    samples = []
    for _ in range(max(1, steps // chunk)):
        t0 = time.perf_counter()
        for _ in range(chunk):
            step()
        sync()
        samples.append((time.perf_counter() - t0) / chunk)
    return samples


def host_peak_rss_mb():
    """Peak resident memory of this process so far (Linux reports KiB)."""
    scale = 1024.0 if sys.platform != "darwin" else 1.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


# --------------------------------------------------------------------------- portanet
class PortanetCase:
    """A built workload with its batch on the device, ready to step."""

    def __init__(self, name, batch, pn, backend, seed=0):
        pn.utils.set_random_seed(seed)
        self.pn, self.backend, self.batch, self.name = pn, backend, batch, name
        self.model = W.portanet_model(name, pn)
        x, y = W.make_data(name, batch, seed)
        m = self.model
        self.xs = m._prepare_inputs(x)
        m._ensure_compiled_outputs()
        self.ys = m._prepare_targets(y, m._output_shapes())
        self.sws = [None] * len(self.ys)
        m._reset_trackers()

    def step(self):
        self.model._train_step(self.xs, self.ys, self.sws, self.batch)

    def sync(self):
        self.backend.synchronize()

    def reset_trackers(self):
        # Long timing runs would otherwise grow the loss sum's lazy chain on lazy backends.
        self.model._reset_trackers()


def _cupy_pool(backend):
    if backend.name != "cupy":
        return None
    return backend._cupy.get_default_memory_pool()


def portanet_memory(case):
    """Peak memory of the portanet case: the CuPy pool's bytes held, or the host's peak RSS."""
    pool = _cupy_pool(case.backend)
    if pool is not None:
        return {"peak_mem_mb": pool.total_bytes() / 2**20, "mem_kind": "cupy memory pool (bytes held)"}
    return {"peak_mem_mb": host_peak_rss_mb(), "mem_kind": "host peak RSS of the process"}


def time_fit_ratio(case, n_batches, repeats=3, clock=time.perf_counter):
    """Median time of one fit() epoch over n_batches batches vs the sum of its steps.

    "Its steps" are the training steps of the same n_batches distinct batches of the
    same device data, run directly (contiguous slices, so no gathering): the ratio is
    what fit adds around them, i.e. shuffling, gathering each batch, callbacks and
    logging. The data are device arrays, so there is no host copy in it either. The
    ratio to n_batches steps on the one fixed (cache-warm) batch of the step timing is
    reported too (``fit_over_fixed_batch_steps``): it adds the cost of reading fresh
    data, which any loop over a data set pays.
    """
    backend, model, batch = case.backend, case.model, case.batch
    x, y = W.make_data(case.name, batch * n_batches, seed=1)
    xd = backend.from_numpy(x)
    yd = backend.from_numpy(y)
    xs_all = model._prepare_inputs(xd)
    ys_all = model._prepare_targets(yd, model._output_shapes())
    batches = [([a[i * batch:(i + 1) * batch, ...] for a in xs_all],
                [a[i * batch:(i + 1) * batch, ...] for a in ys_all]) for i in range(n_batches)]
    sws = [None] * len(ys_all)
    model.fit(xd, yd, batch_size=batch, epochs=1, verbose=0, shuffle=True)  # warm-up
    backend.synchronize()
    fit_times, step_times, fixed_times = [], [], []
    syncs = 0
    for _ in range(repeats):
        before = backend.to_host_calls
        t0 = clock()
        model.fit(xd, yd, batch_size=batch, epochs=1, verbose=0, shuffle=True)
        backend.synchronize()
        fit_times.append(clock() - t0)
        syncs = backend.to_host_calls - before
        model._reset_trackers()
        t0 = clock()
        for bx, by in batches:
            model._train_step(bx, by, sws, batch)
        backend.synchronize()
        step_times.append(clock() - t0)
        model._reset_trackers()
        t0 = clock()
        for _ in range(n_batches):
            case.step()
        backend.synchronize()
        fixed_times.append(clock() - t0)
    fit_s, steps_s = statistics.median(fit_times), statistics.median(step_times)
    fixed_s = statistics.median(fixed_times)
    return {"fit_batches": n_batches, "fit_epoch_s": fit_s, "steps_sum_s": steps_s,
            "fit_over_steps": fit_s / steps_s, "fixed_batch_steps_sum_s": fixed_s,
            "fit_over_fixed_batch_steps": fit_s / fixed_s, "to_host_calls_per_fit": syncs}


# --------------------------------------------------------------------------- PyTorch
def torch_available():
    try:
        import torch  # noqa: F401
        return True
    except Exception:
        return False


class TorchCase:
    """PyTorch eager (or the whole step captured in one CUDA graph) on the same workload."""

    def __init__(self, name, batch, device, graph=False, seed=0):
        import torch
        import torch.nn.functional as F
        self.torch, self.batch = torch, batch
        torch.manual_seed(seed)
        dev = torch.device(device)
        self.cuda = dev.type == "cuda"
        model = W.torch_model(name, torch).to(dev)
        # Keras's Adam epsilon, so both sides do the same arithmetic.
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7, capturable=graph)
        xh, yh = W.make_data(name, batch, seed)
        x = torch.from_numpy(W.torch_layout(name, xh)).to(dev)
        y = torch.from_numpy(yh).to(dev)
        state = {"total": torch.zeros((), device=dev)}
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()

        def eager_step():
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            # A fit loop keeps the running loss on the device, as portanet's does.
            state["total"] = state["total"] + loss.detach()

        self.step = eager_step
        if graph:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):
                    eager_step()
            torch.cuda.current_stream().wait_stream(side)
            g = torch.cuda.CUDAGraph()
            opt.zero_grad(set_to_none=True)
            with torch.cuda.graph(g):
                static_loss = F.cross_entropy(model(x), y)
                static_loss.backward()
                opt.step()
                state["static_total"] = state["total"] + static_loss.detach()
            self._graph = g
            self.step = g.replay
        self._keep = (model, opt, x, y)

    def sync(self):
        if self.cuda:
            self.torch.cuda.synchronize()

    def memory(self):
        if self.cuda:
            return {"peak_mem_mb": self.torch.cuda.max_memory_allocated() / 2**20,
                    "mem_kind": "torch.cuda.max_memory_allocated"}
        return {"peak_mem_mb": host_peak_rss_mb(), "mem_kind": "host peak RSS of the process"}

    def close(self):
        self._keep = None
        self.step = None
        self._graph = None
        gc.collect()
        if self.cuda:
            self.torch.cuda.empty_cache()


def time_interleaved(cases, steps, warmup, chunk, block_seconds=0.25, settle=2,
                     clock=time.perf_counter):
    """Per-step samples for several cases that take turns, each turn ~``block_seconds``.

    Measuring the sides in alternation makes a ratio robust to load that comes and goes
    on a shared machine: both sides see the same conditions. Each turn starts with
    ``settle`` untimed chunks: the other library's worker threads may still be spinning
    from its own turn (OpenBLAS and OpenMP pools spin for a while before they sleep),
    which would otherwise be charged to this side.
    """
    for case in cases:
        for _ in range(warmup):
            case.step()
        case.sync()
    samples = [[] for _ in cases]
    chunks = max(1, steps // chunk)
    while any(len(out) < chunks for out in samples):
        for case, out in zip(cases, samples):
            if len(out) >= chunks:
                continue
            for _ in range(settle):
                for _ in range(chunk):
                    case.step()
            case.sync()
            started = time.perf_counter()
            while len(out) < chunks:
                t0 = clock()
                for _ in range(chunk):
                    case.step()
                case.sync()
                out.append((clock() - t0) / chunk)
                if time.perf_counter() - started >= block_seconds:
                    break
    return samples


def profile_portanet(case, steps, top=25, out=None):
    """cProfile of ``steps`` training steps; returns the printed table (by total time)."""
    import cProfile
    import io
    import pstats
    for _ in range(5):
        case.step()
    case.sync()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(steps):
        case.step()
    case.sync()
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    return buf.getvalue()
