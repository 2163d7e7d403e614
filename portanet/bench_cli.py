"""``portanet bench``: the mini-batch hot-loop benchmark (the source checkout's bench/).

The harness lives in the repository's ``bench/`` package (it imports PyTorch as a peer
and writes results under ``bench/results/``); this module finds it next to the installed
``portanet`` package and wires its options into the ``portanet`` command.
"""

import importlib
import pathlib
import sys


def _bench_module():
    root = pathlib.Path(__file__).resolve().parents[1]
    if (root / "bench" / "cli.py").is_file() and str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        module = importlib.import_module("bench.cli")
    except ImportError:
        return None
    return module if hasattr(module, "add_arguments") else None


def register(subparsers):
    """Add the ``bench`` sub-command to the ``portanet`` argument parser."""
    module = _bench_module()
    parser = subparsers.add_parser(
        "bench", help="time the training step against PyTorch (needs the source checkout's bench/)")
    if module is None:
        parser.set_defaults(func=_missing)
        return parser
    module.add_arguments(parser)
    parser.set_defaults(func=_run)
    return parser


def _missing(args):
    raise RuntimeError("portanet bench needs the bench/ directory of a portanet source checkout "
                       "(git clone the repository and run it from there, or `python -m bench`)")


def _run(args):
    module = _bench_module()
    result = module.run(args)
    module.write_outputs(result, args)
    return 0
