"""``Variable`` and ``Layer``: the contract every layer follows (docs/ARCHITECTURE.md, section 3).

A layer's ``forward(x, training=False)`` returns ``(y, backward)``; ``backward(dy)``
accumulates the gradients of the layer's weights (``Variable.add_grad``) and returns the
gradient of the input. The closure holds what it needs, so a layer may be called several
times in one step (shared layers, RNN cells) and a graph just runs the closures in reverse.

Layers taking several inputs get a list and return a list of input gradients. Layers that
consume a mask (RNNs) accept ``forward(x, training=False, mask=None)``; the mask a layer
passes on is ``compute_mask(inputs, mask)``.
"""

import inspect
import itertools
import types

from .. import backend as _backend
from .. import config as _config
from .. import constraints as _constraints
from .. import dtype_policies as _dtype_policies
from .. import initializers as _initializers
from .. import regularizers as _regularizers
from ..naming import snake_case
from ..validation import check_positive_int  # noqa: F401 - layers import it from here
from ..ops import tape as _tape
from . import traced as _traced
from . import input_spec as _input_spec
from . import symbolic

_name_counters = {}
_NO_INPUTS = object()   # Layer.__call__ without a positional input (given by name)


def _bind_call_arguments(layer, inputs, args, kwargs):
    """(inputs, kwargs) of ``layer(inputs, *args, **kwargs)`` with the positional ``args``
    named after ``call()``'s parameters (``training``, ``mask`` for a built-in layer), and
    ``inputs`` taken from kwargs by call's first parameter name when not given. As Keras's
    Layer.__call__, only tensors (or None) may be given by position: ``layer(x, True)`` is a
    ValueError (``training=True`` goes by keyword)."""
    for value in _traced.flat(args):
        if value is not None and not _traced.is_tensor_argument(value):
            raise ValueError("Only input tensors may be passed as positional arguments. The "
                             "following argument value should be passed as a keyword argument: "
                             f"{value!r} (of type {type(value)})")
    var = None
    if _traced.uses_call(layer):
        names = _traced.positional_call_parameters(layer)
        var = _traced.var_positional_parameter(layer)
        names = names or ("inputs",)   # call(self, *args): the first tensor is the inputs
    else:
        names = ("inputs", "training", "mask")
    kwargs = dict(kwargs)
    cls = type(layer).__name__
    if inputs is _NO_INPUTS:
        if names[0] not in kwargs:
            raise TypeError(f"layer {layer.name!r} ({cls}) was called without "
                            f"inputs; expected them as the first argument or as {names[0]}=...")
        inputs = kwargs.pop(names[0])
    if len(args) > len(names) - 1 and var is None:
        raise TypeError(f"layer {layer.name!r} ({cls}): call() takes {len(names)} positional "
                        f"arguments; got {1 + len(args)} (its positional parameters: "
                        f"{list(names)})")
    for name, value in zip(names[1:], args):
        if name in kwargs:
            raise TypeError(f"layer {layer.name!r} ({cls}): got multiple values for argument "
                            f"{name!r}")
        kwargs[name] = value
    # As Keras, tensors beyond the named parameters go to call's *args, in order.
    for i, value in enumerate(args[len(names) - 1:]):
        kwargs[_traced.var_positional_key(var, i)] = value
    return inputs, kwargs


