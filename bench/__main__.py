import os
import sys

# Thread counts of BLAS/OpenMP are read when the libraries load: set them before numpy.
for _i, _arg in enumerate(sys.argv):
    _value = _arg.split("=", 1)[1] if _arg.startswith("--threads=") else (
        sys.argv[_i + 1] if _arg == "--threads" and _i + 1 < len(sys.argv) else None)
    if _value and _value.isdigit():
        for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
            os.environ.setdefault(_name, _value)

from .cli import main  # noqa: E402

sys.exit(main())
