"""portanet's mini-batch hot-loop benchmark (``python -m bench``, from a source checkout;
the installed ``portanet`` package never imports it).

See bench/cli.py for the options and bench/workloads.py for the workloads.
"""
