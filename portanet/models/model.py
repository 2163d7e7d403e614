"""``Model``: compile, fit, evaluate, predict and the training step (keras/src/trainers).

A concrete model (Sequential, Functional) implements ``_forward_graph(xs, training)``
returning ``(outputs, backward, extra_losses)`` where ``xs`` and ``outputs`` are lists of
device arrays and ``backward(d_outputs)`` runs every layer's closure in reverse. The
training step is: clear grads, forward, loss + regularization, backward, optimizer
apply, metric update from the pre-update outputs. Losses and metrics accumulate on the
device; the loop reads them back only when it logs (DESIGN.md §5).
"""

import math

from .. import backend as _backend
from .. import callbacks as _callbacks
from .. import data as _data
from .. import losses as _losses
from .. import metrics as _metrics
from .. import optimizers as _optimizers
from ..layers.base import Layer
from ..layers.core import PreActivationGrad as _PreActivationGrad


def _positive_int(value, name, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name}={value!r}; expected a positive integer")
    return value


class Model(Layer):
    """Base class of models; ``pn.Model(inputs, outputs)`` builds a functional model."""

    def __new__(cls, *args, **kwargs):
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            from .functional import Functional
            return Functional(*args, **kwargs)
        return super().__new__(cls)

    def __init__(self, name=None, trainable=True, **kwargs):
        super().__init__(name=name, trainable=trainable, **kwargs)
        self.optimizer = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self._grad_reducer = None      # distributed training plugs in its all-reduce here
        self._data_shard = None        # (rank, size) for distributed data sharding
        self._log_reducer = None       # distributed: averages logs across ranks

    # ------------------------------------------------------------------ to implement
    def _forward_graph(self, xs, training=False):  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def input_shapes(self):
        """Batch-first input shapes (None for unknown), one per input."""
        raise NotImplementedError

    @property
    def output_names(self):
        return [f"output_{i}" for i in range(self._num_outputs())]

    def _num_outputs(self):
        return 1

    @property
    def layers(self):
        return list(self._layers)

    def _adopt_layer_backend(self, layer):
        """Put a layer without a backend on the model's; one on another backend is an error."""
        if layer.backend is None:
            layer.backend = self.backend
        elif layer.backend is not self.backend:
            raise ValueError(f"layer {layer.name!r} lives on backend {layer.backend.name!r}, but "
                             f"model {self.name!r} is on {self.backend.name!r}")

    def get_layer(self, name=None, index=None):
        """A layer by name or by index."""
        if index is not None:
            if not -len(self.layers) <= index < len(self.layers):
                raise ValueError(f"get_layer: index={index} out of range; the model has "
                                 f"{len(self.layers)} layers")
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"get_layer: no layer named {name!r}; layers are "
                         f"{[layer.name for layer in self.layers]}")

    # ------------------------------------------------------------------ as a layer
    @staticmethod
    def _collect_extra(layer, extra, extras):
        """Add one layer run's activity-regularization penalty to ``extras``, and those a
        nested model left on the layer (``_pending_extra``, taken once)."""
        if extra is not None:
            extras.append(extra)
        nested = getattr(layer, "_pending_extra", None)
        if nested:
            extras.extend(nested)
            layer._pending_extra = None

    def forward(self, inputs, training=False):
        multi = isinstance(inputs, (list, tuple))
        xs = list(inputs) if multi else [inputs]
        outs, backward, extras = self._forward_graph(xs, training=training)
        self._pending_extra = extras
        single_out = len(outs) == 1

        def back(dy):
            dxs = backward([dy] if single_out else list(dy))
            return dxs if multi else dxs[0]
        return (outs[0] if single_out else outs), back

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1,
                jit_compile="auto", auto_scale_loss=True):
        """Configure training: optimizer, loss (one, a list or a dict per output),
        loss_weights, metrics and weighted_metrics (the latter see sample weights)."""
        opt = _optimizers.get(optimizer)
        self._loss_spec = loss
        self._loss_weights_spec = loss_weights
        self._metrics_spec = metrics
        self._weighted_metrics_spec = weighted_metrics
        # Resolve every name now so unknown names fail at compile, not mid-fit.
        for item in self._flat_specs(loss):
            if item is not None:
                _losses.get(item)
        for spec in (metrics, weighted_metrics):
            for item in self._flat_specs(spec):
                if isinstance(item, str) and item.lower() not in ("accuracy", "acc"):
                    _metrics.get(item)
        self.optimizer = opt
        self.compiled = True
        self._compiled_outputs = None
        self._compile_config = {"optimizer": _optimizers.serialize(opt), "loss": _serialize_spec(loss, _losses),
                                "loss_weights": loss_weights,
                                "metrics": _serialize_spec(metrics, _metrics),
                                "weighted_metrics": _serialize_spec(weighted_metrics, _metrics)}

    @staticmethod
    def _flat_specs(spec):
        if spec is None:
            return []
        if isinstance(spec, dict):
            out = []
            for v in spec.values():
                out.extend(v if isinstance(v, (list, tuple)) else [v])
            return out
        if isinstance(spec, (list, tuple)):
            out = []
            for v in spec:
                out.extend(v if isinstance(v, (list, tuple)) else [v])
            return out
        return [spec]

    def _per_output(self, spec, what, nested=False):
        """Spread a compile argument over the outputs: one for all, a list, or a dict by name."""
        names = self.output_names
        n = len(names)
        if spec is None:
            return [None] * n
        if isinstance(spec, dict):
            unknown = [k for k in spec if k not in names]
            if unknown:
                raise ValueError(f"compile: {what} names unknown output(s) {unknown}; outputs are {names}")
            return [spec.get(k) for k in names]
        if nested:
            if n == 1:
                return [list(spec) if isinstance(spec, (list, tuple)) else [spec]]
            if isinstance(spec, (list, tuple)) and all(isinstance(s, (list, tuple)) or s is None for s in spec):
                if len(spec) != n:
                    raise ValueError(f"compile: {what} has {len(spec)} entries; the model has {n} outputs")
                return list(spec)
            return [list(spec) if isinstance(spec, (list, tuple)) else [spec]] * n
        if isinstance(spec, (list, tuple)):
            if len(spec) != n:
                raise ValueError(f"compile: {what} has {len(spec)} entries; the model has {n} outputs {names}")
            return list(spec)
        return [spec] * n

    def _ensure_compiled_outputs(self):
        if self._compiled_outputs is not None:
            return
        n = self._num_outputs()
        losses = self._per_output(self._loss_spec, "loss")
        if all(l is None for l in losses):
            raise ValueError("compile: loss is required for training; e.g. "
                             "model.compile(optimizer='adam', loss='mse')")
        weights = self._per_output(self._loss_weights_spec, "loss_weights")
        self._compiled_outputs = {
            "losses": [None if l is None else _losses.get(l) for l in losses],
            "weights": [1.0 if w is None else float(w) for w in weights],
            "metric_specs": self._per_output(self._metrics_spec, "metrics", nested=True),
            "weighted_specs": self._per_output(self._weighted_metrics_spec, "weighted_metrics", nested=True),
            "metrics": None,
        }
        if n != len(self._compiled_outputs["losses"]):  # pragma: no cover - defensive
            raise ValueError("compile: losses do not match the outputs")

    def _build_metrics(self, ys, outs):
        """Create the metric objects on first data (the accuracy flavour needs the shapes)."""
        co = self._compiled_outputs
        if co["metrics"] is not None:
            return
        names = self.output_names
        multi = len(names) > 1
        built = []
        for i, (y, p) in enumerate(zip(ys, outs)):
            for weighted, specs in ((False, co["metric_specs"][i]), (True, co["weighted_specs"][i])):
                for spec in specs or []:
                    if spec is None:
                        continue
                    m = _metrics.get(spec, tuple(y.shape), tuple(p.shape))
                    if isinstance(spec, _metrics.Metric):
                        pass
                    base = m.name
                    if weighted and isinstance(spec, str):
                        base = "weighted_" + base if not multi else base
                    key = f"{names[i]}_{base}" if multi else base
                    built.append((i, key, m, weighted))
        co["metrics"] = built

    # ------------------------------------------------------------------ input handling
    def _standardize_inputs(self, x, name="x"):
        if isinstance(x, dict):
            names = self.input_names
            missing = [n for n in names if n not in x]
            if missing:
                raise ValueError(f"{name}: missing input(s) {missing}; the model's inputs are {names}")
            return [x[n] for n in names]
        return _data.as_list(x)

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

    @property
    def input_names(self):
        return [f"input_{i}" for i in range(len(self.input_shapes))]

    def _prepare_inputs(self, x, name="x", stream=False):
        """Validate and move inputs to the device; builds the model on first data.

        ``stream="auto"`` (fit, evaluate, predict) leaves host inputs on the host when they
        exceed ``portanet.data.device_data_limit()``; batches are then copied one by one."""
        xs = self._standardize_inputs(x, name)
        if not xs:
            raise ValueError(f"{name}: no input data given")
        backend = self.backend or _backend.current()
        shapes = [_data.host_or_device_shape(a) if hasattr(a, "shape") else None for a in xs]
        if any(s is None for s in shapes):
            xs = [a if hasattr(a, "shape") else _as_host(a) for a in xs]
            shapes = [_data.host_or_device_shape(a) for a in xs]
        if not self.built:
            self.backend = backend
            self._build_from_shapes([(None,) + tuple(s[1:]) for s in shapes])
        self.backend.activate()  # CuPy: kernels run on the current GPU, so make it ours
        self._check_input_shapes(shapes, name)
        if stream == "auto":
            stream = _data.should_stream(self.backend, xs)
        dev = []
        for i, a in enumerate(xs):
            label = name if len(xs) == 1 else f"{name}[{i}]"
            _data.check_finite(self.backend, a, label)
            dev.append(_data.to_device(self.backend, a, label, self.dtype, keep_host=stream))
        return dev

    def _build_from_shapes(self, shapes):
        self._maybe_build(shapes[0] if len(shapes) == 1 else shapes)

    def _check_input_shapes(self, shapes, name):
        expected = self.input_shapes
        if len(shapes) != len(expected):
            raise ValueError(f"{name}: the model takes {len(expected)} input(s); got {len(shapes)}")
        for i, (got, exp) in enumerate(zip(shapes, expected)):
            label = name if len(shapes) == 1 else f"{name}[{i}]"
            if len(got) != len(exp) or any(e is not None and g != e for g, e in zip(got[1:], exp[1:])):
                raise ValueError(f"{label}: input of shape {tuple(got)} does not match the model's "
                                 f"input shape {tuple(exp)} (None is any size): the model was built "
                                 f"for {exp[-1]} features per sample; got {got[-1] if got else None}")

    def _prepare_targets(self, y, outs_shapes, name="y"):
        ys = self._standardize_targets(y, name)
        co = self._compiled_outputs
        dev = []
        for i, a in enumerate(ys):
            label = name if len(ys) == 1 else f"{name}[{self.output_names[i]}]"
            if a is None:
                dev.append(None)
                continue
            if not hasattr(a, "shape"):
                a = _as_host(a)
            _data.check_finite(self.backend, a, label)
            if co["losses"][i] is not None:
                _data.check_targets(self.backend, a, co["losses"][i], outs_shapes[i], label)
            dev.append(_data.to_device(self.backend, a, label, self.dtype))
        return dev

    def _output_shapes(self):
        shape = self.compute_output_shape(self.input_shapes[0] if len(self.input_shapes) == 1
                                          else list(self.input_shapes))
        return shape if isinstance(shape, list) else [shape]

    def _sample_weights(self, sample_weight, class_weight, ys, n):
        if sample_weight is not None and class_weight is not None:
            raise ValueError("fit: give sample_weight or class_weight, not both (as Keras)")
        if sample_weight is not None:
            sws = sample_weight if isinstance(sample_weight, (list, tuple)) else [sample_weight] * len(ys)
            out = []
            for w in sws:
                if w is None:
                    out.append(None)
                    continue
                shape = _data.host_or_device_shape(w) if hasattr(w, "shape") else _data.host_or_device_shape(_as_host(w))
                if shape[0] != n:
                    raise ValueError(f"sample_weight: has {shape[0]} entries; expected one per sample ({n})")
                out.append(_data.to_device(self.backend, w, "sample_weight", self.dtype))
            return out
        if class_weight is not None:
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
            table_arr = self.backend.from_numpy(_host_array(table), self.dtype)
            safe = xp.clip(cls, 0, size - 1)
            in_table = xp.astype(cls < size, table_arr.dtype)
            w = xp.take(table_arr, xp.astype(safe, xp.int64), axis=0) * in_table + (1.0 - in_table)
            return [w]
        return [None] * len(ys)

    # ------------------------------------------------------------------ the step
    def _zero_grads(self, variables):
        for v in variables:
            v.grad = None

    def _loss_and_grads(self, ys, outs, sws, grads=True):
        """Total objective (device scalar) and the gradients of it w.r.t. each output
        (``grads=False``: evaluation, no gradients)."""
        co = self._compiled_outputs
        total = None
        dys = []
        per_output = []
        for i, (y, p) in enumerate(zip(ys, outs)):
            loss = co["losses"][i]
            if loss is None or y is None:
                dys.append(self.xp.zeros_like(p) if grads else None)
                per_output.append(None)
                continue
            w = co["weights"][i]
            fused = self._fused_softmax_ce(loss, p) if grads else None
            if fused is not None:
                # Straight to the logits of the last Dense: (p - y)·w/N; the value stays Keras's.
                sparse = isinstance(loss, _losses.SparseCategoricalCrossentropy)
                target = y
                if sparse and y.ndim == 2:
                    target = self.xp.reshape(y, (y.shape[0],))
                elif not sparse:
                    target = loss._smooth(self.xp.astype(y, p.dtype) if y.dtype != p.dtype else y,
                                          p.shape[-1])
                value_fn = (self.backend.fused("sparse_ce_value")
                            if sparse and sws[i] is None else None)
                value = value_fn(p, target) if value_fn is not None else None
                if value is None:
                    value, _ = loss.forward(y, p, sws[i])
                dys.append(_PreActivationGrad(fused(p, target, sparse, w / p.shape[0], sws[i])))
            else:
                value, back = loss.forward(y, p, sws[i])
                dys.append(back(w) if grads else None)
            per_output.append(value)
            contrib = value * w if w != 1.0 else value
            total = contrib if total is None else total + contrib
        return total, dys, per_output

    def _regularization(self, total, weights=None):
        for v in self._regularized_weights(weights):
            total = total + v.regularizer(v.value)
            if v.trainable:
                v.add_grad(v.regularizer.grad(v.value))
        return total

    def _regularized_weights(self, weights=None):
        weights = self.weights if weights is None else weights
        cache = getattr(self, "_reg_cache", None)
        if cache is None or cache[0] != len(weights):
            regs = [v for v in weights if v.regularizer is not None]
            self._reg_cache = (len(weights), regs)
            return regs
        return cache[1]

    def _fused_softmax_ce(self, loss, p):
        """The fused softmax + cross-entropy gradient when it applies, else None.

        It applies to a Sequential whose last layer is a plain Dense with softmax (no
        activity regularizer) trained with (sparse_)categorical_crossentropy on
        probabilities, reduction "sum_over_batch_size", 2-D outputs.
        """
        if p.ndim != 2:
            return None
        key = (id(loss), len(self._layers), id(self._layers[-1]) if self._layers else None)
        cached = getattr(self, "_fused_ce_cache", None)
        if cached is None or cached[0] != key:
            cached = (key, self._fused_ce_applies(loss))
            self._fused_ce_cache = cached
        return self.backend.fused("softmax_cross_entropy") if cached[1] else None

    def _fused_ce_applies(self, loss):
        from .. import activations as _activations
        from ..layers.core import Dense
        from .sequential import Sequential
        if not isinstance(self, Sequential) or not self._layers:
            return False
        last = self._layers[-1]
        if type(last) is not Dense or last.activation is not _activations.softmax \
                or last.activity_regularizer is not None:
            return False
        if type(loss) is _losses.SparseCategoricalCrossentropy:
            ok = loss.ignore_class is None
        elif type(loss) is _losses.CategoricalCrossentropy:
            ok = loss.axis in (-1, 1)
        else:
            return False
        return ok and not loss.from_logits and loss.reduction == "sum_over_batch_size"

    def _input_fed_layer(self):
        """The layer that reads the model's input directly (its input gradient is unused;
        layers that honour ``Layer._skip_input_grad`` skip computing it)."""
        from .sequential import Sequential
        if isinstance(self, Sequential) and self._layers and not isinstance(self._layers[0], Model):
            return self._layers[0]
        return None

    def _train_step(self, xs, ys, sws, n):
        # One walk over the layers per step (Layer.trainable_weights would walk them again).
        weights = self.weights
        trainable = [v for v in weights if v.trainable] if self.trainable else []
        self._zero_grads(weights)
        if n == 0 and self._grad_reducer is not None:
            # Distributed: this rank's shard of a short last batch is empty; it skips the
            # forward pass but must still join the all-reduce and apply the shared update.
            self._grad_reducer(trainable, 0)
            self.optimizer.apply(trainable)
            return None
        first = self._input_fed_layer()
        if first is not None:
            first._skip_input_grad = True
        try:
            outs, backward, extras = self._forward_graph(xs, training=True)
        finally:
            if first is not None:
                first._skip_input_grad = False
        self._build_metrics(ys, outs)
        total, dys, per_output = self._loss_and_grads(ys, outs, sws)
        for e in extras:
            total = total + e
        total = self._regularization(total, weights)
        backward(dys)
        if self._grad_reducer is not None:
            self._grad_reducer(trainable, n)
        self.optimizer.apply(trainable)
        self._update_trackers(total, per_output, ys, outs, sws, n)
        return total

    def _update_trackers(self, total, per_output, ys, outs, sws, n):
        t = self._trackers
        t["loss_sum"] = total * n if t["loss_sum"] is None else t["loss_sum"] + total * n
        t["count"] += n
        if self._num_outputs() > 1:
            for i, v in enumerate(per_output):
                if v is None:
                    continue
                key = f"{self.output_names[i]}_loss"
                t["out_sums"][key] = v * n if key not in t["out_sums"] else t["out_sums"][key] + v * n
        for i, key, m, weighted in self._compiled_outputs["metrics"]:
            m.update_state(ys[i], outs[i], sws[i] if weighted else None)
        if t["batch_losses"] is not None:
            t["batch_losses"].append(total)

    def _reset_trackers(self, record_batches=False):
        self._trackers = {"loss_sum": None, "count": 0, "out_sums": {},
                          "batch_losses": [] if record_batches else None}
        for _, _, m, _ in (self._compiled_outputs or {}).get("metrics") or []:
            m.reset_state()

    def _log_producers(self, prefix=""):
        """name -> zero-argument function reading the running value (syncs when called)."""
        t = self._trackers
        backend = self.backend
        producers = {}
        if t["loss_sum"] is not None:
            producers[prefix + "loss"] = lambda: backend.to_float(t["loss_sum"]) / max(t["count"], 1)
        for key in t["out_sums"]:
            producers[prefix + key] = (lambda key=key: backend.to_float(t["out_sums"][key]) / max(t["count"], 1))
        for _, key, m, _ in self._compiled_outputs["metrics"] or []:
            producers[prefix + key] = (lambda m=m: _result_float(backend, m))
        return producers

    def _read_logs(self, prefix=""):
        logs = _callbacks.LazyLogs(self._log_producers(prefix)).materialize()
        if self._log_reducer is not None:
            logs = self._log_reducer(logs, self._trackers["count"])
        return logs

    # ------------------------------------------------------------------ fit
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1, record_batch_loss=True,
            distributed=False, diagnostics=False):
        """Train for ``epochs`` epochs; returns a ``History``.

        Args follow Keras: batch_size (default 32), epochs, verbose (0 silent, 1 progress
        bar, 2 one line per epoch; "auto" is 1), callbacks, validation_split (the last
        fraction of the rows, taken before shuffling), validation_data ((x, y) or
        (x, y, sample_weight)), shuffle (True, False or "batch"), class_weight,
        sample_weight, initial_epoch. ``record_batch_loss`` keeps the loss of every
        iteration in ``history.batch_history["loss"]`` (read back once per epoch).
        ``diagnostics=True`` adds ``pn.callbacks.TrainingDiagnostics()`` (per-epoch gradient
        norms, update/weight ratios, saturation, with warnings in plain words).
        Before training, fit warns once (``UserWarning``) when float inputs are far from
        standardized and the model has no ``Normalization`` layer.
        ``distributed=True`` trains data-parallel over the processes of an MPI launch
        (``pn.distributed.DataParallel``): batch_size is then the per-process batch.

        The hot loop (DESIGN.md §5): inputs move to the device once when they fit, i.e.
        when the host input arrays total at most ``$PORTANET_DEVICE_DATA_LIMIT`` bytes
        (default 2 GiB; targets and sample weights always move). Larger host inputs stay
        on the host: each epoch's order is one device permutation read back once, and each
        batch is gathered on the host and copied, the next batch's copy issued before the
        current step runs (on CuPy from pinned memory on a side stream, so it overlaps).
        Each epoch shuffles with a device permutation, the loss and metric sums stay on
        the device, and the loop reads them back only when it logs or a callback asks
        (with verbose=0 and no callbacks: a few reads per epoch, whatever the number of
        batches; tests/test_hot_loop.py holds it to that).
        """
        if distributed not in (True, False):
            raise ValueError(f"distributed={distributed!r}; expected True or False")
        if distributed:
            from .. import distributed as _distributed
            return _distributed.DataParallel(self).fit(
                x, y, batch_size=batch_size, epochs=epochs, verbose=verbose, callbacks=callbacks,
                validation_split=validation_split, validation_data=validation_data,
                shuffle=shuffle, class_weight=class_weight, sample_weight=sample_weight,
                initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch,
                validation_steps=validation_steps, validation_batch_size=validation_batch_size,
                validation_freq=validation_freq, record_batch_loss=record_batch_loss,
                diagnostics=diagnostics)
        if not self.compiled:
            raise RuntimeError("You must compile the model before training: call "
                               "model.compile(optimizer=..., loss=...) first")
        batch_size = _positive_int(32 if batch_size is None else batch_size, "batch_size")
        epochs = _positive_int(epochs, "epochs")
        if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, int) or not 0 <= initial_epoch:
            raise ValueError(f"initial_epoch={initial_epoch!r}; expected a non-negative integer")
        if not isinstance(validation_split, (int, float)) or not 0.0 <= validation_split < 1.0:
            raise ValueError(f"validation_split={validation_split!r}; expected a float in [0, 1)")
        if shuffle not in (True, False, "batch"):
            raise ValueError(f"shuffle={shuffle!r}; expected True, False or 'batch'")
        _positive_int(validation_freq, "validation_freq")
        if x is None or y is None:
            raise ValueError("fit: x and y are required (arrays, or lists/dicts of arrays)")
        verbose = 1 if verbose == "auto" else verbose
        if verbose not in (0, 1, 2):
            raise ValueError(f"verbose={verbose!r}; expected 0, 1, 2 or 'auto'")

        xs_raw = self._standardize_inputs(x)
        ys_raw = self._standardize_targets(y)
        n = _data.check_lengths([(f"x[{i}]" if len(xs_raw) > 1 else "x", a) for i, a in enumerate(xs_raw)]
                                + [(f"y[{i}]" if len(ys_raw) > 1 else "y", a) for i, a in enumerate(ys_raw)
                                   if a is not None])
        if n == 0:
            raise ValueError("fit: x has no samples")
        if validation_split and validation_data is not None:
            validation_data = validation_data  # Keras: validation_data takes precedence
            validation_split = 0.0
        xs = self._prepare_inputs(xs_raw, stream="auto")
        if not getattr(self, "_standardization_checked", False):
            # Once per model, on a sample: the lecture's "standardize the inputs".
            from ..diagnostics import warn_if_not_standardized
            self._standardization_checked = True
            # Streamed (host) inputs are checked on a device copy of evenly spaced rows.
            sample = [a if self.backend.is_array(a) else
                      self.backend.from_numpy(a[::max(1, a.shape[0] // 1024), ...]) for a in xs]
            warn_if_not_standardized(self, sample, self.input_names if len(xs) > 1 else None)
        self._ensure_compiled_outputs()
        ys = self._prepare_targets(ys_raw, self._output_shapes())
        sws = self._sample_weights(sample_weight, class_weight, ys, n)
        val = None
        if validation_split:
            split = int(math.floor(n * (1.0 - validation_split)))
            if split == 0 or split == n:
                raise ValueError(f"validation_split={validation_split} leaves no training or no "
                                 f"validation rows out of {n}")
            val = ([a[split:, ...] for a in xs], [a[split:, ...] for a in ys],
                   [None if w is None else w[split:, ...] for w in sws])
            xs, ys = [a[:split, ...] for a in xs], [a[:split, ...] for a in ys]
            sws = [None if w is None else w[:split, ...] for w in sws]
        elif validation_data is not None:
            val = self._prepare_validation(validation_data)

        train = _data.ArrayData(self.backend, xs, ys, sws, batch_size=batch_size, shuffle=shuffle)
        if self._data_shard is not None:
            train.shard = self._data_shard
        steps = train.num_batches if steps_per_epoch is None else min(train.num_batches, steps_per_epoch)
        history = _callbacks.History()
        cbs = [history]
        if verbose:
            cbs.append(_callbacks.ProgbarLogger(verbose=verbose))
        cbs += list(callbacks or [])
        if diagnostics and not any(isinstance(cb, _callbacks.TrainingDiagnostics) for cb in cbs):
            cbs.append(_callbacks.TrainingDiagnostics())
        params = {"epochs": epochs, "steps": steps, "verbose": verbose, "batch_size": batch_size,
                  "samples": train.size}
        cblist = _callbacks.CallbackList(cbs, self, params)
        self.history = history
        self.stop_training = False
        self._train_data = train
        cblist.call("on_train_begin", None)
        if getattr(self, "_initial_epoch", None) is not None:
            # Set by a callback (BackupAndRestore) that resumed an interrupted run.
            initial_epoch, self._initial_epoch = self._initial_epoch, None
        epoch_logs = {}
        for epoch in range(initial_epoch, epochs):
            self._reset_trackers(record_batches=record_batch_loss)
            cblist.call("on_epoch_begin", epoch, None)
            self.backend.begin_epoch()
            for step, (bx, by, bw, bn) in enumerate(train):
                if steps_per_epoch is not None and step >= steps_per_epoch:
                    break
                cblist.call("on_train_batch_begin", step, None)
                self._train_step(bx, by, bw, bn)
                logs = (_callbacks.LazyLogs(self._log_producers()) if cblist.reads_batch_logs else None)
                cblist.call("on_train_batch_end", step, logs)
                if self.stop_training:
                    break
            epoch_logs = self._read_logs()
            if self._trackers["batch_losses"]:
                xp = self.xp
                values = self.backend.to_numpy(xp.stack(self._trackers["batch_losses"]))
                history.batch_history.setdefault("loss", []).extend(float(v) for v in values)
            if val is not None and (epoch + 1) % validation_freq == 0:
                val_logs = self._evaluate_arrays(*val, batch_size=validation_batch_size or batch_size)
                epoch_logs.update({"val_" + k: v for k, v in val_logs.items()})
            lr = getattr(self, "_record_lr", False)
            if lr:
                epoch_logs["learning_rate"] = float(self.optimizer.learning_rate)
            cblist.call("on_epoch_end", epoch, epoch_logs)
            if self.stop_training:
                break
        self.optimizer.finalize_variable_values(self.trainable_weights)  # use_ema: averages in
        cblist.call("on_train_end", epoch_logs)
        self._train_data = None
        return history

    def _prepare_validation(self, validation_data):
        if not isinstance(validation_data, (list, tuple)) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data: expected a tuple (x_val, y_val) or (x_val, y_val, "
                             f"sample_weight); got {type(validation_data).__name__}")
        vx, vy = validation_data[0], validation_data[1]
        vw = validation_data[2] if len(validation_data) == 3 else None
        xs = self._prepare_inputs(vx, "validation_data x", stream="auto")
        ys = self._prepare_targets(vy, self._output_shapes(), "validation_data y")
        n = int(xs[0].shape[0])
        sws = self._sample_weights(vw, None, ys, n)
        return xs, ys, sws

    # ------------------------------------------------------------------ evaluate / predict
    def _eval_step(self, xs, ys, sws, n):
        outs, _, extras = self._forward_graph(xs, training=False)
        self._build_metrics(ys, outs)
        total, _, per_output = self._loss_and_grads(ys, outs, sws, grads=False)
        for e in extras:
            total = total + e
        for v in self._regularized_weights():
            total = total + v.regularizer(v.value)
        self._update_trackers(total, per_output, ys, outs, sws, n)

    def _evaluate_arrays(self, xs, ys, sws, batch_size=32, callbacks=None):
        saved = getattr(self, "_trackers", None)
        self._reset_trackers()
        data = _data.ArrayData(self.backend, xs, ys, sws, batch_size=batch_size, shuffle=False)
        for step, (bx, by, bw, bn) in enumerate(data):
            if callbacks is not None:
                callbacks.call("on_test_batch_begin", step, None)
            self._eval_step(bx, by, bw, bn)
            if callbacks is not None:
                callbacks.call("on_test_batch_end", step, None)
        logs = self._read_logs()
        self._trackers = saved
        return logs

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False):
        """Loss and metrics on (x, y) in inference mode; a float, a list or a dict."""
        if not self.compiled:
            raise RuntimeError("You must compile the model before evaluating: call model.compile(...) first")
        batch_size = _positive_int(32 if batch_size is None else batch_size, "batch_size")
        if x is None or y is None:
            raise ValueError("evaluate: x and y are required")
        xs_raw, ys_raw = self._standardize_inputs(x), self._standardize_targets(y)
        n = _data.check_lengths([("x", a) for a in xs_raw] + [("y", a) for a in ys_raw if a is not None])
        xs = self._prepare_inputs(xs_raw, stream="auto")
        self._ensure_compiled_outputs()
        ys = self._prepare_targets(ys_raw, self._output_shapes())
        sws = self._sample_weights(sample_weight, None, ys, n)
        cbl = _callbacks.CallbackList(list(callbacks or []), self, {"steps": None})
        cbl.call("on_test_begin", None)
        logs = self._evaluate_arrays(xs, ys, sws, batch_size=batch_size, callbacks=cbl)
        cbl.call("on_test_end", logs)
        if verbose:
            print(_callbacks.format_logs(logs))
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Outputs for x in inference mode, as host NumPy arrays (a list for several outputs)."""
        batch_size = _positive_int(32 if batch_size is None else batch_size, "batch_size")
        xs = self._prepare_inputs(x, stream="auto")
        data = _data.ArrayData(self.backend, xs, batch_size=batch_size, shuffle=False)
        cbl = _callbacks.CallbackList(list(callbacks or []), self, {"steps": data.num_batches})
        cbl.call("on_predict_begin", None)
        chunks = None
        for step, (bx, _, _, _) in enumerate(data):
            cbl.call("on_predict_batch_begin", step, None)
            outs, _, _ = self._forward_graph(bx, training=False)
            if chunks is None:
                chunks = [[] for _ in outs]
            for c, o in zip(chunks, outs):
                c.append(o)
            cbl.call("on_predict_batch_end", step, None)
        cbl.call("on_predict_end", None)
        xp = self.xp
        results = [self.backend.to_numpy(xp.concat(c, axis=0) if len(c) > 1 else c[0]) for c in chunks]
        if getattr(self, "_output_keys", None):  # functional model with dict outputs: a dict, as Keras
            return dict(zip(self._output_keys, results))
        return results[0] if len(results) == 1 else results

    def __call__(self, inputs, training=False, mask=None, **kwargs):
        return super().__call__(inputs, training=training, mask=mask, **kwargs)

    # ------------------------------------------------------------------ on-batch API
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One training step on one batch; returns the loss (and metrics) of that batch."""
        if not self.compiled:
            raise RuntimeError("You must compile the model before training: call model.compile(...) first")
        xs_raw, ys_raw = self._standardize_inputs(x), self._standardize_targets(y)
        n = _data.check_lengths([("x", a) for a in xs_raw] + [("y", a) for a in ys_raw if a is not None])
        xs = self._prepare_inputs(xs_raw)
        self._ensure_compiled_outputs()
        ys = self._prepare_targets(ys_raw, self._output_shapes())
        sws = self._sample_weights(sample_weight, class_weight, ys, n)
        self._reset_trackers()
        self._train_step(xs, ys, sws, n)
        return self._format_batch_logs(return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Loss (and metrics) of one batch in inference mode."""
        if not self.compiled:
            raise RuntimeError("You must compile the model before testing: call model.compile(...) first")
        xs_raw, ys_raw = self._standardize_inputs(x), self._standardize_targets(y)
        n = _data.check_lengths([("x", a) for a in xs_raw] + [("y", a) for a in ys_raw if a is not None])
        xs = self._prepare_inputs(xs_raw)
        self._ensure_compiled_outputs()
        ys = self._prepare_targets(ys_raw, self._output_shapes())
        sws = self._sample_weights(sample_weight, None, ys, n)
        self._reset_trackers()
        self._eval_step(xs, ys, sws, n)
        return self._format_batch_logs(return_dict)

    def predict_on_batch(self, x):
        """Outputs of one batch (host NumPy)."""
        xs = self._prepare_inputs(x)
        outs, _, _ = self._forward_graph(xs, training=False)
        res = [self.backend.to_numpy(o) for o in outs]
        if getattr(self, "_output_keys", None):
            return dict(zip(self._output_keys, res))
        return res[0] if len(res) == 1 else res

    def _format_batch_logs(self, return_dict):
        logs = self._read_logs()
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    # ------------------------------------------------------------------ misc
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False):
        """Print Keras's layer table with output shapes and parameter counts."""
        from .summary import print_summary
        print_summary(self, line_length=line_length, print_fn=print_fn, show_trainable=show_trainable)

    def save(self, filepath, overwrite=True):
        """Save architecture, weights, compile config and optimizer state to one file."""
        from .. import saving
        saving.save_model(self, filepath, overwrite=overwrite)

    def save_weights(self, filepath, overwrite=True):
        from .. import saving
        saving.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch=False):
        from .. import saving
        saving.load_weights(self, filepath, skip_mismatch=skip_mismatch)

    def get_compile_config(self):
        return getattr(self, "_compile_config", None)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """``pn.Model.from_config(functional_config)`` rebuilds a functional model, as Keras."""
        if cls is Model and isinstance(config, dict) and "input_layers" in config:
            from .functional import Functional
            return Functional.from_config(config, custom_objects=custom_objects)
        return super().from_config(config)

    def to(self, backend_name, device=None):
        """Move the model to another backend: ``model.to("cupy")``, ``model.to("numpy")``.

        Every weight and the optimizer's state (moments, accumulators, iterations) are
        copied through the host to the new backend, and every layer is rebound to it;
        metric states and running sums restart. Training continues exactly where it
        stopped. Returns the model. Fails before changing anything when the backend cannot
        start (e.g. ``"cupy"`` without a GPU).

        Args:
            backend_name: "numpy", "array_api_strict" or "cupy".
            device: the device of the new backend (a GPU index for "cupy").
        """
        target = _backend.get(backend_name, device)
        source = self.backend
        if source is None:
            raise ValueError(f"Model.to: model {self.name!r} is not built yet; build it (or fit it) "
                             "first, or call pn.set_backend(...) before creating it")
        if target is source:
            return self
        moved = {}

        def move(a):
            if not source.is_array(a):
                return a
            key = id(a)
            if key not in moved:
                moved[key] = target.from_numpy(source.to_numpy(a))
            return moved[key]

        # Copy everything first so a failure leaves the model untouched.
        weights = self.weights
        new_values = [move(v.value) for v in weights]
        opt = self.optimizer
        new_slots = None
        if opt is not None and getattr(opt, "_slots", None):
            new_slots = [{k: move(a) for k, a in slots.items()} for slots in opt._slots]
        for v, value in zip(weights, new_values):
            v.value = value
            v.grad = None
            v.backend = target
        stack = [self]
        while stack:
            layer = stack.pop()
            layer.backend = target
            stack.extend(getattr(layer, "_layers", ()))
            inp = getattr(layer, "_input_layer", None)
            if inp is not None:
                inp.backend = target
        if new_slots is not None:
            opt._slots = new_slots
        if opt is not None:
            # Fast paths cache per-backend buffers; they rebuild on the next step.
            for key in [k for k in vars(opt) if k.startswith("_fused_")]:
                delattr(opt, key)
        co = getattr(self, "_compiled_outputs", None)
        if co is not None:
            co["metrics"] = None  # rebuilt on the next data, on the new backend
        self._trackers = None
        target.activate()
        return self

    # ------------------------------------------------------------------ training-step hooks
    # cb branch: a minimal version of the train branch's hooks (CONTRACTS.md C2) so the
    # callbacks' tests run before the merge; the merge keeps the train branch's version.
    def add_train_step_hook(self, hook):
        """Run ``hook(xs, ys, sample_weights, n)`` (a generator function) around every
        training step: up to its ``yield`` before the step, then it is sent the step's loss."""
        hooks = self.__dict__.get("_train_step_hooks")
        if hooks is None:
            hooks = self.__dict__["_train_step_hooks"] = []
            inner = self._train_step

            def hooked_step(xs, ys, sws, n):
                running = []
                for h in list(hooks):
                    gen = h(xs, ys, sws, n)
                    next(gen)
                    running.append(gen)
                total = inner(xs, ys, sws, n)
                for gen in running:
                    try:
                        gen.send(total)
                    except StopIteration:
                        pass
                return total
            self._train_step = hooked_step
        hooks.append(hook)

    def remove_train_step_hook(self, hook):
        """Unregister a hook added by ``add_train_step_hook`` (no error when absent)."""
        hooks = self.__dict__.get("_train_step_hooks")
        if hooks is None:
            return
        if hook in hooks:
            hooks.remove(hook)
        if not hooks:
            del self.__dict__["_train_step_hooks"]
            self.__dict__.pop("_train_step", None)


def _result_float(backend, metric):
    r = metric.result()
    if isinstance(r, float):
        return r
    if len(getattr(r, "shape", ())) > 0:
        # Per-class / per-threshold results (F1Score(average=None), Precision(thresholds=[..]))
        # are logged as host arrays, as Keras logs them.
        return backend.to_numpy(r).copy()
    return backend.to_float(r)


def _as_host(a):
    return _host_array(a)


def _host_array(values):
    return _data.np.asarray(values)


def _serialize_spec(spec, module):
    if spec is None:
        return None
    if isinstance(spec, dict):
        return {k: _serialize_spec(v, module) for k, v in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [_serialize_spec(v, module) for v in spec]
    if isinstance(spec, str):
        return spec
    try:
        return module.serialize(spec)
    except Exception:
        return getattr(spec, "__name__", repr(spec))
