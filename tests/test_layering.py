"""The import direction of the package, read from the source with ``ast``.

Every module of portanet/ sits on a level (``LEVELS``); a module may import only modules of
its own level or of a level to its LEFT (a lower number), and the import graph has no
cycle. The levels, left to right (docs/ARCHITECTURE.md draws them):

    helpers (validation, config, naming, plotting, version) <- backend <- ops
    <- activations, initializers, regularizers, constraints, losses, metrics, optimizers, layers
    <- saving <- callbacks <- training <- models
    <- plug-ins (distributed, diagnostics, utils, preprocessing) <- cli

What counts as an import: ``import portanet.x``, ``from portanet.x import y`` and the
relative forms, at module level or inside a function or class (a function-local import of a
portanet module is still an arrow; only optional third-party packages may be imported
locally, and those are not part of this graph). Importing ``a.b.c`` also runs the
``__init__`` of ``a.b``: that package is an arrow too, unless it contains the importer
(then it is already being imported). The root package ``portanet/__init__.py`` is the
public facade that imports everything; nothing inside the package may import it for a
name (only for its submodules).
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "portanet"

# Longest matching prefix wins. A module that matches nothing fails the test, so a new
# module must be placed here on purpose.
LEVELS = {
    # Helpers at the bottom: they import nothing from portanet above them.
    "portanet.validation": 0,
    "portanet.config": 0,
    "portanet.naming": 0,
    "portanet.plotting": 0,  # matplotlib is imported inside its functions (optional extra)
    "portanet.version": 0,
    "portanet.progbar": 0,
    "portanet.datasets": 0,
    "portanet.dtype_policies": 0,  # dtype policies and the global policy; imports config
    # The only package that knows the array library.
    "portanet.backend": 1,
    # Host data ingestion and preparation (NumPy comes in here); uses the backend.
    "portanet.data": 1,
    # keras.ops and the tape; random numbers as ops.
    "portanet.ops": 2,
    "portanet.random": 2,
    # The building blocks.
    "portanet.activations": 3,
    "portanet.initializers": 3,
    "portanet.regularizers": 3,
    "portanet.constraints": 3,
    "portanet.losses": 3,
    "portanet.metrics": 3,
    "portanet.optimizers": 3,
    "portanet.layers": 3,
    "portanet.mixed_precision": 3,  # keras.mixed_precision: policies + LossScaleOptimizer
    # File formats, then what the training loop calls back, then the loop itself.
    "portanet.saving": 4,
    "portanet.serialization": 4,  # serialize_keras_object; saving re-exports it
    "portanet.callbacks": 5,
    "portanet.training": 6,
    "portanet.models": 7,
    # Plug-ins through public hooks (utils/__init__ re-exports two of them).
    "portanet.distributed": 8,
    "portanet.diagnostics": 8,
    "portanet.utils": 8,  # keras.utils: the learning-rate finder, sequences, labels
    "portanet.preprocessing": 8,
    "portanet.applications": 8,  # keras.applications: models built from layers
    # The command line.
    "portanet.cli": 9,
    "portanet.demo": 9,
    "portanet.__main__": 9,
}
FACADE = "portanet"
# The facade imports everything up to the plug-ins; only the command line may use it.
FACADE_LEVEL = 9


# ----------------------------------------------------------------------------- the checker
def discover(root):
    """{dotted module name: (path, is_package)} for every .py file under ``root``."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        modules[".".join(parts)] = (path, is_package)
    return modules


