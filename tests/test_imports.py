"""What portanet imports: numpy/cupy only in the backend, data ingestion, saving, datasets
and the CLI; nothing imports models from layers; and ``import portanet`` and the
``portanet`` command load no optional package (checked in a fresh interpreter, after
array-api-compat's tests/test_no_dependencies.py). The import direction between the
package's modules is tests/test_layering.py's."""

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "portanet"
ALLOWED = re.compile(r"portanet/(backend|datasets)/|portanet/(saving|data|cli|__main__)\.py$")
IMPORT = re.compile(r"^\s*(import|from)\s+(numpy|cupy|cupyx)\b", re.M)


def test_numpy_and_cupy_only_where_allowed():
    offenders = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT.parent).as_posix()
        if ALLOWED.search(rel):
            continue
        if IMPORT.search(path.read_text()):
            offenders.append(rel)
    assert offenders == [], f"numpy/cupy imported outside the backend: {offenders}"


def test_cupy_only_inside_backend():
    offenders = [p.relative_to(ROOT.parent).as_posix() for p in ROOT.rglob("*.py")
                 if re.search(r"^\s*(import|from)\s+(cupy|cupyx)\b", p.read_text(), re.M)
                 and "portanet/backend/" not in p.as_posix()]
    assert offenders == []


def test_layers_do_not_import_models():
    offenders = [p.name for p in (ROOT / "layers").rglob("*.py")
                 if re.search(r"^\s*from\s+\.\.models|^\s*import\s+portanet\.models|^\s*from\s+portanet\.models",
                              p.read_text(), re.M)]
    assert offenders == []


def test_the_checker_itself_catches_a_violation(tmp_path):
    assert IMPORT.search("import numpy as np\n")
    assert IMPORT.search("    from cupy import foo\n")
    assert not IMPORT.search("# import numpy\n")


# ----------------------------------------------------------------------------- optional packages
REPO = ROOT.parent
# Packages neither ``import portanet`` nor any ``portanet`` command may load: the benchmark
# harness (a top-level folder of the checkout, not part of the package) and the optional
# dependencies, which load only when their feature is asked for.
FORBIDDEN = ("bench", "torch", "cupy", "cupyx", "mpi4py", "matplotlib")
_REPORT = """
import json, sys
print("\\nMODULES=" + json.dumps(sorted(sys.modules)))
"""


def _modules_after(code):
    """The names in sys.modules after running ``code`` in a fresh interpreter whose working
    directory is the checkout (so a top-level ``bench`` package is importable there)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTANET_")}
    env["PYTHONPATH"] = str(REPO)
    out = subprocess.run([sys.executable, "-c", code + _REPORT], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("MODULES=")][-1]
    return json.loads(line[len("MODULES="):])


def _forbidden(modules):
    return sorted(m for m in modules if m.split(".")[0] in FORBIDDEN)


def _command(*argv):
    # Runs ``python -m portanet <argv>`` in this interpreter, keeping its exit status out of
    # the way so that sys.modules can be reported afterwards.
    return ("import runpy, sys\n"
            f"sys.argv = ['portanet', *{list(argv)!r}]\n"
            "try:\n"
            "    runpy.run_module('portanet', run_name='__main__', alter_sys=True)\n"
            "except SystemExit as exc:\n"
            "    assert exc.code in (0, None, 2), exc.code\n")


def test_import_portanet_loads_no_optional_package():
    modules = _modules_after("import portanet")
    assert "portanet" in modules and "portanet.layers" in modules
    assert _forbidden(modules) == []


@pytest.mark.parametrize("argv", [
    ("demo", "--epochs", "1", "--verbose", "0"),
    ("--help",),
    ("demo", "--help"),
    ("bench", "--steps", "2"),
], ids=["demo", "help", "demo-help", "bench-moved"])
def test_portanet_commands_load_no_optional_package(argv):
    modules = _modules_after(_command(*argv))
    assert "portanet.cli" in modules
    if argv[0] == "demo" and len(argv) > 2:
        assert "portanet.demo" in modules
    assert _forbidden(modules) == []


def test_the_module_check_sees_a_forbidden_import():
    """The check itself: a run that does import the checkout's bench is caught."""
    modules = _modules_after("import bench.workloads")
    assert "bench" in _forbidden(modules) and "bench.workloads" in _forbidden(modules)
