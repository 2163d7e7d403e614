"""Layers written the Keras way, with ``call()``: the generated ``forward``, calls inside
a trace, and output shapes inferred by running ``call``.

A layer that defines ``call(inputs, training=None, mask=None)`` instead of ``forward``
gets a ``forward`` that runs ``call`` on traced tensors (``portanet.ops.tape``) and whose
``backward`` walks that tape in reverse, accumulating the weights' gradients with
``Variable.add_grad`` like every built-in closure. A recurrent cell's
``call(inputs, states, training=None)`` gives ``forward(inputs, states, training)`` ->
``((output, new_states), backward)`` with ``backward(d_output, d_new_states) ->
(d_inputs, d_states)``.

Inside a trace (a ``GradientTape`` block or another layer's ``call``), a built-in layer
records ONE node whose vector-Jacobian product is its own ``backward`` closure, and a
``call()`` layer runs its ``call`` on the same tape.
"""

import contextvars
import inspect
import warnings

from .. import backend as _backend
from .. import dtype_policies as _dtype_policies
from ..ops import tape as _tape
from . import symbolic as _symbolic


# How many call() layers are running inside the current trace (0: the next is outermost).
_CALL_DEPTH = contextvars.ContextVar("portanet_call_depth", default=0)


def uses_call(layer):
    """Whether the layer's class defines ``call`` and not ``forward`` (a Keras-style layer);
    a class defining both keeps its hand-written ``forward``."""
    cls = type(layer)
    cached = cls.__dict__.get("_uses_call_cache")
    if cached is None:
        cached = _defines_call_first(cls)
        cls._uses_call_cache = cached
    return cached


def _defines_call_first(cls):
    """True when, walking the MRO from the most derived class, ``call`` is defined before
    any ``forward`` (and before ``Layer`` itself)."""
    for klass in cls.__mro__:
        if "_is_layer_base" in klass.__dict__:
            return False
        if "forward" in klass.__dict__:
            return False
        if "call" in klass.__dict__:
            return True
    return False


def call_parameters(layer):
    """(names of call's parameters, whether it takes **kwargs), cached per class."""
    cls = type(layer)
    cached = cls.__dict__.get("_call_params_cache")
    if cached is None:
        sig = inspect.signature(layer.call)
        names = [p.name for p in sig.parameters.values()]
        var_kw = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        cached = (tuple(names), var_kw)
        cls._call_params_cache = cached
    return cached


def positional_call_parameters(layer):
    """The names of ``call()``'s parameters that can be given by position (inputs first),
    cached per class."""
    cls = type(layer)
    cached = cls.__dict__.get("_call_positional_cache")
    if cached is None:
        kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        cached = tuple(p.name for p in inspect.signature(layer.call).parameters.values()
                       if p.kind in kinds)
        cls._call_positional_cache = cached
    return cached


def var_positional_parameter(layer):
    """The name of ``call()``'s var-positional parameter (``call(self, *args)``,
    ``call(self, x, *rest)``), or None; cached per class."""
    cls = type(layer)
    cached = cls.__dict__.get("_call_var_positional_cache")
    if cached is None:
        cached = next((p.name for p in inspect.signature(layer.call).parameters.values()
                       if p.kind is inspect.Parameter.VAR_POSITIONAL), "")
        cls._call_var_positional_cache = cached
    return cached or None


def inputs_are_var_positional(layer):
    """Whether ``call()``'s first parameter is its ``*args`` (``call(self, *args)``)."""
    return not positional_call_parameters(layer) and var_positional_parameter(layer) is not None


def var_positional_key(name, index):
    """The key under which the ``index``-th tensor given to ``call()``'s ``*name`` beyond
    the inputs travels with the call's other arguments (a functional node keeps it there,
    so it is an input of the node with a gradient, and writes it in the config's "args";
    ``invoke_call`` passes it back by position)."""
    return f"*{name}[{index}]"


