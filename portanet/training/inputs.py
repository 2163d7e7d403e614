"""Turning what the user passes to fit/evaluate/predict into validated device arrays.

``InputPreparation`` is a mixin of ``Trainer``: it reads the model's graph description
(``input_shapes``, ``input_names``, ``output_names``, ``compute_output_shape``, ``build``)
and the compiled losses, and uses the data adapter's checks. Everything here runs once per
call, before any state changes, never per step.
"""

from .. import backend as _backend
from . import data_adapter as _data


def rank_adjustment(shape, ref_shape):
    """Keras's ``Functional._adjust_input_rank`` rule for one input of ``shape`` fed to a
    model input of ``ref_shape`` (both batch first): 0 when the ranks are equal, -1 when
    the input has one more axis and its last is 1 (it is squeezed), +1 when it has one
    axis fewer and the model's last dimension is 1 (an axis is appended: a column of shape
    (N,) for an ``Input((1,))``), None when no rule applies."""
    rank, ref = len(shape), len(ref_shape)
    if rank == ref:
        return 0
    if rank == ref + 1 and shape[-1] == 1:
        return -1
    if rank == ref - 1 and ref_shape[-1] == 1:
        return 1
    return None


def adjusted_shape(shape, change):
    shape = tuple(shape)
    return shape + (1,) if change == 1 else shape[:-1] if change == -1 else shape


