"""BatchNormalization(synchronized=True): with ``mpirun -n 2`` at batch B per process, training
equals one process at batch 2B (float64, 1e-10), including a short last batch whose shard is
empty on one process; in one process the flag changes nothing; the gradient of the
synchronized layer (through an in-process fake of two replicas) equals finite differences of
the global loss."""

import json
import pathlib
import sys

import numpy as np
import pytest

import portanet as pn
from portanet.backend import replicas

HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(HERE / "distributed_scripts"))
import sync_bn  # noqa: E402
from test_distributed import _mpirun  # noqa: E402


@pytest.fixture(scope="module")
def two_rank_sync_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sync_bn")
    proc = _mpirun([HERE / "distributed_scripts" / "sync_bn.py", out], cwd=out, timeout=120)
    if proc.returncode != 0:
        pytest.fail(f"mpirun -n 2 failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return out, proc


@pytest.mark.parametrize("name", sorted(sync_bn.SCENARIOS))
@pytest.mark.parametrize("conv", [False, True], ids=["dense", "conv"])
def test_two_ranks_equal_one_process_at_double_batch(two_rank_sync_run, name, conv):
    out, proc = two_rank_sync_run
    assert "rank 0 finished" in proc.stdout and "rank 1 finished" in proc.stdout
    tag = f"{name}_{'conv' if conv else 'dense'}"
    old = pn.config.floatx()
    pn.config.set_floatx("float64")
    try:
        with pn.use_backend("numpy"):
            reference, history = sync_bn.train(name, conv, 2 * sync_bn.SCENARIOS[name][1], False)
    finally:
        pn.config.set_floatx(old)
    for rank in (0, 1):
        with np.load(out / f"{tag}_rank{rank}.npz") as f:
            got = [f[f"arr_{i}"] for i in range(len(f.files))]
        assert len(got) == len(reference.get_weights())
        # Moving statistics included: every rank holds the global ones.
        for a, b in zip(reference.get_weights(), got):
            np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-10)
    logs = json.loads((out / f"{tag}_history.json").read_text())
    np.testing.assert_allclose(logs["loss"], history.history["loss"], rtol=1e-10)


def test_without_a_data_parallel_run_synchronized_changes_nothing(backend, float64):
    x = np.random.default_rng(0).normal(size=(16, 5))
    y = np.random.default_rng(1).integers(0, 3, size=16)
    weights = []
    for flag in (False, True):
        pn.utils.set_random_seed(0)
        m = pn.Sequential([pn.Input((5,)), pn.layers.Dense(4), pn.layers.BatchNormalization(synchronized=flag),
                           pn.layers.Dense(3, activation="softmax")])
        m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        m.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
        weights.append(m.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


class _TwoFakeReplicas:
    """Two replicas in one process: the 'other' replica's contribution to every all-reduce is
    given in advance, so one layer call sees the global sums of a two-process run."""

    def __init__(self, others):
        self.others = list(others)

    def __call__(self, flat, backend):
        return flat + backend.from_numpy(self.others.pop(0))


def test_synchronized_gradient_is_the_global_loss_gradient(backend, float64):
    """Rank p's input gradient, as DataParallel weights it (times its share of the rows), is the
    derivative of the rows-weighted global loss Σ_q share_q·L_q with respect to x_p."""
    rng = np.random.default_rng(5)
    xa, xb = rng.normal(size=(3, 4)), rng.normal(size=(5, 4))      # rank p's rows, the other's
    wa, wb = rng.normal(size=(3, 4)), rng.normal(size=(5, 4))      # each rank's dL/dy weights
    layer = pn.layers.BatchNormalization(synchronized=True, epsilon=1e-3)
    layer._maybe_build((None, 4))
    gamma = rng.normal(size=4)
    layer.gamma.assign(gamma)

    def global_loss(xa_):
        x = np.concatenate([xa_, xb])
        mu, var = x.mean(0), (x * x).mean(0) - x.mean(0) ** 2
        y = (x - mu) / np.sqrt(var + 1e-3) * gamma
        la = (y[:3] * wa).sum() / 3       # each rank's local mean loss
        lb = (y[3:] * wb).sum() / 5
        return (3 * la + 5 * lb) / 8      # DataParallel: weighted by rows

    # The other replica's forward sums and its backward sums (share 5/8, its dL/dy = wb / 5).
    x_all = np.concatenate([xa, xb])
    mu, var = x_all.mean(0), (x_all * x_all).mean(0) - x_all.mean(0) ** 2
    inv = 1 / np.sqrt(var + 1e-3)
    gb = wb / 5 * gamma
    forward_other = np.concatenate([xb.sum(0), (xb * xb).sum(0), [5.0]])
    backward_other = np.concatenate([(gb * (xb - mu)).sum(0) * 5 / 8, gb.sum(0) * 5 / 8])
    previous = replicas.set_cross_replica_sum(_TwoFakeReplicas([forward_other, backward_other]))
    try:
        y, back = layer.run(backend.from_numpy(xa), training=True)[:2]
        dx = backend.to_numpy(back(backend.from_numpy(wa / 3)))
    finally:
        replicas.set_cross_replica_sum(previous)
    np.testing.assert_allclose(backend.to_numpy(y), ((xa - mu) * inv * gamma), rtol=1e-12)
    eps = 1e-6
    numeric = np.zeros_like(xa)
    for idx in np.ndindex(xa.shape):
        p, m = xa.copy(), xa.copy()
        p[idx] += eps
        m[idx] -= eps
        numeric[idx] = (global_loss(p) - global_loss(m)) / (2 * eps)
    np.testing.assert_allclose(dx * 3 / 8, numeric, rtol=1e-6, atol=1e-9)
