"""portanet's mini-batch hot-loop benchmark (``python -m bench`` or ``portanet bench``).

See bench/cli.py for the options and shared/ANCHORS.md for the workloads.
"""
