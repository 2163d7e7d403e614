"""The tape: reverse-mode differentiation of ops, beside the layers' own closures.

Outside a trace an op is a plain call of the array namespace: nothing is recorded and
nothing is wrapped. A trace starts when a ``GradientTape`` is entered or when a layer
written with ``call()`` runs (its generated ``forward`` traces ``call``). Inside it, an op
whose inputs include a traced ``Tensor`` or a ``Variable`` returns a ``Tensor`` and
records one node (inputs, outputs, vector-Jacobian closure) on the innermost tape.
``backward`` walks the nodes in reverse, summing gradients where a tensor fans out. A
built-in layer called inside a trace records ONE node whose vector-Jacobian product is its
own hand-written ``backward`` closure, so blocks of built-in layers cost what they cost
in ``fit``. The gradients of variables are accumulated with ``Variable.add_grad``, the
same way the built-in closures accumulate theirs (see docs/ARCHITECTURE.md).

Custom training loop, as Keras users write it with TensorFlow::

    with pn.GradientTape() as tape:
        y_pred = model(x, training=True)
        loss = pn.ops.mean(pn.ops.square(y_pred - y))
    grads = tape.gradient(loss, model.trainable_weights)
    model.optimizer.apply(grads, model.trainable_weights)
"""

import contextlib
import weakref

import array_api_compat
import array_api_compat.numpy as _host_namespace

from .. import backend as _backend

_stack = []          # the active tapes, innermost last


class TracedConversionError(TypeError):
    """A traced tensor was turned into a host value while its tape records."""


def _conversion_error(what):
    return TracedConversionError(
        f"cannot convert a traced tensor to {what} inside a traced call (a layer's call(), "
        "a custom loss or a GradientTape block): gradients cannot flow through a NumPy or "
        "Python value. Compute with pn.ops on the tensor instead, or convert it after the "
        "tape has stopped recording.")