def invoke_call(layer, inputs, args=(), training=None, mask=None, kwargs=None):
    """``layer.call(inputs, *args, ...)`` passing ``training`` / ``mask`` where call takes them;
    the arguments of call's ``*args`` given beyond the inputs (``var_positional_key``) go
    by position, in order."""
    names, var_kw = call_parameters(layer)
    kw = dict(kwargs or {})
    var = var_positional_parameter(layer) if kw else None
    if var is not None:
        rest, key = [], var_positional_key(var, 0)
        while key in kw:
            rest.append(kw.pop(key))
            key = var_positional_key(var, len(rest))
        if rest:
            args = tuple(args) + tuple(rest)
    if "training" in names or var_kw:
        kw["training"] = training
    if mask is not None and ("mask" in names or var_kw):
        kw["mask"] = mask
    return layer.call(inputs, *args, **kw)


def is_tensor_argument(x):
    """A tensor, or a non-empty list/tuple of them (what Keras lets be given by position)."""
    if isinstance(x, (list, tuple)):
        return bool(x) and all(is_tensor_argument(e) for e in x)
    return hasattr(x, "shape") and hasattr(x, "dtype")


def flat(values):
    for v in values:
        if isinstance(v, (list, tuple)):
            yield from flat(v)
        else:
            yield v


def _wrap(tape, x):
    if isinstance(x, (list, tuple)):
        return [_wrap(tape, e) for e in x]
    if isinstance(x, dict):       # a subclassed model's dict input
        return {k: _wrap(tape, v) for k, v in x.items()}
    return _tape.Tensor(x, tape)


def _flatten(x):
    if isinstance(x, (list, tuple)):
        out = []
        for e in x:
            out.extend(_flatten(e))
        return out
    if isinstance(x, dict):
        return _flatten(list(x.values()))
    return [x]


def _check_output(layer, out):
    for t in _flatten(out):
        if not (isinstance(t, (_tape.Tensor, _tape.VariableLike)) or
                (hasattr(t, "shape") and hasattr(t, "dtype"))):
            raise TypeError(f"layer {layer.name!r} ({type(layer).__name__}): call() returned "
                            f"{type(t).__name__} {t!r:.60}; expected a tensor (or a list/tuple "
                            "of tensors) computed with pn.ops")


def _values(x):
    if isinstance(x, (list, tuple)):
        return [_values(e) for e in x]
    return _tape.value_of(x)


def _zeros_for(x, like_xp=None):
    xp = _tape.namespace_of(x)
    return xp.zeros_like(x)


