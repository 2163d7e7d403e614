"""``python -m bench.custom_overhead``: mlp-small vs mlp-small-custom step times, no PyTorch.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python -m bench.custom_overhead --runs 5

mlp-small-custom (bench/workloads.py) is mlp-small with its Dense layers written as a custom
``call()`` layer with ``pn.ops``, differentiated by the tape. Each run times both workloads'
training steps in alternation (bench/runner.py's ``time_interleaved``, so both see the same
machine load) and takes each side's median step; the report is the best (smallest) median
over the runs, their ratio custom / built-in (issue 13's target: at most 1.3) and the median
of the runs' own ratios.
"""

import argparse
import statistics
import sys

import portanet as pn

from . import runner as R


def measure(pn, backend, batch=128, steps=40, warmup=5, runs=5, out=None):
    """Best-of-``runs`` median step time (microseconds) of both workloads and their ratio."""
    out = out or sys.stdout
    cases = [R.PortanetCase(name, batch, pn, backend) for name in ("mlp-small", "mlp-small-custom")]
    best = [float("inf"), float("inf")]
    ratios = []
    for run in range(runs):
        samples = R.time_interleaved(cases, steps, warmup if run == 0 else 1, 1)
        medians = [R.summarize(s, batch)["median_us"] for s in samples]
        for case in cases:
            case.reset_trackers()
        best = [min(b, m) for b, m in zip(best, medians)]
        ratios.append(medians[1] / medians[0])
        print(f"run {run + 1}: mlp-small {medians[0]:,.0f} us, mlp-small-custom {medians[1]:,.0f} us, "
              f"ratio {medians[1] / medians[0]:.3f}", file=out, flush=True)
    result = {"batch": batch, "steps": steps, "runs": runs, "mlp_small_us": best[0],
              "mlp_small_custom_us": best[1], "ratio": best[1] / best[0],
              "median_run_ratio": statistics.median(ratios)}
    print(f"best of {runs}: mlp-small {best[0]:,.0f} us, mlp-small-custom {best[1]:,.0f} us, "
          f"ratio custom/built-in {result['ratio']:.3f} (median of the runs' ratios "
          f"{result['median_run_ratio']:.3f}; target <= 1.3)", file=out, flush=True)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.custom_overhead",
                                     description="mlp-small vs mlp-small-custom step times")
    parser.add_argument("--backend", default="numpy", help="portanet backend (numpy)")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=40, help="timed steps per workload per run")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--runs", type=int, default=5, help="runs; the best median is reported")
    args = parser.parse_args(argv)
    for name in ("batch", "steps", "runs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be a positive integer, got {getattr(args, name)}")
    backend = pn.set_backend(args.backend)
    measure(pn, backend, args.batch, args.steps, args.warmup, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