def _resolve_relative(module, is_package, level, target):
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[:len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def imports_of(module, path, is_package, known, top):
    """[(imported module, line, is_name)] of portanet modules named in ``path``'s source;
    ``is_name``: a name taken from that module (``from pkg import name``), not a submodule."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == top or alias.name.startswith(top + "."):
                    found.append((alias.name, node.lineno, False))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _resolve_relative(module, is_package, node.level, node.module)
            else:
                base = node.module or ""
            if not (base == top or base.startswith(top + ".")):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                # ``from pkg import submodule`` imports the submodule; else a name of ``base``.
                found.append((sub, node.lineno, False) if sub in known else (base, node.lineno, True))
    return found


def build_graph(root):
    """{module: {imported module: first line}} including the implied package ``__init__``s."""
    top = root.name
    modules = discover(root)
    graph = {}
    for module, (path, is_package) in modules.items():
        ancestors = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
        if is_package:
            ancestors.add(module)
        edges = {}
        for target, line, is_name in imports_of(module, path, is_package, modules, top):
            if target == top or (is_name and target in ancestors and target != module):
                # A name taken from a package that contains the importer (the facade's
                # ``__version__``, ``from . import serialize`` in a submodule): that package's
                # __init__ imports the importer, so this is a cycle.
                if module != top:
                    edges.setdefault(target, line)
                continue
            parts = target.split(".")
            for name in (".".join(parts[:i]) for i in range(2, len(parts) + 1)):
                if name in ancestors or name == module or name not in modules:
                    continue
                edges.setdefault(name, line)
        graph[module] = edges
    return graph


def level_of(module, levels):
    best = None
    for prefix in levels:
        if (module == prefix or module.startswith(prefix + ".")) and (
                best is None or len(prefix) > len(best)):
            best = prefix
    return None if best is None else levels[best]


def cycles(graph):
    """The strongly connected components with more than one module (Tarjan), sorted."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def violations(graph, levels, facade, facade_level):
    """Human-readable problems: unplaced modules, imports of the facade below
    ``facade_level``, backward arrows."""
    problems = []
    for module in sorted(graph):
        if module == facade:
            continue
        mine = level_of(module, levels)
        if mine is None:
            problems.append(f"{module}: not placed in LEVELS")
            continue
        for target, line in sorted(graph[module].items()):
            if target == facade:
                if mine >= facade_level:
                    continue
                problems.append(f"{module}:{line} imports the package facade {facade!r} "
                                "(import the module that defines the name)")
                continue
            theirs = level_of(target, levels)
            if theirs is not None and theirs > mine:
                problems.append(f"{module}:{line} imports {target} (level {theirs} is right of "
                                f"level {mine})")
    return problems


def check(root, levels, facade, facade_level=None):
    """(cycles, problems) of the package at ``root``."""
    graph = build_graph(root)
    if facade_level is None:
        facade_level = max(levels.values()) + 1
    return cycles(graph), violations(graph, levels, facade, facade_level)


# ----------------------------------------------------------------------------- the real tree
def test_no_import_cycle_in_portanet():
    found, _ = check(ROOT, LEVELS, FACADE, FACADE_LEVEL)
    assert found == [], "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_imports_point_left_only():
    _, problems = check(ROOT, LEVELS, FACADE, FACADE_LEVEL)
    assert problems == [], "imports against the direction:\n" + "\n".join(problems)


# ----------------------------------------------------------------------------- the checker itself
def _package(tmp_path, files):
    root = tmp_path / "pkg"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


TOY_LEVELS = {"pkg.base": 0, "pkg.middle": 1, "pkg.top": 2, "pkg.sub": 1}


def test_checker_passes_a_clean_tree(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "from . import base, middle, top\n",
        "base.py": "import math\n",
        "middle.py": "from . import base\nfrom .base import x\n",
        "top.py": "import pkg.middle\nfrom pkg import base\n\ndef f():\n    import numpy\n",
        "sub/__init__.py": "from .inner import y\n",
        "sub/inner.py": "from .. import base\n",
    })
    graph = build_graph(root)
    assert graph["pkg.top"] == {"pkg.middle": 1, "pkg.base": 2}
    assert graph["pkg.sub.inner"] == {"pkg.base": 1}
    assert graph["pkg.sub"] == {"pkg.sub.inner": 1}
    assert check(root, TOY_LEVELS, "pkg") == ([], [])


def test_checker_catches_a_cycle(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "",
        "base.py": "",
        "middle.py": "from .top import g\n",
        "top.py": "def f():\n    from . import middle  # a local import still counts\n",
    })
    found, problems = check(root, TOY_LEVELS, "pkg")
    assert found == [["pkg.middle", "pkg.top"]]
    assert problems == ["pkg.middle:1 imports pkg.top (level 2 is right of level 1)"]


def test_checker_catches_a_backward_arrow(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "",
        "base.py": "import pkg.middle as m\n",
        "middle.py": "",
        "top.py": "",
    })
    found, problems = check(root, TOY_LEVELS, "pkg")
    assert found == []
    assert problems == ["pkg.base:1 imports pkg.middle (level 1 is right of level 0)"]


def test_checker_sees_a_package_init_run_by_a_submodule_import(tmp_path):
    """``from ..sub.inner import y`` runs sub/__init__.py, which here imports the top level."""
    root = _package(tmp_path, {
        "__init__.py": "",
        "base.py": "from .sub.inner import y\n",
        "middle.py": "",
        "top.py": "",
        "sub/__init__.py": "from .. import top\n",
        "sub/inner.py": "y = 1\n",
    })
    levels = dict(TOY_LEVELS, **{"pkg.sub.inner": 0})
    _, problems = check(root, levels, "pkg")
    assert problems == ["pkg.base:1 imports pkg.sub (level 1 is right of level 0)",
                        "pkg.sub:1 imports pkg.top (level 2 is right of level 1)"]


def test_checker_sees_a_name_taken_from_the_importers_own_package(tmp_path):
    """sub/__init__ imports sub.inner, which takes a name back from sub/__init__ (even from
    inside a function): a cycle. Taking a sibling submodule through the package is not."""
    root = _package(tmp_path, {
        "__init__.py": "",
        "base.py": "",
        "middle.py": "",
        "top.py": "",
        "sub/__init__.py": "from .inner import y\n\ndef helper():\n    pass\n",
        "sub/inner.py": "from . import other\n\ndef y():\n    from . import helper\n",
        "sub/other.py": "",
    })
    graph = build_graph(root)
    assert graph["pkg.sub.inner"] == {"pkg.sub.other": 1, "pkg.sub": 4}
    found, _ = check(root, TOY_LEVELS, "pkg")
    assert found == [["pkg.sub", "pkg.sub.inner"]]


def test_checker_refuses_unplaced_modules_and_the_facade(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "from .base import x\n",
        "base.py": "x = 1\n",
        "middle.py": "from . import x\n",
        "top.py": "",
        "extra.py": "",
    })
    _, problems = check(root, TOY_LEVELS, "pkg")
    assert problems == ["pkg.extra: not placed in LEVELS",
                        "pkg.middle:1 imports the package facade 'pkg' (import the module that "
                        "defines the name)"]


@pytest.mark.parametrize("module,level", [("portanet.callbacks.history", 5), ("portanet.utils", 8),
                                          ("portanet.utils.lr_finder", 8), ("portanet.layers.core", 3),
                                          ("portanet.backend.numpy_backend", 1), ("portanet.nowhere", None)])
def test_level_lookup_takes_the_longest_prefix(module, level):
    assert level_of(module, LEVELS) == level
