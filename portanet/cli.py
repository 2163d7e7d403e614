"""The ``portanet`` command: ``portanet demo`` trains on the bundled digits.

``portanet bench`` was dropped: the benchmark harness is the repository's top-level
``bench/`` package (it times PyTorch beside portanet and writes under ``bench/results/``),
which an installed wheel does not contain; run it from a source checkout with
``python -m bench``. No command here imports ``bench``, ``torch``, ``cupy`` (unless
``--backend cupy``), ``mpi4py`` or ``matplotlib`` (unless ``--plot``).
"""

import argparse
import sys

from . import demo as _demo_module

_BENCH_MOVED = ("`portanet bench` was removed: run the benchmark from a source checkout of "
                "portanet with `python -m bench` (see bench/README.md)")


def _demo(args):
    _demo_module.run(model=args.model, backend=args.backend, epochs=args.epochs, batch_size=args.batch_size,
             learning_rate=args.learning_rate, seed=args.seed, verbose=args.verbose, plot=args.plot,
             diagnostics=args.diagnostics)
    return 0


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(prog="portanet", description="portanet: a Keras-style trainer on the Array API")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train a small network on the bundled 8x8 digits")
    demo.add_argument("--backend", choices=["numpy", "array_api_strict", "cupy"], default=None,
                      help="array backend (default: $PORTANET_BACKEND or numpy)")
    demo.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    demo.add_argument("--epochs", type=_positive, default=20)
    demo.add_argument("--batch-size", type=_positive, default=32)
    demo.add_argument("--learning-rate", type=float, default=1e-3)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--verbose", type=int, choices=[0, 1, 2], default=2)
    demo.add_argument("--plot", default=None, help="write the training curves to this PNG")
    demo.add_argument("--diagnostics", action="store_true",
                      help="check gradients, update sizes, saturation and the loss each epoch")
    demo.set_defaults(func=_demo)
    sub.add_parser("bench", help="removed: use `python -m bench` in a source checkout", add_help=False)
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        print(f"portanet: error: {_BENCH_MOVED}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (RuntimeError, ValueError) as exc:
        print(f"portanet: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