def unique_name(base):
    """Keras-style unique names: "dense", "dense_1", "dense_2", ..."""
    count = _name_counters.get(base, 0)
    _name_counters[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def reset_names():
    """Forget the name counters (``pn.utils.clear_session``)."""
    _name_counters.clear()


# ---------------------------------------------------------------------- Keras config form
# Keras 3 layer classes that are built in their __init__ (``self._build_at_init()`` or
# ``self.built = True``: stateless layers), so Keras records no input shape and writes no
# build_config for them. A portanet layer of one of these names writes none either; a new
# layer class may set ``_keras_build_config = False`` (or True) on itself instead.
KERAS_LAYERS_WITHOUT_BUILD_CONFIG = frozenset("""
    Activation ActivityRegularization AlphaDropout AveragePooling1D AveragePooling2D
    AveragePooling3D Dropout ELU GaussianDropout GaussianNoise GlobalAveragePooling1D
    GlobalAveragePooling2D GlobalAveragePooling3D GlobalMaxPooling1D GlobalMaxPooling2D
    GlobalMaxPooling3D Identity InputLayer LeakyReLU Masking MaxPooling1D MaxPooling2D MaxPooling3D
    ReLU Reshape Softmax SpatialDropout1D SpatialDropout2D SpatialDropout3D UnitNormalization
    """.split())


# The keyword arguments Keras records in a layer's inbound node when the layer is called on
# symbolic tensors with none given (Keras fills ``mask`` for a call that takes one and the
# call-context ``training`` where its default is not None). Measured with Keras 3.15.1 by
# tests/keras_reference/make_config_reference.py ("node_kwargs"); a class not listed records
# none. A new layer class may set ``_keras_node_kwargs = {...}`` on itself instead.
KERAS_NODE_KWARGS = {
    **{name: {"training": False} for name in (
        "AlphaDropout", "Dropout", "GaussianDropout", "GaussianNoise", "SpatialDropout1D",
        "SpatialDropout2D", "SpatialDropout3D")},
    **{name: {"training": True} for name in (
        "CenterCrop", "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "Resizing")},
    **{name: {"mask": None} for name in (
        "BatchNormalization", "Bidirectional", "GlobalAveragePooling1D", "Softmax", "TimeDistributed",
        "Functional", "Sequential")},
    **{name: {"mask": None, "training": False} for name in ("GRU", "LSTM", "RNN", "SimpleRNN")},
}


def keras_node_kwargs(layer):
    """The kwargs Keras records in ``layer``'s inbound node (see KERAS_NODE_KWARGS)."""
    own = getattr(type(layer), "_keras_node_kwargs", None)
    if own is None:
        own = KERAS_NODE_KWARGS.get(type(layer).__name__, {})
    return dict(own)


def check_no_quantization(owner, **values):
    """Keras's LoRA / quantization arguments (``lora_rank``, ``lora_alpha``,
    ``quantization_config``): accepted at their default None only."""
    for arg, value in values.items():
        if value is not None:
            raise ValueError(f"{owner}: {arg}={value!r}; LoRA and quantization are not supported "
                             "(use None)")


def _as_shape(shape):
    """A shape from a config: a list of dims becomes a tuple; a list of shapes a list of tuples."""
    if isinstance(shape, (list, tuple)) and shape and all(
            isinstance(s, (list, tuple)) or s is None for s in shape) and any(
            isinstance(s, (list, tuple)) for s in shape):
        return [tuple(s) if isinstance(s, (list, tuple)) else s for s in shape]
    return tuple(shape) if isinstance(shape, list) else shape


def _positional_parameters(method):
    """The names of ``method``'s parameters that can be given by position."""
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in inspect.signature(method).parameters.values() if p.kind in kinds]


def _plain_shape(shape):
    """Tuples to lists, recursively (a config holds JSON lists)."""
    if isinstance(shape, (tuple, list)):
        return [_plain_shape(s) for s in shape]
    if isinstance(shape, dict):
        return {k: _plain_shape(v) for k, v in shape.items()}
    return shape




_KERAS_WEIGHT_ARGS = ("shape", "initializer", "dtype", "trainable", "autocast", "regularizer",
                      "constraint", "aggregation", "name")
_PORTANET_WEIGHT_ARGS = ("name", "shape", "initializer", "regularizer", "constraint",
                         "trainable", "dtype")


def _weight_arguments(layer, args, kwargs):
    """add_weight's arguments in either form, checked: (name, shape, initializer, dtype,
    trainable, regularizer, constraint)."""
    owner = f"{layer.name}.add_weight"
    order = _PORTANET_WEIGHT_ARGS if args and isinstance(args[0], str) else _KERAS_WEIGHT_ARGS
    if len(args) > len(order):
        raise TypeError(f"{owner}: takes at most {len(order)} positional arguments; got {len(args)}")
    given = dict(zip(order, args))
    for key, value in kwargs.items():
        if key not in _KERAS_WEIGHT_ARGS:
            raise TypeError(f"{owner}: unexpected keyword argument {key!r}; expected one of "
                            f"{list(_KERAS_WEIGHT_ARGS)}")
        if key in given:
            raise TypeError(f"{owner}: got {key!r} both positionally and by keyword")
        given[key] = value
    shape = given.get("shape", ())
    if shape is None:
        shape = ()
    if isinstance(shape, int):
        shape = (shape,)
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise TypeError(f"{owner}: shape={given.get('shape')!r}; expected a tuple of "
                        "non-negative integers") from None
    if any(s < 0 for s in shape):
        raise ValueError(f"{owner}: shape={shape}; expected non-negative integers")
    name = given.get("name")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"{owner}: name={name!r}; expected a string")
    return (name, shape, given.get("initializer"), given.get("dtype"),
            bool(given.get("trainable", True)), given.get("regularizer"), given.get("constraint"),
            bool(given.get("autocast", True)))


def _option_catalogue(key):
    """The catalogue module a weight-option argument name belongs to, by its suffix."""
    for suffix, module in (("_initializer", _initializers), ("_regularizer", _regularizers),
                           ("_constraint", _constraints)):
        if key.endswith(suffix):
            return module
    raise TypeError(f"{key!r} is not a weight option (expected a name ending in _initializer, "
                    "_regularizer or _constraint)")


def _keras_variable_value(initializer, shape, dtype, name, backend):
    """(device value, name, backend) of ``keras.Variable(initializer, shape, dtype, name)``."""
    backend = backend or _backend.current()
    if name is None:
        name = unique_name("variable")
    if not isinstance(name, str) or "/" in name:
        raise ValueError(f"Variable: name={name!r}; expected a string without '/'")
    if isinstance(initializer, str) or (callable(initializer)
                                        and not hasattr(initializer, "shape")):
        if shape is None:
            raise ValueError(f"Variable: initializer={initializer!r} needs a shape; got shape=None "
                             "(pass shape=(...) or an initial value)")
        dims = (shape,) if isinstance(shape, int) else tuple(int(d) for d in shape)
        dtype = dtype or _config.floatx()
        init = _initializers.get(initializer)
        return backend.from_numpy(init(dims, dtype=dtype), dtype), name, backend
    if initializer is None:
        raise ValueError("Variable: initializer=None; expected an initial value (array, list, "
                         "number) or an initializer with a shape")
    value = backend.asarray(_tape.value_of(initializer))
    if dtype is None and backend.xp.isdtype(value.dtype, "real floating"):
        dtype = _config.floatx()
    if dtype is not None:
        value = backend.xp.astype(value, backend.dtype(dtype))
    if shape is not None:
        dims = (shape,) if isinstance(shape, int) else tuple(int(d) for d in shape)
        if tuple(value.shape) != dims:
            raise ValueError(f"Variable: the initial value has shape {tuple(value.shape)}; "
                             f"shape={dims} was given")
    return value, name, backend


class Variable(_tape.VariableLike):
    """A weight: its value (a backend array), its gradient and how it is trained.

    ``grad`` is None until a backward pass adds to it; the training step clears it.
    ``regularizer`` adds a penalty to the loss (and its gradient); ``constraint`` is
    applied by the optimizer after each update.

    Used in ``pn.ops`` (or with ``+ - * / @ ** []``...) a Variable is its value; inside a
    traced call (a layer's ``call()``, a ``GradientTape``) it is a leaf whose gradient is
    accumulated with ``add_grad``. Variables compare by identity (``==`` is not an op).
    """

    _ids = itertools.count()
    # Mixed precision (see _autocast_run): inside a mixed-policy layer's run, ``value`` is a
    # compute-dtype copy and ``_master`` the stored value; ``_autocast`` is add_weight's
    # ``autocast``. A weight once read in another dtype gets an instance ``add_grad`` that
    # casts its gradients back (_add_grad_cast). Class defaults: a float32 model never
    # touches them.
    _master = None
    _autocast = True

    def __init__(self, initializer=None, shape=None, dtype=None, trainable=True, autocast=True,
                 aggregation="none", synchronization="auto", name=None, regularizer=None,
                 constraint=None, backend=None):
        """Keras's ``keras.Variable(initializer, shape=None, dtype=None, trainable=True,
        autocast=True, aggregation="none", synchronization="auto", name=None)``: an
        initializer (name or object, ``shape`` required) or an initial value (array,
        list, number; a float value takes ``floatx`` unless ``dtype`` is given). Assigned
        to a layer attribute it becomes one of the layer's weights, as in Keras.
        portanet's own form ``Variable(device_array, name, ...)`` (layers' add_weight,
        metrics) is told by a string second argument."""
        if isinstance(shape, str):      # portanet's internal form: Variable(value, name, ...)
            value, name = initializer, shape
        else:
            value, name, backend = _keras_variable_value(initializer, shape, dtype, name,
                                                         backend)
            if aggregation not in (None, "none", "mean", "sum", "only_first_replica"):
                raise ValueError(f"Variable: aggregation={aggregation!r}; expected 'none', "
                                 "'mean', 'sum' or 'only_first_replica'")
            if synchronization not in (None, "none", "on_read", "on_write", "auto"):
                raise ValueError(f"Variable: synchronization={synchronization!r}; expected "
                                 "'none', 'on_read', 'on_write' or 'auto'")
            self.aggregation = aggregation or "none"
            self._autocast = bool(autocast)
            self._standalone = True   # not created by a layer: adopted when assigned to one
        self.value = value
        self.name = name
        self.path = name
        self.trainable = trainable
        self.regularizer = regularizer
        self.constraint = constraint
        self.backend = backend
        self.grad = None
        self._id = next(Variable._ids)

    @property
    def dtype(self):
        return (self.value if self._master is None else self._master).dtype

    def add_grad(self, g):
        """Accumulate a gradient (sums when the weight is used several times in a step).

        A weight read in a lower compute dtype (mixed precision) has this replaced by
        ``_add_grad_cast``, which first casts the gradient back to the weight's dtype."""
        if self.grad is None:
            self.grad = g
        else:
            self.grad = self.grad + g

    def assign(self, value):
        """Replace the value, keeping shape and dtype (host arrays are moved to the device).
        A traced value is assigned as a constant (no gradient flows through an assignment)."""
        if self._master is not None:
            # Assigned inside a mixed-precision scope: the stored value takes it (in the
            # stored dtype) and the scope's copy follows.
            master = Variable(self._master, self.name, backend=self.backend)
            master.assign(value)
            self._master = master.value
            self.value = self.backend.xp.astype(master.value, self.value.dtype)
            return
        value = self.backend.asarray(_tape.value_of(value), dtype=self.value.dtype)
        if value.ndim == 0 and self.shape != ():
            value = self.backend.xp.broadcast_to(value, self.shape)  # assign(0), as Keras
        if tuple(value.shape) != self.shape:
            raise ValueError(f"Variable {self.name!r}: cannot assign a value of shape "
                             f"{tuple(value.shape)}; expected {self.shape}")
        self._set(value)

    def assign_add(self, value):
        """``self.assign(self + value)``."""
        current = self.value if self._master is None else self._master
        self.assign(current + self.backend.asarray(_tape.value_of(value), dtype=current.dtype))

    def assign_sub(self, value):
        """``self.assign(self - value)``."""
        current = self.value if self._master is None else self._master
        self.assign(current - self.backend.asarray(_tape.value_of(value), dtype=current.dtype))

    def _set(self, value):
        # Optimizers that keep weights in a flat buffer replace this to write into the view.
        self.value = value

    def numpy(self):
        """A host NumPy copy of the value (the stored one, in its own dtype)."""
        return self.backend.to_numpy(self.value if self._master is None else self._master).copy()

    def __repr__(self):
        # Keras's form: <Variable path=dense/kernel, shape=(2, 3), dtype=float32, value=[...]>
        value = self.value if self._master is None else self._master
        return (f"<Variable path={self.path}, shape={self.shape}, "
                f"dtype={_dtype_policies.standardize_dtype(value.dtype)}, value={self.backend.to_numpy(value)}>")


# Masks of eager outputs, as Keras's backend.set_keras_mask: the array's ``_keras_mask``
# attribute where the array type takes attributes, else a table keyed by the array's id
# (ops/tape.py's, which the losses read too; the entry goes when the array does). The next
# eager layer call uses it as its mask.
def set_keras_mask(x, mask, backend=None):
    """Attach ``mask`` to the eager output ``x`` (a list: one mask per output); returns the
    output to hand back (``x``, or a view of it carrying ``_keras_mask``)."""
    if mask is None:
        return x
    if isinstance(x, (list, tuple)):
        masks = mask if isinstance(mask, (list, tuple)) else [mask] * len(x)
        return type(x)(set_keras_mask(a, m, backend) for a, m in zip(x, masks))
    if isinstance(mask, (list, tuple)):
        return x
    if isinstance(x, _tape.Tensor):
        _traced.attach_masks(x, mask)
        return x
    if backend is not None and not isinstance(x, _tape.VariableLike):
        carrier = backend.attach_keras_mask(x, mask)
        if carrier is not None:
            return carrier
    _tape.remember_keras_mask(x, mask)
    return x


def get_keras_mask(x):
    """The mask attached to ``x`` by an eager layer call (a list for a list), or None."""
    if isinstance(x, (list, tuple)):
        masks = [get_keras_mask(a) for a in x]
        return masks if any(m is not None for m in masks) else None
    return _tape.keras_mask_of(x)


def _finished_to_value(loss):
    if isinstance(loss, _tape.Tensor) and not any(loss.tape is t for t in _tape._stack):
        return loss.value
    return loss




class Layer:
    """Base class of every layer (and of models, which are layers too).

    Args:
        name: unique name; default is the snake_case class name with a counter.
        trainable: whether the layer's weights are updated by fit.
        dtype: the layer's dtype policy: a policy name ("float32", "float64",
            "mixed_float16", "mixed_bfloat16"), a ``pn.DTypePolicy`` or its config; default
            the global policy (``pn.config.dtype_policy()``, which follows
            ``pn.config.floatx()`` until set). ``layer.dtype`` is the variable dtype, as Keras.
        autocast: under a mixed policy, cast floating inputs and weights to the compute
            dtype inside the layer (Keras's ``autocast``).
        input_shape: (Keras 2 style) shape without the batch axis, for a first layer.
        activity_regularizer: penalty on the layer's output, added to the loss
            (divided by the batch size, as Keras).
    """

    # Names of __init__ arguments that hold sub-objects needing (de)serialization are
    # handled by each layer's get_config/from_config.
    supports_masking = False
    _is_layer_base = True     # marks Layer for layers.traced (which cannot import it)
    autocast = True
    # Set to the compute dtype's name when the policy is mixed (compute != variable dtype);
    # None keeps the float32 path untouched.
    _autocast_dtype = None
    # Keras's Layer.input_spec: an InputSpec (or a list, one per input) that __call__ checks.
    input_spec = None
    # Layers that Keras runs in float32 under a mixed policy (BatchNormalization: statistics
    # in float32, output cast to the compute dtype) set this True.
    _mixed_precision_float32 = False

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None,
                 batch_input_shape=None, input_dim=None, activity_regularizer=None,
                 autocast=True, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) "
                            f"{sorted(kwargs)}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}: name={name!r}; expected a string")
        self.name = name or unique_name(snake_case(type(self).__name__))
        self.trainable = bool(trainable)
        if autocast is not True:
            self.autocast = bool(autocast)
        self.dtype_policy = dtype
        self.built = False
        self.backend = None
        self._weights = []
        self._layers = []  # sub-layers whose weights this layer owns (wrappers, models)
        self._build_input_shape = None
        self._batch_input_shape = None
        if batch_input_shape is not None:
            self._batch_input_shape = tuple(batch_input_shape)
        elif input_shape is not None:
            self._batch_input_shape = (None,) + tuple(input_shape)
        elif input_dim is not None:
            self._batch_input_shape = (None, int(input_dim))
        self.activity_regularizer = _regularizers.get(activity_regularizer)
        self._inbound_nodes = []

    def __setattr__(self, name, value):
        # Remember public attributes that may hold sub-layers (a layer, or a list / tuple /
        # dict that may hold some, now or after appends): ``weights`` reads only these.
        object.__setattr__(self, name, value)
        if isinstance(value, Variable) and value.__dict__.get("_standalone"):
            # A keras.Variable assigned to a layer is one of its weights (Keras tracks it).
            value._standalone = False
            weights = self.__dict__.get("_weights")
            if weights is not None and not any(v is value for v in weights):
                weights.append(value)
        if isinstance(value, (Layer, list, tuple, dict)) and not name.startswith("_"):
            tracked = self.__dict__.get("_tracked_attributes")
            if tracked is None:
                tracked = {}
                object.__setattr__(self, "_tracked_attributes", tracked)
            tracked[name] = None

    # ------------------------------------------------------------------ dtype policy
    @property
    def dtype_policy(self):
        """The layer's ``DTypePolicy`` (``<DTypePolicy "mixed_float16">``...)."""
        return self._dtype_policy

    @dtype_policy.setter
    def dtype_policy(self, value):
        try:
            policy = _dtype_policies.get(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{type(self).__name__}: dtype={value!r} is not a dtype policy ({exc}); "
                             "expected a dtype name ('float32', 'float64'...), 'mixed_float16', "
                             "'mixed_bfloat16' or a pn.DTypePolicy") from None
        if isinstance(policy, _dtype_policies.DTypePolicyMap):
            effective = policy[self.name]
        else:
            effective = policy
        if effective.quantization_mode is not None:
            raise ValueError(f"{type(self).__name__}: dtype={effective!r} is a quantized policy "
                             f"(quantization_mode={effective.quantization_mode!r}); portanet has no "
                             "quantized kernels. Use a float policy ('float32', 'mixed_float16'...)")
        self._dtype_policy = policy
        self.dtype = effective.variable_dtype
        compute = effective.compute_dtype
        if compute != effective.variable_dtype:
            self._autocast_dtype = compute
            # Only layers under a mixed policy get the autocasting run (an instance attribute,
            # so every other layer keeps the plain Layer.run with no test on its path).
            self.run = types.MethodType(_autocast_run, self)
        else:
            self.__dict__.pop("_autocast_dtype", None)
            self.__dict__.pop("run", None)

    def _effective_policy(self):
        policy = self._dtype_policy
        if isinstance(policy, _dtype_policies.DTypePolicyMap):
            return policy[self.name]
        return policy

    @property
    def compute_dtype(self):
        """The dtype the layer computes in (its inputs are cast to it)."""
        return self._effective_policy().compute_dtype

    @property
    def variable_dtype(self):
        """The dtype of the layer's weights (= ``layer.dtype``)."""
        return self._effective_policy().variable_dtype

    @property
    def input_dtype(self):
        """The dtype floating inputs are converted to (the compute dtype, as Keras)."""
        return self.compute_dtype

    @property
    def quantization_mode(self):
        return self._effective_policy().quantization_mode

    # ------------------------------------------------------------------ backend
    @property
    def xp(self):
        return self.backend.xp

    # ------------------------------------------------------------------ weights
    def add_weight(self, *args, **kwargs):
        """Create a Variable drawn on the host by ``initializer`` and move it to the device.

        Keras form: ``add_weight(shape=None, initializer=None, dtype=None, trainable=True,
        autocast=True, regularizer=None, constraint=None, aggregation="none", name=None)``
        (``initializer`` default "glorot_uniform" for floats, "zeros" otherwise). The
        portanet form ``add_weight(name, shape, initializer, regularizer, constraint,
        trainable=True, dtype=None)`` (name first) is accepted too.
        """
        name, shape, initializer, dtype, trainable, regularizer, constraint, autocast = \
            _weight_arguments(self, args, kwargs)
        if self.backend is None:
            self.backend = _backend.current()
        dtype = dtype or self.dtype
        if initializer is None:
            initializer = "glorot_uniform" if "float" in str(dtype) else "zeros"
        init = _initializers.get(initializer)
        if name is None:
            name = f"variable_{len(self._weights)}" if self._weights else "variable"
        host = init(shape, dtype=dtype)
        value = self.backend.from_numpy(host, dtype)
        var = Variable(value, name, trainable=trainable and self.trainable,
                       regularizer=_regularizers.get(regularizer),
                       constraint=_constraints.get(constraint), backend=self.backend)
        var.path = f"{self.name}/{name}"
        var._own_trainable = trainable
        if not autocast or "float" not in str(dtype):
            var._autocast = False   # as Keras: a mixed policy casts float variables only
        self._weights.append(var)
        return var

    # Keras layers take <weight>_initializer / _regularizer / _constraint arguments: resolve
    # and serialize them by their suffix, in one place for every layer.
    def _set_weight_options(self, **options):
        """``self.<key> = <catalogue>.get(value)`` for each option named
        ``<weight>_initializer``, ``<weight>_regularizer`` or ``<weight>_constraint``."""
        for key, value in options.items():
            setattr(self, key, _option_catalogue(key).get(value))

    def _weight_options_config(self, *keys):
        """The serialized form of those options, for ``get_config``."""
        return {key: _option_catalogue(key).serialize(getattr(self, key)) for key in keys}

    @property
    def weights(self):
        """All Variables in Keras order: this layer's own, then each sub-layer's (those in
        ``_layers`` and, for ``call()`` layers, those assigned to attributes, lists or dicts)."""
        out = list(self._weights)
        seen = {id(v) for v in out}
        for layer in _traced.sublayers(self):
            for v in layer.weights:
                if id(v) not in seen:
                    seen.add(id(v))
                    out.append(v)
        return out

    @property
    def trainable_weights(self):
        return [v for v in self.weights if v.trainable] if self.trainable else []

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return [v for v in self.weights if not v.trainable]

    # Keras 3's *_variables names. Keras's also list the random-seed state of layers such as
    # Dropout (SeedGenerator variables); portanet's random state is the backend's seeded
    # stream, not a Variable, so they are the weights lists.
    @property
    def variables(self):
        """All the layer's Variables (Keras's ``layer.variables``): ``self.weights``."""
        return self.weights

    @property
    def trainable_variables(self):
        """Keras's ``layer.trainable_variables``: ``self.trainable_weights``."""
        return self.trainable_weights

    @property
    def non_trainable_variables(self):
        """Keras's ``layer.non_trainable_variables``: ``self.non_trainable_weights``."""
        return self.non_trainable_weights

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for v in getattr(self, "_weights", ()):
            v.trainable = self._trainable and getattr(v, "_own_trainable", True)
        if "_weights" in self.__dict__:
            for layer in _traced.sublayers(self):
                layer.trainable = value

    # ------------------------------------------------------------------ Keras's saving hooks
    def _own_saved_variables(self):
        own = list(self.__dict__.get("_weights", ()))
        trainable = [v for v in own if getattr(v, "_own_trainable", True)]
        return trainable + [v for v in own if not getattr(v, "_own_trainable", True)]

    def save_own_variables(self, store):
        """Keras's hook: ``store["0"], store["1"], ...`` = this layer's own variables
        (trainable first). ``model.save`` calls a subclass's override (``.keras`` files)."""
        for i, v in enumerate(self._own_saved_variables()):
            store[str(i)] = v.numpy()

    def load_own_variables(self, store):
        """Keras's hook: assign ``store["0"], store["1"], ...`` to this layer's own
        variables; the count must match."""
        own = self._own_saved_variables()
        if len(store) != len(own):
            raise ValueError(f"Layer {self.name!r} expected {len(own)} variables, but received "
                             f"{len(store)} variables during loading. Expected: "
                             f"{[v.name for v in own]}")
        for i, v in enumerate(own):
            v.assign(store[str(i)])

    def get_weights(self):
        """Host NumPy copies of the weights, in Keras order."""
        return [v.numpy() for v in self.weights]

    def set_weights(self, weights):
        """Set weights from a list of arrays, in Keras order; checks count and shapes first."""
        params = self.weights
        weights = list(weights)
        if len(weights) != len(params):
            raise ValueError(f"{self.name}.set_weights: got {len(weights)} arrays; expected "
                             f"{len(params)} ({', '.join(v.name for v in params)})")
        for v, w in zip(params, weights):
            if tuple(w.shape) != v.shape:
                raise ValueError(f"{self.name}.set_weights: weight {v.path!r} has shape {v.shape}; "
                                 f"got an array of shape {tuple(w.shape)}")
        for v, w in zip(params, weights):
            v.assign(w)

    def count_params(self):
        total = 0
        for v in self.weights:
            n = 1
            for s in v.shape:
                n *= s
            total += n
        return total

    # ------------------------------------------------------------------ building
    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape`` (batch axis included, as None)."""
        self.built = True

    def _maybe_build(self, input_shape):
        if not self.built:
            if self.backend is None:
                self.backend = _backend.current()
            no_shape = _traced.uses_call(self) and _traced.inputs_are_var_positional(self)
            if no_shape:
                # As Keras: the tensors of call(self, *args) have no named shape, so build
                # gets None (a build(self, *shapes) gets nothing).
                input_shape = None
            self._build_input_shape = input_shape
            if self._autocast_dtype is not None:
                _check_compute_dtype(self)
            if no_shape and not _positional_parameters(self.build):
                self.build()
            else:
                self.build(input_shape)
            self.built = True

    def compute_output_shape(self, input_shape):
        """Output shape for an input shape (batch axis included). Built-in layers without
        their own keep the shape; a ``call()`` layer runs ``call`` on a probe input (as
        Keras's compute_output_spec) and an error names the layer when that fails."""
        if _traced.uses_call(self):
            return _traced.infer_output_shape(self, input_shape)
        return input_shape

    def _symbolic_output_shape(self, input_shape, call_args, node_kwargs):
        """The output shape of a call on symbolic tensors (``symbolic.call_symbolic``).
        ``call_args``: a ``call()`` layer's arguments besides its inputs (an endpoint layer's
        targets): its call is probed with them too, unless its class has its own
        ``compute_output_shape``; ``node_kwargs``: a built-in layer's ``_node_call_kwargs``."""
        if call_args and not symbolic._own_output_shape(self):
            return _traced.infer_output_shape(self, input_shape, call_args)
        return self.compute_output_shape(input_shape, **node_kwargs)

    def _uses_call(self):
        """Whether the layer is written with ``call()`` (see ``traced.uses_call``)."""
        return _traced.uses_call(self)

    def compute_mask(self, inputs, mask=None):
        """The mask passed on to the next layer (default: kept if the layer supports masking)."""
        return mask if self.supports_masking else None

    # ------------------------------------------------------------------ running
    def forward(self, inputs, *args, training=False, mask=None):
        """Return ``(outputs, backward)``; ``backward(d_outputs) -> d_inputs``.

        Built-in layers write it by hand. A layer that defines ``call()`` instead gets this
        generated one: ``call`` runs on traced tensors and ``backward`` walks the tape
        (extra positional arguments are a recurrent cell's states, see ``layers.traced``).
        """
        if not _traced.uses_call(self):
            raise NotImplementedError(f"{type(self).__name__} defines neither call() nor forward()")
        return _traced.traced_forward(self, inputs, args, training=training, mask=mask)

    # ------------------------------------------------------------------ Keras API for subclasses
    def add_loss(self, loss):
        """Add a scalar loss term (a tensor computed with pn.ops in ``call``); ``fit`` adds
        the losses of each call to the objective. ``losses`` lists those of the last call."""
        if not hasattr(self, "_losses"):
            self._losses = []
        self._losses.append(loss)

    @property
    def losses(self):
        """As Keras 3: the losses added (``add_loss``, activity penalties) during the last
        call, this layer's and its sub-layers', then the regularization penalties of the
        trainable weights (``kernel_regularizer=...``), differentiable inside a tape. A loss
        traced by a call that has finished (an eager ``layer(x)``) is its value, an array."""
        return [_finished_to_value(loss) for loss in _traced.collect_losses(self)] + [
            _traced.regularization_term(v) for v in self.trainable_weights
            if v.regularizer is not None]

    def _forward_takes_mask(self):
        cached = getattr(type(self), "_takes_mask_cache", None)
        if cached is None or cached[0] is not type(self):
            takes = "mask" in inspect.signature(self.forward).parameters
            type(self)._takes_mask_cache = (type(self), takes)
            return takes
        return cached[1]

    def run(self, inputs, training=False, mask=None, **call_kwargs):
        """Forward with the bookkeeping a graph needs: ``(outputs, backward, out_mask, extra_loss)``.

        ``extra_loss`` is the activity-regularization penalty (a scalar array) or None;
        ``backward`` then includes the penalty's gradient. ``call_kwargs`` are the call
        arguments a graph node recorded besides its inputs: a built-in layer's
        (its ``_node_call_kwargs``, e.g. ReversibleEmbedding's ``reverse=True``) go to
        ``forward`` and ``compute_mask``; a ``call()`` layer's (``targets=...``) go to its
        ``call``, and ``backward`` then returns ``(d_inputs, {name: d_argument})`` (see
        ``traced_forward``).
        """
        if self.backend is None:  # built by a direct build() call that made no weight
            self.backend = _backend.current()
        if call_kwargs and _traced.uses_call(self):
            y, backward = _traced.traced_forward(self, inputs, (), training=training, mask=mask,
                                                 kwargs=call_kwargs, grad_kwargs=True)
            call_kwargs = {}
        elif self._forward_takes_mask():
            y, backward = self.forward(inputs, training=training, mask=mask, **call_kwargs)
        else:
            y, backward = self.forward(inputs, training=training, **call_kwargs)
        out_mask = self.compute_mask(inputs, mask, **call_kwargs)
        carried = self.__dict__.get("_call_output_masks")
        if carried is not None:
            # A call() layer's outputs carry the masks the layers it called gave them: they
            # win over compute_mask, as in Keras (_set_mask_metadata keeps a computed mask).
            self._call_output_masks = None
            out_mask = carried if isinstance(y, (list, tuple)) else carried[0]
        extra = None
        call_extra = self.__dict__.get("_call_extra")
        if call_extra is not None:
            # add_loss terms of a call() layer: their gradient is already in backward.
            extra = call_extra
            self._call_extra = None
        if self.activity_regularizer is not None:
            reg = self.activity_regularizer
            batch = y.shape[0]
            penalty = reg(y) / batch
            extra = penalty if extra is None else extra + penalty
            inner = backward

            def backward(dy):
                g = reg.grad(y) / batch
                scale = _dtype_policies._LOSS_SCALE  # a loss-scaled step (mixed precision)
                if scale is not None:
                    g = g * scale
                return inner(dy + g)
        return y, backward, out_mask, extra

    def __call__(self, inputs=_NO_INPUTS, *args, **kwargs):
        """Apply the layer: on symbolic tensors it records a node (functional API);
        on arrays it builds the layer if needed and returns the output. The inputs are
        first checked against ``self.input_spec``, when the layer has one (as Keras).

        As Keras, arguments after ``inputs`` bind to ``call()``'s parameters in order
        (``endpoint(logits, targets, sample_weight)``; only tensors may be given by
        position), ``inputs`` may be given by the name of call's first parameter
        (``endpoint(logits=...)``); a built-in layer takes ``(inputs, training, mask)``.
        Tensors bound to call's other parameters are inputs of a functional node (with
        gradients), see ``run``."""
        given = kwargs
        if args or inputs is _NO_INPUTS:
            inputs, kwargs = _bind_call_arguments(self, inputs, args, kwargs)
        training = kwargs.pop("training", False)
        mask = kwargs.pop("mask", None)
        if self.input_spec is not None:
            _input_spec.assert_input_compatibility(self.input_spec, self._spec_inputs(inputs),
                                                   self.name)
        if symbolic.is_symbolic(inputs):
            out = symbolic.call_symbolic(self, inputs, training=training, mask=mask, **kwargs)
            if args and kwargs:
                # The node's config lists positional tensors in "args", as Keras writes it.
                self._inbound_nodes[-1].positional = tuple(k for k in kwargs if k not in given)
            return out
        tape = _tape.current_tape()
        if tape is not None:
            previous_mask = mask if mask is not None else _traced.traced_mask(inputs)
            out = _traced.call_in_trace(self, inputs, tape, training=training,
                                        mask=previous_mask, kwargs=kwargs)
            if _traced.uses_call(self) and (
                    self.supports_masking or type(self).compute_mask is not Layer.compute_mask):
                # Keras's _set_mask_metadata: outputs without a mask get compute_mask's.
                _traced.attach_masks(out, self.compute_mask(inputs, previous_mask))
            return out
        if mask is None:
            mask = get_keras_mask(inputs)    # the mask an earlier eager call attached
        if kwargs and _traced.uses_call(self):
            # Host arrays go to the device first, as on the path below (CuPy takes no NumPy
            # operand), the tensors bound to call's other parameters too.
            backend = self.backend or _backend.current()
            inputs = self._eager_to_device(backend, inputs)
            kwargs = {k: self._eager_to_device(backend, v) for k, v in kwargs.items()}
            self._maybe_build(_traced._shapes(_traced._values(inputs)))
            y = _traced.traced_forward(self, inputs, training=training, mask=mask,
                                       kwargs=kwargs)[0]
            y = set_keras_mask(y, self.compute_mask(inputs, mask), self.backend)
            return _traced.eager_outputs(self, y)
        if kwargs:
            raise TypeError(f"{self.name}: unexpected keyword argument(s) {sorted(kwargs)}")
        backend = self.backend or _backend.current()
        if isinstance(inputs, (list, tuple)):
            arrays = [backend.asarray(a, dtype=self._input_dtype(a)) for a in inputs]
            self._maybe_build([tuple(a.shape) for a in arrays])
        else:
            arrays = backend.asarray(inputs, dtype=self._input_dtype(inputs))
            self._maybe_build(tuple(arrays.shape))
        y, _, out_mask, _ = self.run(arrays, training=training, mask=mask)
        y = set_keras_mask(y, out_mask, backend)
        return _traced.eager_outputs(self, y) if _traced.uses_call(self) else y

    def _eager_to_device(self, backend, value):
        """A host array (or a list/tuple of them) as an array of ``backend``; anything else
        (device arrays, Variables, numbers, strings, dicts, None) as it is."""
        if isinstance(value, (list, tuple)):
            return type(value)(self._eager_to_device(backend, v) for v in value)
        if (value is None or isinstance(value, (str, bytes, dict, Variable))
                or not hasattr(value, "shape") or not hasattr(value, "dtype")
                or backend.is_array(value)):
            return value
        return backend.asarray(value, dtype=self._input_dtype(value))

    def _spec_inputs(self, inputs):
        """What ``input_spec`` describes: the inputs (a recurrent layer: its sequences)."""
        return inputs

    def _input_dtype(self, a):
        kind = getattr(getattr(a, "dtype", None), "kind", None)
        if kind is None:
            text = str(getattr(a, "dtype", ""))
            return self.dtype if "float" in text else None
        return self.dtype if kind == "f" else None

    # ------------------------------------------------------------------ symbolic history
    def _first_node(self, what):
        if not self._inbound_nodes:
            raise ValueError(f"The layer {self.name} has never been called and thus has no "
                             f"defined {what}.")
        return self._inbound_nodes[0]

    @property
    def input(self):
        """The symbolic input of the layer's first call on symbolic tensors (as Keras:
        a functional model's or an Input-started Sequential's layers have one)."""
        return self._first_node("input").inputs

    @property
    def output(self):
        """The symbolic output of the layer's first call on symbolic tensors (a list for
        several outputs); ``pn.Model(inputs=m.inputs, outputs=layer.output)`` extracts it."""
        outputs = self._first_node("output").outputs
        return outputs[0] if len(outputs) == 1 else list(outputs)

    # ------------------------------------------------------------------ config
    def get_config(self):
        """Keras 3's base config: ``name``, ``trainable``, ``dtype`` (the DTypePolicy dict)
        and ``activity_regularizer`` when one is set. Subclasses add their arguments with
        ``config.update(...)``; nested objects go in serialized (``_weight_options_config``,
        ``layers.serialize``), as Keras writes them."""
        config = {"name": self.name, "trainable": self.trainable,
                  "dtype": _dtype_policies.serialize(self.dtype_policy)}
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = _regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def _keras_config_always(self, config, *keys):
        """Write Keras's keys that some Keras layers write even at their default None:
        ``"activity_regularizer"`` (serialized) and ``"quantization_config"`` (always None:
        portanet does not quantize)."""
        for key in keys:
            if key == "activity_regularizer":
                config[key] = _regularizers.serialize(self.activity_regularizer)
            elif key == "quantization_config":
                config[key] = None
            else:
                raise ValueError(f"_keras_config_always: unknown key {key!r}")
        return config

    def get_build_config(self):
        """Keras's build config: ``{"input_shape": shape}`` for a built layer (None when not
        built, or when Keras's class is built at construction, as Keras). Layers whose Keras ``build`` takes several
        named shapes override this to return ``{"shapes_dict": {...}}``."""
        if self.built and _traced.uses_call(self) and _traced.inputs_are_var_positional(self):
            return {"shapes_dict": {}}     # call(self, *args): no named shape, as Keras
        if not self.built or self._build_input_shape is None:
            return None
        writes = getattr(type(self), "_keras_build_config", None)
        if writes is None:
            writes = type(self).__name__ not in KERAS_LAYERS_WITHOUT_BUILD_CONFIG
        if not writes:
            return None
        return {"input_shape": _plain_shape(self._build_input_shape)}

    def build_from_config(self, config):
        """Build from ``get_build_config()``'s dict (Keras's ``input_shape`` or
        ``shapes_dict`` form); nothing to do for None or a layer already built."""
        if not config or self.built:
            return
        if "input_shape" in config:
            shape = config["input_shape"]
        elif isinstance(config.get("shapes_dict"), dict):
            shapes = list(config["shapes_dict"].values())
            if not shapes:      # Keras's build(**{}): a call(self, *args) layer (see _maybe_build)
                self._maybe_build(None)
                return
            shape = shapes[0] if len(shapes) == 1 else shapes
        else:
            return
        if shape is None:
            return
        self._maybe_build(_as_shape(shape))

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"  # Keras's form



# ---------------------------------------------------------------------------- mixed precision
# Keras's autocast (keras/src/layers/layer.py __call__, backend/common/variables.py
# AutocastScope), for layers whose policy is mixed (compute dtype != variable dtype). Their
# ``run`` is ``_autocast_run``: floating inputs are cast to the compute dtype, the weights
# read inside the forward (and captured by its backward closure) are compute-dtype copies of
# the stored float32 values, the outputs are in the compute dtype, and the backward casts the
# output gradient to the dtype the forward computed in and the input gradient back to the
# input's dtype; weight gradients go back to float32 in Variable.add_grad. Layers of the
# default policy never come here.

def _check_compute_dtype(layer):
    """A mixed policy needs its compute dtype on the layer's backend: raise before building."""
    backend = layer.backend or _backend.current()
    compute = layer._autocast_dtype
    try:
        backend.dtype(compute)
    except ValueError:
        raise ValueError(f"{layer.name}: dtype policy {layer.dtype_policy.name!r} computes in "
                         f"{compute}, which backend {backend.name!r} does not have; use a float "
                         "policy ('float32') on this backend, or a backend with "
                         f"{compute}") from None


def _map_floats(tree, fn):
    """``fn`` applied to each floating array of an array, a list/tuple of them (None kept)."""
    if tree is None:
        return None
    if isinstance(tree, (list, tuple)):
        return type(tree)(_map_floats(t, fn) for t in tree)
    return fn(tree)


def _dtypes_of(tree):
    if tree is None:
        return None
    if isinstance(tree, (list, tuple)):
        return [_dtypes_of(t) for t in tree]
    return getattr(tree, "dtype", None)


def _cast_to_dtypes(tree, dtypes, xp):
    """Cast each floating array of ``tree`` to the matching dtype of ``dtypes``."""
    if tree is None or dtypes is None:
        return tree
    if isinstance(tree, (list, tuple)) and isinstance(dtypes, list):
        return type(tree)(_cast_to_dtypes(t, d, xp) for t, d in zip(tree, dtypes))
    dtype = getattr(tree, "dtype", None)
    if dtype is None or dtype == dtypes or not _is_floating(xp, dtype) or not _is_floating(xp, dtypes):
        return tree
    return xp.astype(tree, dtypes)


def _is_floating(xp, dtype):
    try:
        return xp.isdtype(dtype, "real floating")
    except (TypeError, ValueError):
        return False


def _scope_variables(layer, out=None, seen=None):
    """The weights read in the compute dtype during ``layer``'s run: its own (when its
    policy is mixed and it autocasts) and its sub-layers', by the same rule."""
    if out is None:
        out, seen = [], set()
    if (layer._autocast_dtype is not None and layer.autocast
            and not layer._mixed_precision_float32):
        for v in layer._weights:
            if v._autocast and id(v) not in seen:
                seen.add(id(v))
                out.append(v)
    for sub in _traced.sublayers(layer):
        _scope_variables(sub, out, seen)
    return out


def _add_grad_cast(variable, g):
    """``Variable.add_grad`` of a weight read in a lower compute dtype: the gradient is cast
    back to the weight's own dtype (float32) before it accumulates."""
    dtype = variable.dtype
    if g.dtype != dtype:
        g = variable.backend.xp.astype(g, dtype)
    Variable.add_grad(variable, g)


def _enter_scope(variables, dtype, xp):
    """Give each variable a ``dtype`` copy of its stored value; returns what _exit_scope
    needs. A variable already read in ``dtype`` (an outer scope's) is left as it is."""
    saved = []
    for v in variables:
        master = v.value if v._master is None else v._master
        if v.value.dtype == dtype or not _is_floating(xp, master.dtype):
            continue
        saved.append((v, v.value, v._master, master))
        v._master = master
        v.value = xp.astype(master, dtype)
        if "add_grad" not in v.__dict__:
            v.add_grad = types.MethodType(_add_grad_cast, v)
    return saved


def _exit_scope(saved, xp):
    """Undo _enter_scope, keeping any value assigned meanwhile (Variable.assign)."""
    for v, old_value, old_master, master_at_entry in reversed(saved):
        current = v._master
        if current is master_at_entry:
            v.value, v._master = old_value, old_master
        elif old_master is None:
            v.value, v._master = current, None
        else:
            v._master = current
            v.value = xp.astype(current, old_value.dtype)


def _autocast_run(layer, inputs, training=False, mask=None, **call_kwargs):
    """``Layer.run`` of a layer under a mixed dtype policy (see above)."""
    backend = layer.backend
    xp = backend.xp
    compute = backend.dtype(layer._autocast_dtype)
    if not layer.autocast:
        in_dtype = None
    elif layer._mixed_precision_float32:
        in_dtype = backend.dtype(layer.dtype)
    else:
        in_dtype = compute
    input_dtypes = _dtypes_of(inputs)
    if in_dtype is not None:
        inputs = _map_floats(inputs, lambda a: xp.astype(a, in_dtype)
                             if a.dtype != in_dtype and _is_floating(xp, a.dtype) else a)
    saved = _enter_scope(_scope_variables(layer), compute, xp) if in_dtype is compute else ()
    try:
        y, backward, out_mask, extra = Layer.run(layer, inputs, training=training, mask=mask,
                                                 **call_kwargs)
    finally:
        if saved:
            _exit_scope(saved, xp)
    if not layer.autocast:
        return y, backward, out_mask, extra
    inner_dtypes = _dtypes_of(y)
    y = _map_floats(y, lambda a: xp.astype(a, compute)
                    if a.dtype != compute and _is_floating(xp, a.dtype) else a)
    inner = backward

    def backward(dy):
        dx = inner(_cast_to_dtypes(dy, inner_dtypes, xp))
        return _cast_to_dtypes(dx, input_dtypes, xp)
    return y, backward, out_mask, extra