class InputPreparation:
    """Input, target and sample-weight preparation shared by fit/evaluate/predict/*_on_batch."""

    # Functional and Sequential models adjust an input's rank by one as Keras's do
    # (rank_adjustment); a subclassed model takes its inputs as they come.
    _adjusts_input_rank = False

    def _adjust_input_ranks(self, xs):
        """``(xs, restore)``: the inputs with Keras's rank adjustment applied, and a function
        giving the input gradients back in the shapes the inputs came in."""
        refs = self.input_shapes
        changes = []
        for i, (x, ref) in enumerate(zip(xs, refs)):
            if x is None:
                changes.append(0)
                continue
            change = rank_adjustment(x.shape, ref)
            if change is None:
                names = self.input_names
                raise ValueError(f"Invalid input shape for input {i} ({names[i]!r}) of model "
                                 f"{self.name!r}: expected shape {tuple(ref)}, but the input has "
                                 f"incompatible shape {tuple(x.shape)}")
            changes.append(change)
        if not any(changes):
            return xs, None
        backend = self.backend
        xp = backend.xp
        shapes = [None if x is None else tuple(x.shape) for x in xs]

        def adjust(x, change):
            if not change:
                return x
            shape = adjusted_shape(x.shape, change)
            # Host arrays (the strings of text inputs) keep their own reshape.
            return xp.reshape(x, shape) if backend.is_array(x) else x.reshape(shape)
        xs = [adjust(x, c) for x, c in zip(xs, changes)]

        def restore(grads):
            return [g if g is None or not c else xp.reshape(g, shape)
                    for g, c, shape in zip(grads, changes, shapes)]
        return xs, restore

    def _standardize_inputs(self, x, name="x"):
        if isinstance(x, dict):
            keys = self._dict_input_keys(x)
            if keys is not None:
                # A subclassed model takes the dict itself in call(): its arrays go in the
                # order of its keys, and its forward rebuilds the dict.
                missing = [k for k in keys if k not in x]
                if missing:
                    raise ValueError(f"{name}: missing input(s) {missing}; the model was first "
                                     f"given the keys {list(keys)}")
                return [x[k] for k in keys]
            names = self.input_names
            missing = [n for n in names if n not in x]
            if missing:
                raise ValueError(f"{name}: missing input(s) {missing}; the model's inputs are {names}")
            return [x[n] for n in names]
        return _data.as_list(x)

    def _dict_input_keys(self, x):
        """The keys a subclassed model's dict input is read in (its first dict's, sorted,
        as Keras flattens a dict), or None for a Sequential / functional model."""
        subclassed = getattr(self, "_subclassed", None)
        if subclassed is None or not subclassed():
            return None
        keys = self.__dict__.get("_call_input_keys")
        if keys is None:
            if self.built:
                return None       # built on a list or an array: keep the model's inputs
            keys = self._call_input_keys = tuple(sorted(x))
        return keys

    def _standardize_targets(self, y, name="y"):
        if isinstance(y, dict):
            names = self.output_names
            missing = [n for n in names if n not in y]
            if missing:
                raise ValueError(f"{name}: missing target(s) for output(s) {missing}; outputs are {names}")
            return [y[n] for n in names]
        if self._num_outputs() == 1:
            return [y] if not isinstance(y, (list, tuple)) or len(y) != 1 else list(y)
        ys = _data.as_list(y)
        if len(ys) != self._num_outputs():
            raise ValueError(f"{name}: got {len(ys)} target arrays; the model has "
                             f"{self._num_outputs()} outputs {self.output_names}")
        return ys

    def _standardize_xy(self, x, y):
        """Lists of inputs and targets and their common sample count (checked)."""
        xs_raw, ys_raw = self._standardize_inputs(x), self._standardize_targets(y)
        n = _data.check_lengths(
            [(f"x[{i}]" if len(xs_raw) > 1 else "x", a) for i, a in enumerate(xs_raw)]
            + [(f"y[{i}]" if len(ys_raw) > 1 else "y", a) for i, a in enumerate(ys_raw) if a is not None])
        return xs_raw, ys_raw, n

    def _prepare_inputs(self, x, name="x", stream=False):
        """Validate and move inputs to the device; builds the model on first data.

        ``stream="auto"`` (fit, evaluate, predict) leaves host inputs on the host when they
        exceed ``data_adapter.device_data_limit()``; batches are then copied one by one."""
        xs = self._standardize_inputs(x, name)
        if not xs:
            raise ValueError(f"{name}: no input data given")
        backend = self.backend or _backend.current()
        shapes = [_data.host_or_device_shape(a) if hasattr(a, "shape") else None for a in xs]
        if any(s is None for s in shapes):
            xs = [a if hasattr(a, "shape") else _data.as_host_array(a) for a in xs]
            shapes = [_data.host_or_device_shape(a) for a in xs]
        if not self.built:
            self.backend = backend
            batch_shapes = [(None,) + tuple(s[1:]) for s in shapes]
            self._maybe_build(batch_shapes[0] if len(batch_shapes) == 1 else batch_shapes)
        self.backend.activate()  # CuPy: kernels run on the current GPU, so make it ours
        self._check_input_shapes(shapes, name)
        if stream == "auto":
            stream = _data.should_stream(self.backend, xs)
        dev = []
        for i, a in enumerate(xs):
            label = name if len(xs) == 1 else f"{name}[{i}]"
            _data.check_text_input(self, a, label)
            _data.check_finite(self.backend, a, label)
            dev.append(_data.to_device(self.backend, a, label, self.dtype, keep_host=stream))
        return dev

    def _check_input_shapes(self, shapes, name):
        expected = self.input_shapes
        if len(shapes) != len(expected):
            raise ValueError(f"{name}: the model takes {len(expected)} input(s); got {len(shapes)}")
        for i, (got, exp) in enumerate(zip(shapes, expected)):
            label = name if len(shapes) == 1 else f"{name}[{i}]"
            if self._adjusts_input_rank and rank_adjustment(got, exp):
                got = adjusted_shape(got, rank_adjustment(got, exp))
            if len(got) != len(exp):
                raise ValueError(f"{label}: input of shape {tuple(got)} does not match the model's "
                                 f"input shape {tuple(exp)}: rank {len(got)}, expected rank "
                                 f"{len(exp)} (one axis more or less only when that axis has size 1)")
            if any(e is not None and g != e for g, e in zip(got[1:], exp[1:])):
                raise ValueError(f"{label}: input of shape {tuple(got)} does not match the model's "
                                 f"input shape {tuple(exp)} (None is any size): the model was built "
                                 f"for {exp[-1]} features per sample; got {got[-1] if got else None}")

    def _prepare_targets(self, y, outs_shapes, name="y"):
        ys = self._standardize_targets(y, name)
        losses = self._compiled_outputs.losses
        dev = []
        for i, a in enumerate(ys):
            label = name if len(ys) == 1 else f"{name}[{self.output_names[i]}]"
            if a is None:
                dev.append(None)
                continue
            if not hasattr(a, "shape"):
                a = _data.as_host_array(a)
            _data.check_finite(self.backend, a, label)
            if losses[i] is not None:
                _data.check_targets(self.backend, a, losses[i], outs_shapes[i], label)
            dev.append(_data.to_device(self.backend, a, label, self.dtype))
        return dev

    def _output_shapes(self):
        shape = self.compute_output_shape(self.input_shapes[0] if len(self.input_shapes) == 1
                                          else list(self.input_shapes))
        return shape if isinstance(shape, list) else [shape]

    def _sample_weights(self, sample_weight, class_weight, ys, n):
        """Per-output device sample weights (None where none) from sample_weight or class_weight."""
        if sample_weight is not None and class_weight is not None:
            raise ValueError("fit: give sample_weight or class_weight, not both (as Keras)")
        if sample_weight is not None:
            sws = sample_weight if isinstance(sample_weight, (list, tuple)) else [sample_weight] * len(ys)
            out = []
            for w in sws:
                if w is None:
                    out.append(None)
                    continue
                shape = _data.host_or_device_shape(w if hasattr(w, "shape") else _data.as_host_array(w))
                if shape[0] != n:
                    raise ValueError(f"sample_weight: has {shape[0]} entries; expected one per sample ({n})")
                out.append(_data.to_device(self.backend, w, "sample_weight", self.dtype))
            return out
        if class_weight is not None:
            return [self._class_weights(class_weight, ys)]
        return [None] * len(ys)

    def _class_weights(self, class_weight, ys):
        """class_weight {class: weight} -> one weight per sample (classes not listed: 1)."""
        if len(ys) != 1:
            raise ValueError("class_weight: only supported for single-output models (as Keras)")
        if not isinstance(class_weight, dict):
            raise TypeError(f"class_weight: expected a dict {{class: weight}}; got {type(class_weight).__name__}")
        xp = self.backend.xp
        y = ys[0]
        if y.ndim > 1 and y.shape[-1] > 1:
            cls = xp.argmax(y, axis=-1)
        else:
            flat = xp.reshape(y, (y.shape[0],))
            cls = xp.astype(xp.round(flat), xp.int64) if xp.isdtype(flat.dtype, "real floating") else flat
        size = max(int(k) for k in class_weight) + 1
        table = [1.0] * size
        for k, v in class_weight.items():
            if int(k) < 0:
                raise ValueError(f"class_weight: class {k!r} is negative")
            table[int(k)] = float(v)
        table_arr = self.backend.from_numpy(_data.as_host_array(table), self.dtype)
        safe = xp.clip(cls, 0, size - 1)
        in_table = xp.astype(cls < size, table_arr.dtype)
        return xp.take(table_arr, xp.astype(safe, xp.int64), axis=0) * in_table + (1.0 - in_table)
