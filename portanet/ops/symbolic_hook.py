"""``keras.ops`` called on symbolic tensors (the functional API): ``ops.add(x, y)`` or
``ops.mean(x, axis=-1)`` with ``x`` from ``pn.Input`` returns a symbolic tensor, as in Keras 3.

The ops sit to the left of the layers (docs/ARCHITECTURE.md), so they do not import the
``KerasTensor`` class: ``portanet.layers`` registers it with the handler that records the
op as a graph node (``set_handler``). Every public op in ``portanet.ops`` goes through
``symbolic_aware``; on arrays and traced tensors it only checks its arguments' types.
"""

import functools

_handler = None
_types = ()     # the symbolic tensor classes (KerasTensor), registered with the handler


def set_handler(handler, symbolic_types):
    """``handler(name, fn, args, kwargs)`` builds the symbolic result of op ``name`` when an
    argument is an instance of one of ``symbolic_types``."""
    global _handler, _types
    _handler = handler
    _types = tuple(symbolic_types)


def _symbolic(a):
    t = type(a)
    if t in _types:
        return True
    return (t is list or t is tuple) and any(type(e) in _types for e in a)


def has_symbolic(args, kwargs):
    """Whether any argument (or an element of a list/tuple argument) is symbolic."""
    for a in args:
        if _symbolic(a):
            return True
    if kwargs:
        for a in kwargs.values():
            if _symbolic(a):
                return True
    return False


def symbolic_aware(name, fn):
    """``fn`` that hands calls with symbolic arguments to the registered handler."""

    @functools.wraps(fn)
    def op(*args, **kwargs):
        if _types and has_symbolic(args, kwargs):
            return _handler(name, fn, args, kwargs)
        return fn(*args, **kwargs)
    return op


def wrap_namespace(namespace, names):
    """Replace each function ``namespace[name]`` by its ``symbolic_aware`` version."""
    for name in names:
        fn = namespace[name]
        if callable(fn) and not isinstance(fn, type):
            namespace[name] = symbolic_aware(name, fn)
