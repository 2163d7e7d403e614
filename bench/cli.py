"""``python -m bench``: the mini-batch hot-loop benchmark (run from a source checkout).

    python -m bench --backend numpy --workloads mlp-small,mlp-large --steps 50
    python -m bench --backend cupy --json out.json --md out.md
    python -m bench --save            # writes bench/results/<date>-<machine>.json and .md

For each workload (bench/workloads.py) and batch size it prints portanet's step time
(median, p10, p90 in microseconds), samples per second, peak memory, the same step in
PyTorch eager (and, on a GPU, with the whole step in a CUDA graph) measured in the same
process, the ratio portanet / PyTorch, and the ratio of one fit() epoch to the sum of its
steps' times.
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import re
import sys
import time
import traceback

from . import runner as R
from . import workloads as W

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def _positive(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _workload_list(text):
    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in W.NAMES]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown workload(s) {bad or text!r}; expected a comma "
                                         f"list of {', '.join(W.NAMES)}")
    return names


def _batch_list(text):
    try:
        values = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--batch expects comma-separated integers, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"--batch expects positive integers, got {text!r}")
    return values


def add_arguments(parser):
    parser.add_argument("--backend", choices=["numpy", "array_api_strict", "cupy"], default=None,
                        help="array backend (default: $PORTANET_BACKEND or numpy)")
    parser.add_argument("--device", type=int, default=None, help="GPU index for cupy (default 0)")
    parser.add_argument("--workloads", type=_workload_list, default=list(W.NAMES),
                        help=f"comma list of {','.join(W.NAMES)} (default: all)")
    parser.add_argument("--batch", type=_batch_list, default=None,
                        help="batch size(s) for every workload (default: bench/workloads.py's per device)")
    parser.add_argument("--steps", type=_positive, default=None,
                        help="timed steps per case (default 40 on CPU, 200 on GPU)")
    parser.add_argument("--warmup", type=_positive, default=None,
                        help="untimed warm-up steps (default 5 on CPU, 20 on GPU)")
    parser.add_argument("--chunk", type=_positive, default=None,
                        help="steps between synchronizations (default 1 on CPU, 10 on GPU)")
    parser.add_argument("--fit-batches", type=_positive, default=None,
                        help="batches in the fit() epoch compared with timed steps (default: about "
                             "one second of steps, 10 to 200)")
    parser.add_argument("--threads", type=_positive, default=None,
                        help="CPU threads for BLAS (threadpoolctl, or the environment with "
                             "python -m bench) and for PyTorch (default: the libraries' own)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall: elapsed time (default); cpu: this process's CPU time, which "
                             "a busy shared machine disturbs far less (use with --threads 1)")
    parser.add_argument("--no-fit", action="store_true", help="skip the fit()/steps ratio")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch peer")
    parser.add_argument("--no-graph", action="store_true", help="skip the PyTorch CUDA-graph peer")
    parser.add_argument("--json", default=None, metavar="PATH", help="write the results as JSON here")
    parser.add_argument("--md", default=None, metavar="PATH", help="write the table as Markdown here")
    parser.add_argument("--save", action="store_true",
                        help="write bench/results/<date>-<machine>.json and .md")
    parser.add_argument("--profile", default=None, metavar="WORKLOAD",
                        help="print a cProfile of this workload's portanet step and exit")
    return parser


# --------------------------------------------------------------------------- environment
def _version(mod):
    try:
        module = __import__(mod)
        return getattr(module, "__version__", "unknown")
    except Exception:
        return None


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_load():
    """Load average and CPU pressure (Linux), to judge how busy the machine was."""
    out = {}
    for key, path in (("loadavg", "/proc/loadavg"), ("cpu_pressure", "/proc/pressure/cpu")):
        try:
            with open(path) as f:
                out[key] = f.readline().strip()
        except OSError:
            pass
    return out


def environment(backend, torch_threads=None):
    env = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "backend": backend.name,
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {m: _version(m) for m in ("portanet", "numpy", "array_api_compat",
                                               "array_api_strict", "cupy", "torch", "numba")},
        "load_at_start": machine_load(),
    }
    if backend.name == "cupy":
        cp = backend._cupy
        props = cp.cuda.runtime.getDeviceProperties(backend.device.id)
        name = props["name"]
        env["device"] = name.decode() if isinstance(name, bytes) else str(name)
        env["cuda_runtime"] = cp.cuda.runtime.runtimeGetVersion()
        env["cuda_driver"] = cp.cuda.runtime.driverGetVersion()
    else:
        env["device"] = f"CPU: {env['cpu']} ({env['cpu_count']} cores)"
    if torch_threads is not None:
        env["torch_threads"] = torch_threads
    return env


def machine_slug(env):
    if env["backend"] == "cupy":
        text = env["device"]
    else:
        text = f"cpu{env['cpu_count']}-{env['backend']}"
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


# --------------------------------------------------------------------------- table
def _fmt(v, spec="{:,.0f}"):
    return "-" if v is None else spec.format(v)


def table_rows(cases):
    header = ["workload", "batch", "portanet us (p10-p90)", "samples/s", "peak MB",
              "torch eager us", "ratio pn/eager", "torch graph us", "ratio pn/graph",
              "fit/steps"]
    rows = []
    for c in cases:
        if c["status"] != "ok":
            rows.append([c["workload"], str(c.get("batch", "-")), f"skipped: {c['reason']}"]
                        + [""] * (len(header) - 3))
            continue
        p = c["portanet"]
        te, tg = c.get("torch_eager"), c.get("torch_graph")
        fit = c.get("fit") or {}
        rows.append([
            c["workload"], str(c["batch"]),
            f"{p['median_us']:,.0f} ({p['p10_us']:,.0f}-{p['p90_us']:,.0f})",
            _fmt(p["samples_per_s"]), _fmt(p["peak_mem_mb"], "{:,.1f}"),
            _fmt(te and te.get("median_us")), _fmt(c.get("ratio_vs_torch_eager"), "{:.2f}"),
            _fmt(tg and tg.get("median_us")), _fmt(c.get("ratio_vs_torch_graph"), "{:.2f}"),
            (_fmt(fit.get("fit_over_steps"), "{:.3f}")
             + (f" ({fit['fit_over_fixed_batch_steps']:.3f})"
                if fit.get("fit_over_fixed_batch_steps") is not None else "")),
        ])
    return header, rows


def format_table(cases):
    header, rows = table_rows(cases)
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) if rows else len(header[i])
              for i in range(len(header))]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    out = [line, "-" * len(line)]
    for r in rows:
        out.append("  ".join(v.ljust(w) for v, w in zip(r, widths)))
    return "\n".join(out)


def format_markdown(result):
    header, rows = table_rows(result["cases"])
    env = result["environment"]
    lines = [f"# portanet hot-loop bench: {env['backend']} on {env['device']}", "",
             f"Date {env['date']}; {env['cpu_count']} CPU cores; Python {env['python']}; "
             + ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v) + ".", "",
             f"Clock: {result.get('settings', {}).get('clock', 'wall')}; threads: "
             f"{result.get('settings', {}).get('threads') or 'library default'}; torch threads: "
             f"{env.get('torch_threads', '-')}; load at start: "
             f"{env.get('load_at_start', {}).get('cpu_pressure', '?')}; at end: "
             f"{env.get('load_at_end', {}).get('cpu_pressure', '?')}.", "",
             "Times are microseconds per training step (forward + loss + backward + Adam) on a "
             "fixed batch already on the device; ratio = portanet / PyTorch in the same process "
             "(below 1 is faster); fit/steps = one fit() epoch over N batches divided by the "
             "training steps of the same N batches run directly (what fit adds: shuffling, "
             "gathering, callbacks); in brackets, divided by N steps on the one fixed batch "
             "(which adds reading fresh data).", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    errors = [c for c in result["cases"] if c.get("errors")]
    for c in errors:
        for where, msg in c["errors"].items():
            lines.append(f"\n{c['workload']} B{c.get('batch')}: {where} failed: {msg}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main
_THREAD_LIMITS = []


def _limit_threads(n):
    """Cap BLAS/OpenMP threads at n (threadpoolctl when installed); returns what is in effect."""
    try:
        import threadpoolctl
    except ImportError:
        return {"threads": n, "how": "environment (OPENBLAS_NUM_THREADS...)" if n else "library default"}
    if n:
        _THREAD_LIMITS.append(threadpoolctl.threadpool_limits(n))
    info = threadpoolctl.threadpool_info()
    return {"threads": n, "how": "threadpoolctl",
            "pools": [{"api": p.get("user_api"), "library": p.get("internal_api"),
                       "num_threads": p.get("num_threads")} for p in info]}


def run(args, out=None):
    out = out or sys.stdout
    import portanet as pn
    backend = pn.set_backend(args.backend, device=args.device) if args.backend else pn.backend.current()
    if args.device is not None and not args.backend:
        backend = pn.set_backend(backend.name, device=args.device)
    gpu = backend.name == "cupy"
    kind = "gpu" if gpu else "cpu"
    steps = args.steps or (200 if gpu else 40)
    warmup = args.warmup or (20 if gpu else 5)
    chunk = args.chunk or (10 if gpu else 1)
    fit_batches = args.fit_batches  # None: about one second of steps, 10 to 200 batches
    use_torch = not args.no_torch and R.torch_available()
    limits = _limit_threads(args.threads)
    torch_threads = None
    if use_torch:
        import torch
        if args.threads:
            torch.set_num_threads(args.threads)
        torch_threads = torch.get_num_threads()
    env = environment(backend, torch_threads)
    env["blas_threads"] = limits
    env["clock"] = args.clock
    if args.clock == "cpu" and gpu:
        raise ValueError("--clock cpu measures host CPU time, which misses GPU work; use --clock wall on cupy")
    clock = time.process_time if args.clock == "cpu" else time.perf_counter

    if args.profile:
        name = args.profile
        if name not in W.NAMES:
            raise ValueError(f"--profile {name!r}; expected one of {', '.join(W.NAMES)}")
        batch = (args.batch or W.BATCHES[kind][name])[0]
        case = R.PortanetCase(name, batch, pn, backend)
        print(f"cProfile of {steps} {name} steps (batch {batch}) on {backend.name}", file=out)
        print(R.profile_portanet(case, steps), file=out)
        return {"environment": env, "cases": []}

    print(f"portanet bench on {backend.name} ({env['device']}); steps {steps}, warm-up {warmup}, "
          f"chunk {chunk}; PyTorch peer: "
          f"{'torch ' + env['versions']['torch'] if use_torch else 'off'}", file=out, flush=True)
    cases = []
    for name in args.workloads:
        batches = args.batch or W.BATCHES[kind][name]
        for batch in batches:
            case = {"workload": name, "batch": batch, "status": "ok", "errors": {}}
            cases.append(case)
            try:
                pcase = R.PortanetCase(name, batch, pn, backend)
            except W.Unavailable as exc:
                case.update(status="skipped", reason=str(exc))
                print(f"{name}: skipped ({exc}); it runs once the layer lands", file=out, flush=True)
                break
            pool = R._cupy_pool(backend)
            if pool is not None:
                pool.free_all_blocks()
            for _ in range(warmup):
                pcase.step()
            pcase.sync()
            memory = {"portanet": R.portanet_memory(pcase)}
            timed = [("portanet", pcase)]
            if use_torch:
                device = "cuda" if gpu else "cpu"
                kinds = [("torch_eager", False)] + ([("torch_graph", True)] if gpu and not args.no_graph else [])
                for key, graph in kinds:
                    try:
                        timed.append((key, R.TorchCase(name, batch, device, graph=graph)))
                    except Exception as exc:
                        case["errors"][key] = f"{type(exc).__name__}: {exc}"
            samples = R.time_interleaved([c for _, c in timed], steps, warmup, chunk, clock=clock)
            for (key, c), s in zip(timed, samples):
                case[key] = R.summarize(s, batch)
                case[key].update(memory[key] if key in memory else c.memory())
            for key, c in timed[1:]:
                c.close()
                case["ratio_vs_" + key] = case["portanet"]["median_us"] / case[key]["median_us"]
            if not args.no_fit:
                try:
                    # Default: about a second of steps, at most ~100k rows of data.
                    n_fit = fit_batches or max(10, min(200, round(1e6 / case["portanet"]["median_us"]),
                                                       100_000 // batch))
                    case["fit"] = R.time_fit_ratio(pcase, n_fit, clock=clock)
                except Exception as exc:  # keep the step timings if fit breaks
                    case["errors"]["fit"] = f"{type(exc).__name__}: {exc}"
            del pcase, timed
            if args.json:  # partial results survive a run cut short by a time limit
                partial = {"environment": env, "partial": True, "cases": cases}
                pathlib.Path(args.json).parent.mkdir(parents=True, exist_ok=True)
                pathlib.Path(args.json).write_text(json.dumps(partial, indent=2) + "\n")
            for where, msg in case["errors"].items():
                print(f"{name} B{batch}: {where} failed: {msg}", file=out, flush=True)
            p = case["portanet"]
            te = case.get("torch_eager")
            msg = f"{name} B{batch}: portanet {p['median_us']:,.0f} us"
            if te:
                msg += f", torch eager {te['median_us']:,.0f} us, ratio {case['ratio_vs_torch_eager']:.2f}"
            if case.get("fit"):
                msg += (f", fit/steps {case['fit']['fit_over_steps']:.3f} "
                        f"(fixed batch {case['fit']['fit_over_fixed_batch_steps']:.3f})")
            print(msg, file=out, flush=True)
    result = {"environment": env, "settings": {"steps": steps, "warmup": warmup, "chunk": chunk,
                                               "fit_batches": fit_batches, "torch": use_torch,
                                               "clock": args.clock, "threads": args.threads},
              "cases": cases}
    env["load_at_end"] = machine_load()
    print("", file=out)
    print(format_table(cases), file=out, flush=True)
    return result


def write_outputs(result, args, out=None):
    out = out or sys.stdout
    paths = []
    if args.save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        settings = result.get("settings", {})
        stem = (f"{result['environment']['date'][:10]}-{machine_slug(result['environment'])}"
                f"-{settings.get('clock', 'wall')}-t{settings.get('threads') or 'default'}")
        paths += [(RESULTS / f"{stem}.json", "json"), (RESULTS / f"{stem}.md", "md")]
    if args.json:
        paths.append((pathlib.Path(args.json), "json"))
    if args.md:
        paths.append((pathlib.Path(args.md), "md"))
    for path, kind in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(result, indent=2) + "\n" if kind == "json" else format_markdown(result)
        path.write_text(text)
        print(f"wrote {path}", file=out)


def main(argv=None):
    parser = add_arguments(argparse.ArgumentParser(
        prog="python -m bench", description="portanet mini-batch hot-loop benchmark"))
    args = parser.parse_args(argv)
    try:
        result = run(args)
    except (RuntimeError, ValueError) as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        if os.environ.get("PORTANET_BENCH_TRACE"):
            traceback.print_exc()
        return 2
    write_outputs(result, args)
    return 0