class KerasVariableOps:
    """Keras tensor operators for ``Tensor`` and for ``layers.Variable`` (which inherits
    them): ``+ - * / // % ** @``, comparisons, unary ``-``/``+``/``abs``, ``[]``, ``.T``.

    Each operator is the op of the same name (``x + y`` is ``ops.add(x, y)``), so it records
    on the tape inside a trace and is a plain array operation outside one.
    """

    __slots__ = ()
    __array_ufunc__ = None     # numpy arrays defer to our reflected operators
    __array_priority__ = 1000

    # Every holder (Tensor, Variable, a weight replaced by a tensor) keeps its array in
    # ``value``; its shape and dtype are the array's.
    @property
    def shape(self):
        return tuple(self.value.shape)

    @property
    def dtype(self):
        return self.value.dtype

    def __add__(self, other):
        return _op("add")(self, other)

    def __radd__(self, other):
        return _op("add")(other, self)

    def __sub__(self, other):
        return _op("subtract")(self, other)

    def __rsub__(self, other):
        return _op("subtract")(other, self)

    def __mul__(self, other):
        return _op("multiply")(self, other)

    def __rmul__(self, other):
        return _op("multiply")(other, self)

    def __truediv__(self, other):
        return _op("divide")(self, other)

    def __rtruediv__(self, other):
        return _op("divide")(other, self)

    def __floordiv__(self, other):
        return _op("floor_divide")(self, other)

    def __rfloordiv__(self, other):
        return _op("floor_divide")(other, self)

    def __mod__(self, other):
        return _op("mod")(self, other)

    def __rmod__(self, other):
        return _op("mod")(other, self)

    def __pow__(self, other):
        return _op("power")(self, other)

    def __rpow__(self, other):
        return _op("power")(other, self)

    def __matmul__(self, other):
        return _op("matmul")(self, other)

    def __rmatmul__(self, other):
        return _op("matmul")(other, self)

    def __neg__(self):
        return _op("negative")(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _op("absolute")(self)

    def __lt__(self, other):
        return _op("less")(self, other)

    def __le__(self, other):
        return _op("less_equal")(self, other)

    def __gt__(self, other):
        return _op("greater")(self, other)

    def __ge__(self, other):
        return _op("greater_equal")(self, other)

    def __eq__(self, other):
        return _op("equal")(self, other)

    def __ne__(self, other):
        return _op("not_equal")(self, other)

    def __and__(self, other):
        return _op("logical_and")(self, other)

    def __or__(self, other):
        return _op("logical_or")(self, other)

    def __invert__(self):
        return _op("logical_not")(self)

    def __getitem__(self, key):
        return _op("getitem")(self, key)

    __hash__ = object.__hash__

    @property
    def T(self):
        return _op("transpose")(self)

    @property
    def ndim(self):
        return len(self.shape)


_OPS = {}


def _op(name):
    """The public op ``name`` (filled by the ops modules; operators look it up lazily)."""
    return _OPS[name]


class Tensor(KerasVariableOps):
    """A traced array: its ``value`` (an array of the backend's namespace) and the tape
    that records the ops applied to it. Has Keras tensors' ``shape``, ``dtype``, ``ndim``,
    ``.T`` and operators. Converting it to NumPy or a Python number while its tape is
    recording raises ``TracedConversionError`` (gradients cannot flow through one)."""

    # _keras_mask: the mask a layer called inside the trace gave this output (Keras's
    # ``x._keras_mask``); the next layer called on it reads it (layers/base.py).
    __slots__ = ("value", "tape", "_keras_mask")

    def __init__(self, value, tape):
        self.value = value
        self.tape = tape

    @property
    def device(self):
        return array_api_compat.device(self.value)

    def _check_convert(self, what):
        if self.tape is not None and self.tape.recording:
            raise _conversion_error(what)
        return self.value

    def numpy(self):
        return _to_host(self._check_convert("NumPy"))

    def __array__(self, dtype=None, copy=None):
        value = _to_host(self._check_convert("NumPy"))
        return value if dtype is None else value.astype(dtype)

    def __float__(self):
        return float(self._check_convert("a Python float"))

    def __int__(self):
        return int(self._check_convert("a Python int"))

    def __index__(self):
        return int(self._check_convert("a Python int"))

    def __bool__(self):
        # Control flow on a traced value is fine (it only selects which ops run).
        return bool(self.value)

    def __len__(self):
        return self.value.shape[0]

    def __iter__(self):
        for i in range(self.value.shape[0]):
            yield self[i]

    def __repr__(self):
        return f"<portanet Tensor shape={self.shape} dtype={self.dtype}>"


class _Node:
    __slots__ = ("inputs", "outputs", "vjp", "multi_out", "name")

    def __init__(self, name, inputs, outputs, vjp, multi_out):
        self.name = name
        self.inputs = inputs        # Tensors / Variables / None (constants), per vjp slot
        self.outputs = outputs      # Tensors
        self.vjp = vjp
        self.multi_out = multi_out


class Tape:
    """The nodes of one trace, in execution order."""

    def __init__(self):
        self.nodes = []
        self.variables = {}          # id -> Variable touched (leaves and layers' weights)
        self.recording = False
        # Arrays watched TensorFlow-style (``tape.watch(a)``, then ops on ``a`` itself):
        # id(array) -> (array, its leaf Tensor); ops given the array use the Tensor.
        self.watched = {}

    def traced(self, a):
        """The leaf Tensor of an array watched with ``GradientTape.watch``, else ``a``."""
        hit = self.watched.get(id(a))
        return hit[1] if hit is not None and hit[0] is a else a

    def __enter__(self):
        _stack.append(self)
        self.recording = True
        return self

    def __exit__(self, *exc):
        self.recording = False
        if _stack and _stack[-1] is self:
            _stack.pop()
        else:  # pragma: no cover - unbalanced use
            _stack.remove(self)
        return False

    def watch_value(self, value):
        """A new leaf ``Tensor`` of this tape holding ``value``."""
        return Tensor(value, self)

    def record(self, name, inputs, outputs, vjp, multi_out=False):
        for a in inputs:
            if isinstance(a, VariableLike):
                self.variables[id(a)] = a
        self.nodes.append(_Node(name, inputs, outputs, vjp, multi_out))

    def touch_variables(self, variables):
        for v in variables:
            self.variables[id(v)] = v

    def backward(self, targets, seeds):
        """Walk the nodes in reverse from ``targets`` (Tensors) with output gradients
        ``seeds``; returns ``{id(tensor or variable): gradient}`` of what was reached.
        Variables' gradients are returned, not accumulated (see ``accumulate``)."""
        grads = {}
        for t, s in zip(targets, seeds):
            if isinstance(t, (Tensor, VariableLike)) and s is not None:
                _accumulate(grads, id(t), s)
        for node in reversed(self.nodes):
            if node.multi_out:
                gs = [grads.pop(id(o), None) if isinstance(o, Tensor) else None for o in node.outputs]
                if all(g is None for g in gs):
                    continue
                in_grads = node.vjp(gs)
            else:
                g = grads.pop(id(node.outputs[0]), None)
                if g is None:
                    continue
                in_grads = node.vjp(g)
            for inp, gi in zip(node.inputs, in_grads):
                if gi is not None and inp is not None:
                    _accumulate(grads, id(inp), gi)
        return grads

    def accumulate(self, grads):
        """``Variable.add_grad`` for every variable gradient in ``grads``."""
        for key, var in self.variables.items():
            g = grads.get(key)
            if g is not None:
                var.add_grad(g)


def _accumulate(grads, key, g):
    old = grads.get(key)
    grads[key] = g if old is None else old + g


class VariableLike(KerasVariableOps):
    """Base of ``layers.Variable``: a leaf of every trace (its ``value`` is the array)."""

    __slots__ = ()
    # A weight compares by identity (lists of weights are searched with ``in``); compare
    # values with pn.ops.equal(v, x).
    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__

    def __bool__(self):
        return bool(self.value)

    def __array__(self, dtype=None, copy=None):
        if _stack:
            raise _conversion_error("NumPy")
        value = _to_host(self.value)
        return value if dtype is None else value.astype(dtype)

    def __float__(self):
        if _stack:
            raise _conversion_error("a Python float")
        return float(self.value)


def _to_host(value):
    """A host NumPy array of a device array (through the backend's transfer service)."""
    if own_namespace(value) is _numpy_ns():
        return value
    return _backend.get(_library_name(value)).to_numpy(value)


def _library_name(value):
    module = type(value).__module__.split(".")[0]
    return {"cupy": "cupy", "array_api_strict": "array_api_strict"}.get(module, "numpy")


@contextlib.contextmanager
def paused():
    """Context manager: no tape records inside it (metric updates, bookkeeping that no
    gradient flows through); every tape resumes afterwards."""
    saved = list(_stack)
    del _stack[:]
    try:
        yield
    finally:
        _stack[:] = saved


def current_tape():
    """The innermost recording tape, or None outside every trace."""
    return _stack[-1] if _stack else None


def is_traced(x):
    """True when ``x`` is a traced Tensor (of any tape)."""
    return isinstance(x, Tensor)


def value_of(x):
    """The array behind a Tensor or Variable; anything else unchanged."""
    if isinstance(x, (Tensor, VariableLike)):
        return x.value
    return x


def is_traced_input(x, tape):
    """Whether ``x`` takes part in ``tape``'s differentiation."""
    return (isinstance(x, Tensor) and x.tape is tape) or isinstance(x, VariableLike)


def namespace_of(*values):
    """The Array API namespace of the arrays among ``values``. Host NumPy arrays mixed
    with another library's arrays, or given alone while another backend is active, are
    data for that library (Keras converts them the same way)."""
    numpy_ns = None
    for v in values:
        if type(v) in _PLAIN or v is None:
            continue
        ns = _ns_cache.get(type(v))
        if ns is None:
            try:
                ns = array_api_compat.array_namespace(v)
            except TypeError:
                continue
            _ns_cache[type(v)] = ns
        if ns is _numpy_ns():
            numpy_ns = ns
            continue
        return ns
    current = _backend.current().xp
    if numpy_ns is not None and current is not numpy_ns and \
            getattr(current, "__name__", "") == "array_api_compat.numpy":
        return numpy_ns
    return current


_PLAIN = (bool, int, float, complex, str, list, tuple)


def own_namespace(v):
    """The namespace ``v`` itself belongs to (None for a non-array)."""
    ns = _ns_cache.get(type(v))
    if ns is None and type(v) not in _PLAIN and v is not None:
        try:
            ns = _ns_cache[type(v)] = array_api_compat.array_namespace(v)
        except TypeError:
            return None
    return ns


def _numpy_ns():
    return _host_namespace
_ns_cache = {}


# Keras's backend.get_keras_mask side table: the mask of an eager layer output whose array
# type takes no attribute (array_api_strict), keyed by the array's id; the entry goes when
# the array does. layers/base.py's set_keras_mask fills it; the layers and losses read it.
_KERAS_MASKS = {}


def remember_keras_mask(x, mask):
    """Keep ``mask`` as the mask of the array ``x`` (which takes no attribute)."""
    key = id(x)
    try:
        ref = weakref.ref(x, lambda _, key=key: _KERAS_MASKS.pop(key, None))
    except TypeError:
        return
    _KERAS_MASKS[key] = (ref, mask)


def keras_mask_of(x):
    """The mask ``x`` carries (Keras's ``backend.get_keras_mask``): its ``_keras_mask``
    attribute, else its entry in the side table, else None."""
    mask = getattr(x, "_keras_mask", None)
    if mask is not None:
        return mask
    hit = _KERAS_MASKS.get(id(x))
    if hit is not None and hit[0]() is x:
        return hit[1]
    return None


class GradientTape:
    """Records the ops and layer calls run inside it so that ``gradient`` can
    differentiate a result with respect to variables (TensorFlow's name, Keras users'
    habit; it works on every portanet backend).

    Args:
        persistent: allow several ``gradient`` calls (default: one).
        watch_accessed_variables: accepted for TensorFlow compatibility; every Variable
            used inside the block is watched.

    Example::

        with pn.GradientTape() as tape:
            loss = pn.ops.mean(pn.ops.square(model(x, training=True) - y))
        grads = tape.gradient(loss, model.trainable_weights)

    ``gradient`` does not change any Variable's ``grad``; it returns new arrays (None for a
    source the target does not depend on, as TensorFlow).
    """

    def __init__(self, persistent=False, watch_accessed_variables=True):
        self.persistent = bool(persistent)
        self._tape = Tape()
        self._used = False
        self._watched = {}

    def __enter__(self):
        self._tape.__enter__()
        return self

    def __exit__(self, *exc):
        return self._tape.__exit__(*exc)

    def watch(self, tensor):
        """Watch a tensor: returns a traced Tensor to compute with (``x = tape.watch(x)``).
        As TensorFlow's ``tape.watch(a)``, the ``pn.ops`` called on ``a`` itself afterwards
        are recorded too, and ``gradient(target, a)`` is their gradient (Python operators
        on a plain array, ``a * 2``, are the array library's own and are not recorded).
        Variables are always watched."""
        if isinstance(tensor, (list, tuple)):
            return type(tensor)(self.watch(t) for t in tensor)
        if isinstance(tensor, (Tensor, VariableLike)):
            return tensor
        hit = self._tape.watched.get(id(tensor))
        if hit is not None and hit[0] is tensor:
            return hit[1]
        t = Tensor(tensor, self._tape)
        self._watched[id(t)] = t
        self._tape.watched[id(tensor)] = (tensor, t)
        return t

    def stop_recording(self):
        """Context manager: ops inside it are not recorded."""
        @contextlib.contextmanager
        def scope():
            tape = self._tape
            was = tape.recording
            if tape in _stack:
                _stack.remove(tape)
            tape.recording = False
            try:
                yield
            finally:
                tape.recording = was
                if was:
                    _stack.append(tape)
        return scope()

    def gradient(self, target, sources, output_gradients=None):
        """d target / d sources. ``target`` is a scalar Tensor (or a list of Tensors, whose
        gradients add); ``sources`` a Variable, a watched Tensor, or a list / dict of them.
        Returns gradients in the same structure (None where there is no path)."""
        if self._used and not self.persistent:
            raise RuntimeError("GradientTape.gradient can only be called once on a "
                               "non-persistent tape; use GradientTape(persistent=True)")
        self._used = True
        targets = list(target) if isinstance(target, (list, tuple)) else [target]
        if output_gradients is None:
            seeds = []
            for t in targets:
                v = value_of(t)
                xp = namespace_of(v)
                seeds.append(xp.ones_like(v) if hasattr(v, "shape") else None)
        else:
            outs = output_gradients if isinstance(output_gradients, (list, tuple)) \
                else [output_gradients]
            seeds = [value_of(g) for g in outs]
        tape = self._tape
        # Built-in layers' closures accumulate into Variable.grad: keep the current values
        # and restore them, so gradient() changes nothing.
        saved = {k: v.grad for k, v in tape.variables.items()}
        for v in tape.variables.values():
            v.grad = None
        try:
            grads = tape.backward(targets, seeds)
            for key, var in tape.variables.items():
                g = grads.get(key)
                if g is not None:
                    var.add_grad(g)
            found = {k: v.grad for k, v in tape.variables.items()}
        finally:
            for k, v in tape.variables.items():
                v.grad = saved[k]

        def one(s):
            if isinstance(s, VariableLike):
                return found.get(id(s))
            s = tape.traced(s)
            if isinstance(s, Tensor):
                return grads.get(id(s))
            raise TypeError(f"GradientTape.gradient: sources must be Variables or watched "
                            f"Tensors; got {type(s).__name__}")
        if isinstance(sources, dict):
            return {k: one(s) for k, s in sources.items()}
        if isinstance(sources, (list, tuple)):
            return [one(s) for s in sources]
        return one(sources)