def traced_forward(layer, inputs, args=(), training=False, mask=None, kwargs=None,
                   grad_kwargs=False):
    """The generated ``forward`` of a ``call()`` layer: ``(outputs, backward)``.

    With extra positional tensor arguments (a recurrent cell's states), returns
    ``((output, new_states), backward)`` and ``backward(d_output, d_new_states)`` returns
    ``(d_inputs, d_states)``. Losses added with ``add_loss`` during the call are part of
    the objective: ``backward`` adds their gradient and ``layer._call_extra`` holds their sum.
    With ``grad_kwargs`` (a functional node whose call took tensors besides its inputs),
    the array values of ``kwargs`` are traced too and ``backward`` returns
    ``(d_inputs, {name: d_argument})``.
    """
    tape = _tape.Tape()
    clear_losses(layer)
    # A layer reading the model's own input in a training step: nobody reads the input's
    # gradient, so the input is a constant of the tape (its gradient is never formed).
    constant_input = layer.__dict__.get("_skip_input_grad", False) and not args
    token = _CALL_DEPTH.set(_CALL_DEPTH.get() + 1)   # the layers it calls are nested
    try:
        with tape:
            xs = _wrap(None if constant_input else tape, inputs)
            if mask is not None and isinstance(xs, (list, _tape.Tensor)):
                attach_masks(xs, mask)   # the layers call() runs read it, as in Keras
            extra = [_wrap(tape, a) for a in args]
            kw_names = ([k for k, v in (kwargs or {}).items() if hasattr(v, "shape")]
                        if grad_kwargs else [])
            if kw_names:
                kwargs = dict(kwargs)
                for k in kw_names:
                    kwargs[k] = _tape.Tensor(kwargs[k], tape)
            out = invoke_call(layer, xs, extra, training=training, mask=mask, kwargs=kwargs)
    finally:
        _CALL_DEPTH.reset(token)
    _check_output(layer, out)
    layer._call_returned_variables = _variables_of(out)
    # The masks the outputs carry (set by the layers call() ran): Layer.run passes them on.
    out_masks = [traced_mask(t) for t in _flatten(out)]
    layer._call_output_masks = out_masks if any(m is not None for m in out_masks) else None
    losses = collect_losses(layer)
    layer._call_extra = _sum_values(losses)
    out_flat = _flatten(out)
    in_flat = _flatten(xs) + _flatten(extra)
    structure = out

    def backward(*d_out):
        seeds_tree = d_out[0] if len(d_out) == 1 else list(d_out)
        seeds = _flatten(seeds_tree) if isinstance(structure, (list, tuple)) else [seeds_tree]
        seeds = [None if s is None else _tape.value_of(s) for s in seeds]
        targets = list(out_flat)
        for loss in losses:
            if isinstance(loss, _tape.Tensor):
                targets.append(loss)
                seed = _tape.namespace_of(loss.value).ones_like(loss.value)
                scale = _dtype_policies._LOSS_SCALE  # a loss-scaled step (mixed precision)
                seeds.append(seed if scale is None else seed * scale)
        grads = tape.backward(targets, seeds)
        tape.accumulate(grads)
        if grad_kwargs:
            d_kwargs = {k: grads.get(id(kwargs[k])) for k in kw_names}
            d_kwargs = {k: _zeros_for(kwargs[k].value) if g is None else g for k, g in d_kwargs.items()}
        if constant_input:
            return (None, d_kwargs) if grad_kwargs else None
        d_in = [grads.get(id(t)) for t in in_flat]
        d_in = [_zeros_for(t.value) if g is None else g for t, g in zip(in_flat, d_in)]
        rebuilt = _rebuild([xs] + [list(extra)], d_in)
        d_inputs = rebuilt[0]
        if args:
            return d_inputs, rebuilt[1][0] if len(args) == 1 else rebuilt[1]
        return (d_inputs, d_kwargs) if grad_kwargs else d_inputs
    return _values(out), backward


def _variables_of(out):
    """The Variables that ``call`` returned as they are (Keras hands those back from an
    eager ``layer(x)`` call), keyed by their position in the flat outputs; None if none."""
    found = {i: t for i, t in enumerate(_flatten(out)) if isinstance(t, _tape.VariableLike)}
    return found or None


def eager_outputs(layer, y):
    """The result of an eager call of a ``call()`` layer: its output arrays, except that
    an output which ``call`` returned as a Variable is that Variable (as Keras)."""
    found = layer.__dict__.get("_call_returned_variables")
    if not found:
        return y
    layer._call_returned_variables = None
    if not isinstance(y, (list, tuple)):
        return found.get(0, y)
    return _rebuild(y, [found.get(i, v) for i, v in enumerate(_flatten(y))])


def _rebuild(structure, flat):
    it = iter(flat)

    def build(s):
        if isinstance(s, (list, tuple)):
            return [build(e) for e in s]
        if isinstance(s, dict):
            return {k: build(v) for k, v in s.items()}
        return next(it)
    return build(structure)


def _sum_values(losses):
    total = None
    for loss in losses:
        v = _tape.value_of(loss)
        total = v if total is None else total + v
    return total


# ----------------------------------------------------------------- losses
def sublayers(layer):
    """The layers ``layer`` owns: its ``_layers`` and, for ``call()`` layers, the layers
    assigned to its public attributes (directly or in lists, tuples and dicts), in order."""
    out = list(getattr(layer, "_layers", ()))
    names = layer.__dict__.get("_tracked_attributes")
    if names and uses_call(layer):
        seen = {id(x) for x in out}
        for key in names:
            value = layer.__dict__.get(key)
            items = value.values() if isinstance(value, dict) else \
                (value if isinstance(value, (list, tuple)) else (value,))
            for item in items:
                if getattr(item, "_is_layer_base", False) and item is not layer and id(item) not in seen:
                    seen.add(id(item))
                    out.append(item)
    return out


def clear_losses(layer):
    layer._losses = []
    for sub in sublayers(layer):
        clear_losses(sub)


