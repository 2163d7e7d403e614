"""The transports of data-parallel training: communicators (one process, MPI, NCCL) and
the two reductions the training loop asks for (gradients after backward, logs when read).

``portanet.distributed`` picks a communicator per backend (``_comm_for``) and hands these
to the training loop through the distribution protocol (training/distribution.py).
mpi4py and CuPy's NCCL bindings are optional: they reach this module as objects passed in,
never by import here.
"""

import os
import time

from .. import backend as _backend


# ---------------------------------------------------------------------------- communicators
class _LocalComm:
    """A world of one: every collective is the identity (plain processes, tests)."""

    name = "local"
    rank = 0
    size = 1

    def __init__(self):
        self.allreduce_calls = 0

    def allreduce_sum(self, flat, backend):
        """Sum a flat device array over the ranks (in place where the transport allows)."""
        self.allreduce_calls += 1
        return flat

    def allreduce_host(self, values):
        """Sum a small host float64 vector over the ranks."""
        return values

    def bcast_host(self, array):
        """Rank 0's contents of a writable host array, on every rank."""
        return array

    def bcast_object(self, obj):
        return obj

    def allgather_object(self, obj):
        return [obj]

    def close(self):
        pass


class _MPIComm(_LocalComm):
    """MPI through mpi4py. Device arrays go through host buffers unless MPI is CUDA-aware
    (``PORTANET_CUDA_AWARE_MPI=1``: then CuPy buffers are handed to MPI directly)."""

    name = "mpi"

    def __init__(self, world, mpi):
        super().__init__()
        self.world, self.mpi = world, mpi
        self.rank, self.size = world.Get_rank(), world.Get_size()
        self.cuda_aware = os.environ.get("PORTANET_CUDA_AWARE_MPI", "0") == "1"

    def allreduce_sum(self, flat, backend):
        self.allreduce_calls += 1
        if backend.name == "cupy" and self.cuda_aware:
            backend.synchronize()  # MPI reads the buffer outside CuPy's stream
            self.world.Allreduce(self.mpi.IN_PLACE, flat, op=self.mpi.SUM)
            return flat
        host = backend.to_numpy(flat)
        out = _backend.host_xp().empty_like(host)
        self.world.Allreduce(host, out, op=self.mpi.SUM)
        return backend.from_numpy(out)

    def allreduce_host(self, values):
        out = _backend.host_xp().empty_like(values)
        self.world.Allreduce(values, out, op=self.mpi.SUM)
        return out

    def bcast_host(self, array):
        self.world.Bcast(array, root=0)
        return array

    def bcast_object(self, obj):
        return self.world.bcast(obj, root=0)

    def allgather_object(self, obj):
        return self.world.allgather(obj)


class _NCCLComm(_MPIComm):
    """NCCL for the per-step gradient all-reduce (device buffers, no host copy); MPI for the
    rare host-side collectives. In a single process it needs no MPI at all."""

    name = "nccl"

    def __init__(self, backend, world, mpi):
        if world is not None:
            super().__init__(world, mpi)
        else:
            _LocalComm.__init__(self)
            self.world = None
        nccl = backend.nccl() if hasattr(backend, "nccl") else None
        if nccl is None:
            raise RuntimeError("portanet.distributed: transport='nccl' needs NCCL, which this CuPy "
                               "cannot load (cupy.cuda.nccl.available is False); install it with "
                               "pip install nvidia-nccl-cu12 (or -cu13), or use transport='mpi'")
        self._nccl, self._cupy = nccl, backend._cupy
        uid = nccl.get_unique_id() if self.rank == 0 else None
        if self.world is not None:
            uid = self.world.bcast(uid, root=0)
        with backend.device:
            self.communicator = nccl.NcclCommunicator(self.size, uid, self.rank)
        self._dtypes = {"float16": nccl.NCCL_FLOAT16, "float32": nccl.NCCL_FLOAT32,
                        "float64": nccl.NCCL_FLOAT64}

    def allreduce_sum(self, flat, backend):
        self.allreduce_calls += 1
        kind = self._dtypes.get(str(flat.dtype))
        if kind is None:
            raise TypeError(f"portanet.distributed: NCCL cannot reduce dtype {flat.dtype}")
        stream = self._cupy.cuda.get_current_stream()
        # In place on the current stream: later kernels queue behind it, nothing syncs.
        self.communicator.allReduce(flat.data.ptr, flat.data.ptr, flat.size, kind,
                                    self._nccl.NCCL_SUM, stream.ptr)
        return flat

    def allreduce_host(self, values):
        return values if self.world is None else super().allreduce_host(values)

    def bcast_host(self, array):
        return array if self.world is None else super().bcast_host(array)

    def bcast_object(self, obj):
        return obj if self.world is None else super().bcast_object(obj)

    def allgather_object(self, obj):
        return [obj] if self.world is None else super().allgather_object(obj)

    def close(self):
        self.communicator = None


