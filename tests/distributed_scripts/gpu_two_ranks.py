"""GPU check (one GPU, two processes): ``mpirun -n 2`` on cupy, gradients all-reduced by
MPI through host-staged buffers (both ranks share GPU 0: local_rank % 1 device). Rank 0
then trains the one-process reference with the doubled batch and compares.

Usage:
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
  mpirun -n 2 --oversubscribe python tests/distributed_scripts/gpu_two_ranks.py
(rank 0 prints "ALL OK" on success). An optional argument names another backend
(``numpy``) to check the script itself on a machine without a GPU.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import portanet as pn  # noqa: E402
import portanet.distributed as dist  # noqa: E402
from common import SCENARIOS, data, model, train  # noqa: E402

pn.set_backend(sys.argv[1] if len(sys.argv) > 1 else "cupy")
pn.config.set_floatx("float64")
info = dist.init()
backend = pn.backend.current()
print(f"rank {info.rank}: {info} on {backend.device}", flush=True)
assert info.size == 2, info

results = {}
for name in SCENARIOS:
    _, per_rank, epochs, shuffle, weighted, validation = SCENARIOS[name]
    x, y, sw, vx, vy = data(name)
    m = model()
    parallel = dist.DataParallel(m, transport="mpi")  # host-staged MPI, not NCCL
    h = parallel.fit(x, y, batch_size=per_rank, epochs=epochs, verbose=0, shuffle=shuffle,
                     sample_weight=sw if weighted else None,
                     validation_data=(vx, vy) if validation else None)
    assert parallel.comm.name == "mpi"
    print(f"rank {info.rank} {name}: {parallel.steps} steps, all-reduce "
          f"{parallel.allreduce_seconds / max(parallel.steps, 1) * 1e3:.3f} ms/step", flush=True)
    results[name] = (m.get_weights(), h.history)

dist.barrier()
if dist.is_main():
    for name, (weights, history) in results.items():
        reference, h_ref = train(name, 2 * SCENARIOS[name][1], False)
        diff = max(float(np.abs(a - b).max()) for a, b in zip(reference.get_weights(), weights))
        assert diff <= 1e-6, (name, diff)
        for k in h_ref.history:
            np.testing.assert_allclose(history[k], h_ref.history[k], rtol=1e-9, err_msg=k)
        print(f"{name}: 2 ranks (host-staged MPI, {backend.name}) vs 1 process with double batch: "
              f"max |dw| = {diff:.3e}; loss/metrics equal", flush=True)
    print("ALL OK", flush=True)
dist.barrier()