def regularization_term(variable):
    """A weight's regularization penalty, differentiable on the recording tape (its
    gradient is the regularizer's own ``grad``); a plain array outside a trace."""
    reg = variable.regularizer
    value = reg(variable.value)
    tape = _tape.current_tape()
    if tape is None or not variable.trainable:
        return value
    out = _tape.Tensor(value, tape)

    def vjp(g, reg=reg, variable=variable):
        return [g * reg.grad(variable.value)]
    tape.record("regularizer", [variable], [out], vjp)
    return out


def collect_losses(layer):
    out = list(getattr(layer, "_losses", ()))
    for sub in sublayers(layer):
        out.extend(collect_losses(sub))
    return out


# ----------------------------------------------------------------- inside a trace
def call_in_trace(layer, inputs, tape, training=False, mask=None, kwargs=None):
    """``layer(inputs)`` while ``tape`` records: a ``call()`` layer runs on the same tape;
    a built-in layer records one node with its own backward closure."""
    inputs = _to_backend(layer, inputs)
    values = _values(inputs)
    layer._maybe_build(_shapes(values))
    if uses_call(layer):
        # Plain arrays become constants of the tape, so `inputs @ variable` works on every
        # library (array-api-strict's operators refuse foreign operands).
        inputs = _watch_plain(tape, inputs)
        outermost = _CALL_DEPTH.get() == 0
        if outermost:
            # As Keras, the outermost call starts with no losses: those of an earlier
            # call (another step's tape) do not accumulate.
            clear_losses(layer)
        token = _CALL_DEPTH.set(_CALL_DEPTH.get() + 1)
        try:
            out = invoke_call(layer, inputs, training=training, mask=mask, kwargs=kwargs)
        finally:
            _CALL_DEPTH.reset(token)
        _check_output(layer, out)
        return out
    if kwargs:
        raise TypeError(f"{layer.name}: unexpected keyword argument(s) {sorted(kwargs)}")
    substituted = _tensor_weights(layer, tape)
    out_mask = None
    if substituted:
        y, backward, extra = _run_with_tensor_weights(layer, values, training, mask, substituted)
    else:
        y, backward, out_mask, extra = layer.run(values, training=training, mask=mask)
    if extra is not None:
        layer._losses = list(getattr(layer, "_losses", [])) + [extra]
    tape.touch_variables(layer.weights)
    multi_in = isinstance(inputs, (list, tuple))
    in_list = list(inputs) if multi_in else [inputs]
    traced_in = [t if _tape.is_traced_input(t, tape) else None for t in in_list]
    if substituted:
        # The traced tensors standing for weights are inputs of the node too.
        traced_in = traced_in + [t for _, _, t in substituted]
        inner_backward = backward

        def backward(d, inner_backward=inner_backward, was_multi=multi_in):
            d_in, d_weights = inner_backward(d)
            return (list(d_in) if was_multi else [d_in]) + d_weights
        multi_in = True
    if isinstance(y, (list, tuple)):
        outs = [_tape.Tensor(v, tape) for v in y]

        def vjp(gs):
            gs = [_zeros_for(v) if g is None else g for g, v in zip(gs, y)]
            d = backward(gs)
            return list(d) if multi_in else [d]
        tape.record(layer.name, traced_in, outs, vjp, multi_out=True)
        attach_masks(outs, out_mask)
        return outs
    out = _tape.Tensor(y, tape)

    def vjp(g):
        d = backward(g)
        return list(d) if multi_in else [d]
    tape.record(layer.name, traced_in, [out], vjp)
    attach_masks(out, out_mask)
    return out


# ----------------------------------------------------------------- masks on traced tensors
# As Keras's backend.set_keras_mask / get_keras_mask inside a call: a layer called on
# traced tensors reads the mask they carry and gives its outputs theirs (an Embedding with
# mask_zero=True, then an LSTM, inside a subclassed model's call).
def traced_mask(x):
    """The mask carried by the traced tensor ``x`` (a list for a list: None where none;
    None when none carries one)."""
    if isinstance(x, (list, tuple)):
        masks = [traced_mask(e) for e in x]
        return masks if any(m is not None for m in masks) else None
    return getattr(x, "_keras_mask", None) if isinstance(x, _tape.Tensor) else None