# ---------------------------------------------------------------------------- the reductions
class _GradientAverager:
    """After backward: one all-reduce of every gradient packed into one buffer.

    Each rank packs ``[n_r * g_1, ..., n_r * g_k, n_r]`` (``n_r`` its shard's rows); after
    the sum the buffer is divided by its last entry (the global batch's rows) on the device,
    so the result is the gradient of the global batch's mean loss and no rank needs to know
    the others' shard sizes.
    Weights whose gradient is None stay None (the pattern is a property of the model, so it
    is the same on every rank; a rank with an empty shard reuses the last pattern it saw).
    """

    def __init__(self, comm, backend):
        self.comm, self.backend = comm, backend
        self.seconds = 0.0           # wall time inside the collective (staging included)
        self.steps = 0
        self._pattern = None

    def __call__(self, variables, n):
        xp = self.backend.xp
        if n > 0 or self._pattern is None:
            pattern = [v.grad is not None for v in variables] if n > 0 else [True] * len(variables)
            self._pattern = pattern
        groups = {}
        for v, has in zip(variables, self._pattern):
            if has:
                groups.setdefault(str(v.value.dtype), []).append(v)
        for vs in groups.values():
            dtype = vs[0].value.dtype
            parts = []
            for v in vs:
                g = v.grad if v.grad is not None else xp.zeros(v.shape, dtype=dtype, device=self.backend.device)
                parts.append(xp.reshape(g, (-1,)))
            parts.append(xp.ones((1,), dtype=dtype, device=self.backend.device))
            flat = xp.concat(parts)
            if n != 1:
                flat = flat * float(n)  # one pass: every gradient and the trailing 1 become n
            start = time.perf_counter()
            flat = self.comm.allreduce_sum(flat, self.backend)
            self.seconds += time.perf_counter() - start
            rows = flat[-1:]
            flat = flat[:-1] / xp.maximum(rows, xp.ones_like(rows))
            offset = 0
            for v in vs:
                count = _count(v.shape)
                v.grad = xp.reshape(flat[offset:offset + count], v.shape)
                offset += count
        for v, has in zip(variables, self._pattern):
            if not has:
                v.grad = None
        self.steps += 1


def _count(shape):
    total = 1
    for s in shape:
        total *= int(s)
    return total


def _average_logs(comm, logs, sums):
    """Global logs: one host all-reduce of every ``(key, sum, weight)`` pair of the replicas.

    ``sums`` comes from the training loop (``MetricTrackers.sums``): loss sums and row
    counts, each output's loss sum, and each mean metric's ``total``/``count`` state, which
    makes the global value exact also with sample weights (other metrics are averaged by
    row count).
    """
    hxp = _backend.host_xp()
    pairs = []
    for _, total, weight in sums:
        pairs += [float(total), float(weight)]
    summed = comm.allreduce_host(hxp.asarray(pairs, dtype=hxp.float64))
    out = dict(logs)
    for i, (key, _, _) in enumerate(sums):
        total, weight = float(summed[2 * i]), float(summed[2 * i + 1])
        if weight > 0:
            out[key] = total / weight
    return out
