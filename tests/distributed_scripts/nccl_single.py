"""GPU check (one GPU, one process): NCCL through CuPy with a single-rank communicator.

1. ``cupy.cuda.nccl.NcclCommunicator`` of size 1 all-reduces a flat CuPy buffer in place.
2. A 2-epoch fit with ``distributed=True`` on cupy (size 1) and one through
   ``DataParallel(model, transport="nccl")`` give the weights and logs of a plain fit.

Usage: python tests/distributed_scripts/nccl_single.py      (exit 0 and "ALL OK" on success)
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import portanet as pn  # noqa: E402
import portanet.distributed as dist  # noqa: E402
from common import SCENARIOS, data, model, train  # noqa: E402

pn.set_backend("cupy")
pn.config.set_floatx("float64")
info = dist.init()
backend = pn.backend.current()
print("process:", info, "launcher:", dist.launcher(), "device:", backend.device)
assert tuple(info) == (0, 1, 0), info

# 1. the raw communicator on a flat buffer
comm = dist._comm_for(backend, "nccl")
assert comm.name == "nccl", comm.name
xp = backend.xp
for dtype in ("float32", "float64"):
    host = np.arange(1_000_003, dtype=dtype) * 0.5
    flat = backend.from_numpy(host)
    start = time.perf_counter()
    out = comm.allreduce_sum(flat, backend)
    backend.synchronize()
    elapsed = time.perf_counter() - start
    np.testing.assert_array_equal(backend.to_numpy(out), host)  # the sum over one rank
    print(f"nccl allreduce of {host.size} {dtype}: {elapsed * 1e3:.3f} ms, result exact")

# 2. fit on cupy: plain, distributed=True (auto transport) and DataParallel over NCCL
name = "uneven"
_, per_rank, epochs, shuffle, _, _ = SCENARIOS[name]
plain, h_plain = train(name, per_rank, False)
auto, h_auto = train(name, per_rank, True)
x, y, sw, vx, vy = data(name)
m = model()
parallel = dist.DataParallel(m, transport="nccl")
h_nccl = parallel.fit(x, y, batch_size=per_rank, epochs=epochs, verbose=0, shuffle=shuffle,
                      sample_weight=sw, validation_data=(vx, vy))
assert parallel.comm.name == "nccl"
for label, other, hist in (("distributed=True", auto, h_auto), ("DataParallel nccl", m, h_nccl)):
    diff = max(float(np.abs(a - b).max()) for a, b in zip(plain.get_weights(), other.get_weights()))
    assert diff <= 1e-9, (label, diff)
    for k in h_plain.history:
        np.testing.assert_allclose(hist.history[k], h_plain.history[k], rtol=1e-9, err_msg=k)
    print(f"{label}: weights max |diff| vs plain fit = {diff:.3e}; logs equal; history {hist.history['loss']}")
print(f"nccl all-reduces in the fit: {parallel.steps} steps, {parallel.allreduce_seconds * 1e3:.2f} ms total")
print("ALL OK")