def attach_masks(out, mask):
    """Give the traced outputs ``out`` their mask(s) (one for all, or one per output), as
    arrays; an output that already carries one keeps it (as Keras's _set_mask_metadata)."""
    if mask is None:
        return
    outs = _flatten(out)
    masks = _flatten(mask) if isinstance(mask, (list, tuple)) else [mask] * len(outs)
    for t, m in zip(outs, masks):
        if m is not None and isinstance(t, _tape.Tensor) and \
                getattr(t, "_keras_mask", None) is None:
            t._keras_mask = _tape.value_of(m)


class _TensorWeight(_tape.VariableLike):
    """Stands for a weight attribute a user replaced by a traced tensor (Keras allows
    ``layer.kernel = tensor``, e.g. a hypernetwork's prediction) while a built-in layer
    runs: its ``value`` is the tensor's and ``add_grad`` collects the layer's gradient."""

    __slots__ = ("value", "name", "path", "grad", "trainable", "regularizer", "constraint",
                 "backend")

    def __init__(self, value, name, backend):
        self.value, self.name, self.path, self.backend = value, name, name, backend
        self.grad, self.trainable, self.regularizer, self.constraint = None, True, None, None

    def add_grad(self, g):
        self.grad = g if self.grad is None else self.grad + g


def _tensor_weights(layer, tape):
    """(layer, attribute, Tensor) for the attributes of ``layer`` and its sub-layers that
    hold a Tensor of ``tape`` (weights replaced by computed tensors)."""
    found, seen, todo = [], set(), [layer]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        for key, value in current.__dict__.items():
            if isinstance(value, _tape.Tensor) and value.tape is tape:
                found.append((current, key, value))
        todo.extend(sublayers(current))
    return found


def _run_with_tensor_weights(layer, values, training, mask, substituted):
    """``layer.run`` with each replaced weight standing in as a ``_TensorWeight``; the
    returned backward gives ``(d_inputs, [gradient of each replaced weight])``."""
    backend = layer.backend or _backend.current()
    proxies = [_TensorWeight(t.value, key, backend) for _, key, t in substituted]

    def swap(objects):
        for (owner, key, _), obj in zip(substituted, objects):
            object.__setattr__(owner, key, obj)

    swap(proxies)
    try:
        y, inner, _, extra = layer.run(values, training=training, mask=mask)
    finally:
        swap([t for _, _, t in substituted])

    def backward(d):
        for p in proxies:
            p.grad = None
        swap(proxies)
        try:
            d_in = inner(d)
        finally:
            swap([t for _, _, t in substituted])
        return d_in, [p.grad if p.grad is not None else _zeros_for(p.value) for p in proxies]
    return y, backward, extra


def _watch_plain(tape, x):
    if isinstance(x, (list, tuple)):
        return [_watch_plain(tape, e) for e in x]
    if isinstance(x, (_tape.Tensor, _tape.VariableLike)):
        return x
    return tape.watch_value(x)


def _to_backend(layer, x):
    """Host arrays / lists given inside a trace become arrays of the layer's backend."""
    if isinstance(x, (list, tuple)):
        return [_to_backend(layer, e) for e in x]
    if isinstance(x, (_tape.Tensor, _tape.VariableLike)):
        return x
    backend = layer.backend or _backend.current()
    return backend.asarray(x, dtype=layer._input_dtype(x))


def _shapes(values):
    if isinstance(values, (list, tuple)):
        return [tuple(v.shape) for v in values]
    return tuple(values.shape)


# ----------------------------------------------------------------- output shapes
def infer_output_shape(layer, input_shape, kwargs=None):
    """Cached per input shape: see ``_probe_output_shape``."""
    masks = _probe_masks(layer)
    key = repr(input_shape) + repr(None if masks is None else [
        None if m is None else m.shape for m in masks])
    if kwargs:
        key += repr(sorted(
            (k, getattr(v, "shape", None), getattr(v, "dtype", None),
             None if hasattr(v, "shape") else repr(v)) for k, v in kwargs.items()))
    cache = layer.__dict__.setdefault("_output_shape_cache", {})
    if key not in cache:
        cache[key] = _probe_output_shape(layer, input_shape, masks, kwargs)
    return cache[key]


