"""Data-parallel training across processes: MPI (mpi4py) and NCCL (CuPy), Horovod style.

portanet does not carry a communication layer of its own. Processes are started by the
launcher a cluster already runs (``mpirun``/``mpiexec``, or ``srun`` under Slurm); they
talk through MPI (any backend: host buffers, or device buffers where MPI is CUDA-aware)
and, on CuPy, through NCCL (``cupy.cuda.nccl``) with the NCCL id handed out over MPI.

    import portanet as pn
    info = pn.distributed.init()          # (rank, size, local_rank); picks the GPU on CuPy
    model = ...; model.compile(...)
    model.fit(x, y, batch_size=64, epochs=5, distributed=True)   # 64 rows per process
    if pn.distributed.is_main():
        model.save("model.portanet")

    $ mpirun -n 2 python train.py                 # one machine
    $ srun --ntasks=8 --gpus-per-task=1 python train.py   # Slurm (MPI built with PMI/PMIx)

What one step does (``DataParallel``): every process holds the whole data set and the
same model; before the first step rank 0's weights and optimizer state are broadcast;
each epoch uses rank 0's permutation; every process takes its shard of each global batch
(``batch_size * size`` rows), runs forward and backward, and the gradients are averaged
with one all-reduce per step over one flat buffer (all gradients packed together, then
unpacked as views). A process's gradient is weighted by its shard's row count, so a short
last batch split unevenly (or not at all) still gives the gradient of the global batch's
mean loss: training on ``size`` processes with per-process batch ``B`` takes the same
steps as one process with batch ``B * size`` on the same order.

Datasets (a ``PyDataset``, a generator, any iterable of batches) are sharded by batch: each
group of ``size`` consecutive batches is one global step, rank ``r`` training on the group's
batch ``r`` (a PyDataset rank reads only its own batches; a generator is read whole on every
rank and the other ranks' batches are skipped), so every rank must produce the same batches
in the same order. ``batch_size`` is then the dataset's own; a last group with fewer batches
than processes gives the others an empty batch, which still joins the all-reduce.

Loss and metrics are global: their sums and counts are all-reduced when fit logs (once per
epoch), never per step. Only rank 0 prints progress and runs callbacks that write files
(``writes_files = True``, or ModelCheckpoint / CSVLogger / BackupAndRestore / TensorBoard).
An exception on one process prints its traceback (with the rank) and ends every process
through ``MPI_Abort``: a process stuck in an all-reduce with a dead peer cannot end any
other way.

BatchNormalization statistics are per process (each normalizes its own shard, as Horovod
without SyncBatchNorm) unless the layer has ``synchronized=True`` (Keras's argument): then its
batch mean and variance, and their gradients, are summed over the processes, so that P
processes at batch B train exactly as one at batch P·B. Not synchronized: dropout masks (each rank other than 0
reseeds its stream from the shared one and its rank, so masks differ across ranks),
the per-batch values that the progress bar shows mid-epoch (rank 0's own; epoch values are
global). Validation and ``evaluate`` run on the whole validation set on every process.
"""

import os
import sys
import traceback
from collections import namedtuple

from .. import backend as _backend
from ..backend import replicas as _replicas
from .. import callbacks as _callbacks
from ..training import distribution as _distribution
from .comm import _average_logs, _count, _GradientAverager, _LocalComm, _MPIComm, _NCCLComm

__all__ = ["ProcessInfo", "init", "is_main", "rank", "size", "local_rank", "launcher",
           "DataParallel", "barrier", "shutdown"]

ProcessInfo = namedtuple("ProcessInfo", ["rank", "size", "local_rank"])
ProcessInfo.__doc__ = "This process's place in the launch: rank, size (process count), local_rank."

