"""The layering rule of DESIGN.md §2: numpy/cupy only in the backend, data ingestion,
saving, datasets and the CLI; nothing imports models from layers."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1] / "portanet"
ALLOWED = re.compile(r"portanet/(backend|datasets)/|portanet/(saving|training/data_adapter|cli|__main__)\.py$")
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