def _probe_masks(layer):
    """The masks of the symbolic inputs being called, when ``call`` takes ``mask``."""
    inputs = _symbolic.CALL_INPUTS.get()
    if inputs is None:
        return None
    names, var_kw = call_parameters(layer)
    if "mask" not in names and not var_kw:
        return None
    return _symbolic.input_masks(inputs if isinstance(inputs, (list, tuple)) else [inputs])


def _probe_output_shape(layer, input_shape, masks=None, kwargs=None):
    """The output shape of a ``call()`` layer, found by running ``call`` on zeros of
    ``input_shape`` (the batch axis and other unknown axes probed at two sizes; an axis
    whose length follows the probe is reported as None), as Keras's compute_output_spec.
    ``masks``: the symbolic inputs' masks, passed to ``call`` as all-True probe masks.
    Symbolic tensors among ``kwargs`` (arguments of call besides the inputs) are probed
    the same way as the inputs, each with its own dtype."""
    backend = layer.backend or _backend.current()
    keys = list(input_shape) if isinstance(input_shape, dict) else None   # call() takes a dict
    if keys is not None:
        input_shape = [input_shape[k] for k in keys]
    multi = isinstance(input_shape, list)
    shapes = input_shape if multi else [input_shape]
    tensor_kwargs = {k: v for k, v in (kwargs or {}).items() if hasattr(v, "shape")}
    unknown = any(s is None for shape in shapes for s in shape) or any(
        s is None for v in tensor_kwargs.values() for s in v.shape)
    probes = (2, 3) if unknown else (None,)
    results = []
    for size in probes:
        arrays = []
        for shape in shapes:
            concrete = tuple(size if s is None else int(s) for s in shape)
            arrays.append(backend.xp.zeros(concrete, dtype=backend.dtype(layer.dtype),
                                           device=backend.device))
        probe_kwargs = dict(kwargs or {})
        for k, v in tensor_kwargs.items():
            probe_kwargs[k] = backend.xp.zeros(tuple(size if s is None else int(s) for s in v.shape),
                                               dtype=backend.dtype(v.dtype), device=backend.device)
        saved = list(getattr(layer, "_losses", []))
        try:
            # The probe's zeros are no data: the floating-point warnings they raise (0/0
            # where an Embedding(mask_zero=True) inside call() masks every probe step) are
            # noise, as Keras's symbolic compute_output_spec computes no values.
            with _tape.Tape() as tape, warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                probe = [tape.watch_value(a) for a in arrays]
                for k in tensor_kwargs:
                    probe_kwargs[k] = tape.watch_value(probe_kwargs[k])
                probe_mask = None
                if masks is not None:
                    probe_mask = [None if m is None else _symbolic.probe_arrays(
                        backend, [m], size or 1, "bool")[0] for m in masks]
                    probe_mask = probe_mask if multi else probe_mask[0]
                given = dict(zip(keys, probe)) if keys is not None else probe if multi else probe[0]
                out = invoke_call(layer, given, training=False, mask=probe_mask,
                                  kwargs=probe_kwargs)
        except (_tape.TracedConversionError,):
            raise
        except Exception as e:
            raise ValueError(f"could not infer the output shape of layer {layer.name!r} "
                             f"({type(layer).__name__}) for input shape {input_shape}: its call() "
                             f"failed on a probe input ({type(e).__name__}: {e}). Define "
                             "compute_output_shape(input_shape) on the layer.") from e
        finally:
            clear_losses(layer)
            layer._losses = saved
        _check_output(layer, out)
        results.append(out)
    if len(results) == 1:
        return _shape_tree(results[0])
    return _merge(_shape_tree(results[0]), _shape_tree(results[1]))


def _shape_tree(out):
    if isinstance(out, (list, tuple)):
        return [_shape_tree(o) for o in out]
    return tuple(_tape.value_of(out).shape)


def _merge(a, b):
    if isinstance(a, list):
        return [_merge(x, y) for x, y in zip(a, b)]
    return tuple(x if x == y else None for x, y in zip(a, b))