# (launcher, rank variable, size variable, local-rank variable) in the order they are trusted:
# srun with an MPI runtime also sets the MPI variables, which then win.
_LAUNCHERS = (
    ("mpirun (Open MPI)", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"),
    ("mpiexec (MPICH / Hydra PMI)", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"),
    ("srun (Slurm)", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"),
)

# Callbacks that write files when a helper forgot to set writes_files (Keras names).
_FILE_WRITING_CALLBACKS = {"ModelCheckpoint", "CSVLogger", "BackupAndRestore", "TensorBoard"}

_state = None


def _detect(environ=None):
    """(launcher, rank, size, local_rank or None) from the launcher's environment variables."""
    env = os.environ if environ is None else environ
    for name, rank_var, size_var, local_var in _LAUNCHERS:
        if rank_var not in env:
            continue
        if name.startswith("srun"):
            # An sbatch script sets SLURM_PROCID/SLURM_NTASKS for the whole allocation even
            # in its single batch process; only a job step started by srun has a step id.
            if "SLURM_STEP_ID" not in env and "SLURM_STEPID" not in env:
                continue
            size_text = env.get("SLURM_STEP_NUM_TASKS") or env.get(size_var)
        else:
            size_text = env.get(size_var)
        try:
            rank_value, size_value = int(env[rank_var]), int(size_text)
            local = int(env[local_var]) if env.get(local_var, "") != "" else None
        except (TypeError, ValueError):
            raise RuntimeError(f"portanet.distributed: the {name} environment is malformed: "
                               f"{rank_var}={env.get(rank_var)!r}, {size_var}={size_text!r}; "
                               "expected integers") from None
        if size_value < 1 or not 0 <= rank_value < size_value:
            raise RuntimeError(f"portanet.distributed: the {name} environment gives rank "
                               f"{rank_value} of {size_value} processes; expected 0 <= rank < size")
        return name, rank_value, size_value, local
    return "none (a single process)", 0, 1, 0


def _import_mpi(launcher, size_value):
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise RuntimeError(
            f"portanet.distributed: {launcher} started {size_value} processes, and talking between "
            f"them needs mpi4py, which is not installed ({exc}); install it with "
            "pip install -e \".[distributed]\" (it needs an MPI library, e.g. "
            "apt-get install openmpi-bin libopenmpi-dev)") from None
    return MPI


class _State:
    """What init() found: the process layout, the MPI world (None alone) and the comms."""

    def __init__(self, info, launcher, world, mpi):
        self.info, self.launcher, self.world, self.mpi = info, launcher, world, mpi
        self.comms = {}


def init(backend=None):
    """Find this process's place in the launch; returns ``ProcessInfo(rank, size, local_rank)``.

    Detects ``mpirun``/``mpiexec`` (Open MPI's ``OMPI_COMM_WORLD_*``, MPICH's ``PMI_*``)
    and ``srun`` (``SLURM_PROCID``, ``SLURM_NTASKS``, ``SLURM_LOCALID``); a plain process
    is rank 0 of 1 and needs no MPI. With more than one process it starts MPI (mpi4py),
    checks that MPI sees the same world as the launcher, and installs an exception hook
    that ends every process when one raises. On the CuPy backend (the active one, or
    ``backend="cupy"``) each process takes the GPU ``local_rank % device_count``.
    Calling it again returns the same answer.

    Args:
        backend: optional backend name to select (``"cupy"`` picks the local rank's GPU).
    """
    global _state
    if _state is None:
        launcher_name, rank_value, size_value, local = _detect()
        world = mpi = None
        if size_value > 1:
            mpi = _import_mpi(launcher_name, size_value)
            world = mpi.COMM_WORLD
            if world.Get_size() != size_value or world.Get_rank() != rank_value:
                raise RuntimeError(
                    f"portanet.distributed: {launcher_name} says this is rank {rank_value} of "
                    f"{size_value}, but MPI sees rank {world.Get_rank()} of {world.Get_size()}: "
                    "mpi4py is built against a different MPI library than the launcher; "
                    "reinstall mpi4py against the MPI whose mpirun you use")
            if local is None:
                local = world.Split_type(mpi.COMM_TYPE_SHARED).Get_rank()
            _install_excepthook()
        info = ProcessInfo(rank_value, size_value, 0 if local is None else local)
        _state = _State(info, launcher_name, world, mpi)
    if backend is not None:
        _backend.set_backend(backend)
    current = _backend.current()
    if current.name == "cupy":
        count = current._cupy.cuda.runtime.getDeviceCount()
        wanted = _state.info.local_rank % count
        if int(current.device.id) != wanted:
            _backend.set_backend("cupy", device=wanted)
    return _state.info


def _require():
    if _state is None:
        init()
    return _state


def rank():
    """This process's rank (0 in a single process)."""
    return _require().info.rank


def size():
    """The number of processes in the launch (1 in a single process)."""
    return _require().info.size


def local_rank():
    """This process's rank on its own machine (which GPU it uses)."""
    return _require().info.local_rank


def launcher():
    """Which launcher init() detected, in words."""
    return _require().launcher


def is_main():
    """True on rank 0: the process that prints, writes files and saves models."""
    return rank() == 0


def barrier():
    """Wait until every process gets here."""
    state = _require()
    if state.world is not None:
        state.world.Barrier()


def shutdown():
    """Forget the communicators (NCCL ones are freed); MPI itself ends at interpreter exit."""
    global _state
    if _state is not None:
        for comm in _state.comms.values():
            comm.close()
    _state = None


def _abort_all(exc_type, exc, tb, code=1):
    """Print the error with its rank and end every process (the others may be blocked)."""
    state = _state
    who = f"rank {state.info.rank} of {state.info.size}" if state else "a process"
    try:
        sys.stdout.flush()
    except Exception:  # pragma: no cover - stdout closed
        pass
    text = "".join(traceback.format_exception(exc_type, exc, tb))
    sys.stderr.write(f"portanet.distributed: {who} raised {exc_type.__name__}: {exc}\n"
                     f"{text}portanet.distributed: ending all processes (MPI_Abort)\n")
    sys.stderr.flush()
    if state is not None and state.world is not None:
        state.world.Abort(code)
    raise SystemExit(code)  # pragma: no cover - Abort does not return


def _install_excepthook():
    previous = sys.excepthook

    def hook(exc_type, exc, tb):
        if _state is None or _state.world is None:  # after shutdown(): nobody to end
            return previous(exc_type, exc, tb)
        _abort_all(exc_type, exc, tb)
    sys.excepthook = hook


def _comm_for(backend, transport="auto"):
    """The (cached) communicator for a backend: NCCL on CuPy when available, else MPI."""
    if transport not in ("auto", "nccl", "mpi"):
        raise ValueError(f"transport={transport!r}; expected 'auto', 'nccl' or 'mpi'")
    state = _require()
    if transport == "auto":
        nccl_ok = (backend.name == "cupy" and state.info.size > 1 and hasattr(backend, "nccl")
                   and backend.nccl() is not None)
        if nccl_ok:
            # NCCL refuses two ranks on one GPU; such launches (tests, one-GPU machines) use MPI.
            where = (state.mpi.Get_processor_name(), int(backend.device.id))
            places = state.world.allgather(where)
            nccl_ok = len(set(places)) == len(places)
        transport = "nccl" if nccl_ok else "mpi"
    if transport == "nccl" and backend.name != "cupy":
        raise ValueError(f"transport='nccl' needs the cupy backend; the model is on {backend.name!r}")
    key = (transport, backend.name, str(backend.device))
    if key not in state.comms:
        if transport == "nccl":
            state.comms[key] = _NCCLComm(backend, state.world, state.mpi)
        elif state.world is None:
            state.comms[key] = _LocalComm()
        else:
            state.comms[key] = _MPIComm(state.world, state.mpi)
    return state.comms[key]


def _writes_files(callback):
    return bool(getattr(callback, "writes_files", False)) or type(callback).__name__ in _FILE_WRITING_CALLBACKS


class _SyncCallback(_callbacks.Callback):
    """Runs last in fit's callback list: the start-of-training broadcast, rank 0's shuffle
    order every epoch, and a shared stop flag at each epoch end."""

    def __init__(self, parallel):
        super().__init__()
        self.parallel = parallel

    def on_train_begin(self, logs=None):
        self.parallel._start(self.model)

    def on_epoch_end(self, epoch, logs=None):
        comm = self.parallel.comm
        hxp = _backend.host_xp()
        flag = comm.allreduce_host(hxp.asarray([1.0 if self.model.stop_training else 0.0], dtype=hxp.float64))
        self.model.stop_training = bool(float(flag[0]) > 0)


class DataParallel(_distribution.Distribution):
    """Data-parallel training of ``model`` over the processes of the launch.

    ``DataParallel(model).fit(x, y, batch_size=B, ...)`` is what
    ``model.fit(x, y, batch_size=B, ..., distributed=True)`` runs. Every process passes the
    same full ``x``/``y``; ``batch_size`` is the per-process batch, so a step consumes
    ``B * size`` rows. See the module docstring for what is synchronized.

    It implements the training loop's distribution protocol
    (``portanet.training.distribution``): ``fit`` calls ``shard``, ``reduce_gradients`` and
    ``reduce_logs``; ``DataParallel.fit`` sets it on the model for the duration of the run
    (``model.set_distribution``).

    Args:
        model: a compiled portanet Model (the same architecture on every process).
        transport: "auto" (NCCL on CuPy when there are several processes and CuPy has
            NCCL, else MPI), "nccl" or "mpi" (host-staged for CuPy unless
            ``PORTANET_CUDA_AWARE_MPI=1``).
    """

    def __init__(self, model, transport="auto"):
        if not callable(getattr(model, "set_distribution", None)):
            raise TypeError(f"DataParallel: model must be a portanet Model; got {type(model).__name__}")
        if transport not in ("auto", "nccl", "mpi"):
            raise ValueError(f"DataParallel: transport={transport!r}; expected 'auto', 'nccl' or 'mpi'")
        self.model = model
        self.transport = transport
        self.info = init()
        self.comm = None
        self.gradient_averager = None
        self._train = None

    # -- the distribution protocol (portanet.training.distribution)
    def shard(self, data):
        """This process's share of each global batch of ``data``, in rank 0's order."""
        data.shard = (self.info.rank, self.info.size)
        self._train = data

    def reduce_gradients(self, variables, num_samples):
        """Every gradient averaged over the processes (one all-reduce per dtype)."""
        self.gradient_averager(variables, num_samples)

    def reduce_logs(self, logs, sums):
        """Loss and metrics as averages over every process's samples."""
        return _average_logs(self.comm, logs, sums)

    @property
    def allreduce_seconds(self):
        """Seconds spent inside the gradient all-reduce during the last fit."""
        return 0.0 if self.gradient_averager is None else self.gradient_averager.seconds

    @property
    def steps(self):
        return 0 if self.gradient_averager is None else self.gradient_averager.steps

    def _start(self, model):
        """Before the first step: check every rank agrees, then rank 0's weights and
        optimizer state everywhere, and rank 0's order for every epoch's shuffle."""
        comm, info = self.comm, self.info
        train = self._train
        # Arrays: the row count; a PyDataset or a sized iterable: the number of groups of
        # batches (global steps); a generator: None. Every rank must agree.
        length = None if train is None else train.size if train.size is not None else train.num_batches
        signature = (length,
                     [(tuple(v.shape), str(v.value.dtype)) for v in model.weights])
        seen = comm.allgather_object(signature)
        if any(s != seen[0] for s in seen):
            rows = [s[0] for s in seen]
            what = (f"the training sets differ in length across ranks ({rows})" if len(set(rows)) > 1
                    else "the models differ across ranks (weight shapes or dtypes)")
            raise ValueError(f"DataParallel: {what}; every process must build the same model and "
                             "pass the same full data set (each takes its own shard)")
        if train is not None and train.size is not None and train.size < info.size:
            raise ValueError(f"DataParallel: {train.size} training samples cannot be shared by "
                             f"{info.size} processes; give at least one sample per process")
        _broadcast_weights(comm, model.weights)
        optimizer = model.optimizer
        trainable = model.trainable_weights
        if not optimizer.variables:
            optimizer.build(trainable)
        state = comm.bcast_object(optimizer.get_state() if info.rank == 0 else None)
        # A constant rate may have been changed on rank 0 alone (restored from a backup).
        constant = isinstance(optimizer.get_config().get("learning_rate"), (int, float))
        rate = comm.bcast_object(float(optimizer.learning_rate) if constant else None)
        if info.rank != 0:
            optimizer.set_state(state, trainable)
            if rate is not None:
                optimizer.learning_rate = rate
        if train is not None:
            train.order_sync = lambda order: _broadcast_order(comm, model.backend, order)
        if info.rank != 0:
            # Ranks seeded alike would draw the same dropout masks for different rows; give
            # each its own stream (rank 0 keeps the one that orders the data).
            backend = model.backend
            base = int(backend._rng.integers(0, 2**31 - 1))
            backend.reseed((base + 7919 * info.rank) % (2**31 - 1))
        # A run resumed by BackupAndRestore (rank 0 only: it writes files) restarts at rank
        # 0's epoch everywhere; its restored weights were broadcast above.
        model._initial_epoch = comm.bcast_object(model._initial_epoch)

    def _install(self):
        model = self.model
        current = _backend.current()
        if (getattr(model, "built", False) and model.backend is not None and model.backend.name == "cupy"
                and current.name == "cupy" and model.backend is not current):
            raise RuntimeError(f"DataParallel: the model lives on {model.backend.device} but this "
                               f"process (local rank {self.info.local_rank}) uses {current.device}; "
                               "call pn.distributed.init() before building the model")
        if self.comm is None:
            self.comm = _comm_for(model.backend or _backend.current(), self.transport)
        self.gradient_averager = _GradientAverager(self.comm, model.backend or _backend.current())
        # BatchNormalization(synchronized=True) sums its statistics over the processes.
        comm = self.comm
        self._previous_replica_sum = _replicas.set_cross_replica_sum(
            lambda flat, backend: comm.allreduce_sum(flat, backend))
        model.set_distribution(self)

    def _uninstall(self):
        _replicas.set_cross_replica_sum(getattr(self, "_previous_replica_sum", None))
        self.model.set_distribution(None)
        self._train = None

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, **kwargs):
        """``model.fit`` across the processes; returns rank-local ``History`` with global epoch logs.

        ``batch_size`` (default 32) is per process. On ranks other than 0 ``verbose`` is 0
        and callbacks that write files are left out. An exception on any rank ends all.
        """
        model = self.model
        if "distributed" in kwargs:
            raise TypeError("DataParallel.fit: do not pass distributed=; it is implied")
        callbacks = list(callbacks or [])
        if self.info.rank != 0:
            callbacks = [cb for cb in callbacks if not _writes_files(cb)]
            verbose = 0
        callbacks.append(_SyncCallback(self))
        self._install()
        try:
            return model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                             callbacks=callbacks, **kwargs)
        except Exception:
            if self.info.size > 1:
                _abort_all(*sys.exc_info())
            raise
        finally:
            self._uninstall()

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", **kwargs):
        """``model.evaluate`` on every process (the whole set each); prints on rank 0 only."""
        if self.info.rank != 0:
            verbose = 0
        try:
            return self.model.evaluate(x, y, batch_size=batch_size, verbose=verbose, **kwargs)
        except Exception:
            if self.info.size > 1:
                _abort_all(*sys.exc_info())
            raise


def _broadcast_weights(comm, variables):
    """Rank 0's values of every variable, one broadcast per dtype (packed flat on the host)."""
    if comm.size == 1:
        return
    hxp = _backend.host_xp()
    groups = {}
    for v in variables:
        groups.setdefault(str(v.value.dtype), []).append(v)
    for vs in groups.values():
        hosts = [v.backend.to_numpy(v.value) for v in vs]
        flat = hxp.concat([hxp.reshape(h, (-1,)) for h in hosts])
        flat = hxp.asarray(flat, copy=True)
        comm.bcast_host(flat)
        if comm.rank != 0:
            offset = 0
            for v in vs:
                count = _count(v.shape)
                v.assign(hxp.reshape(flat[offset:offset + count], v.shape))
                offset += count


def _broadcast_order(comm, backend, order):
    """Rank 0's shuffle order on every rank (one host broadcast per epoch)."""
    if comm.size == 1:
        return order
    hxp = _backend.host_xp()
    host = hxp.asarray(backend.to_numpy(order), dtype=hxp.int64, copy=True)
    comm.bcast_host(host)
    return backend.from_numpy(host)


# fit(distributed=True) runs DataParallel(model).fit(...).
_distribution.register_data_parallel(DataParallel)
