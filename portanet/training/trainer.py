"""``Trainer``: compile, fit, evaluate, predict, the ``*_on_batch`` methods and the step
methods (as keras/src/trainers/trainer.py and keras/src/backend/numpy/trainer.py).

Separation of concerns: a ``DataAdapter`` (data_adapter.py) turns the user's data into
batches ``(x, y, sample_weight)``; the loops here call the step methods on them;
``CompiledOutputs`` (compile_utils.py) holds the losses and metrics per output;
``MetricTrackers`` (trackers.py) keeps the running sums and reads the logs.

``Model`` gets all of it as a mixin (``class Model(Trainer, Layer)``). What the trainer
needs from the model (its graph) is:

- ``_forward_graph(xs, training)`` -> ``(outputs, backward, extra_losses)``: lists of
  device arrays; ``backward(d_outputs)`` runs every layer's closure in reverse; a model
  whose outputs carry masks (Embedding(mask_zero=True) upstream) leaves them in
  ``_output_masks`` (one per output, None where none), which the compiled loss and the
  mean metrics apply, as Keras's ``Loss.__call__`` and ``MeanMetricWrapper`` read
  ``y_pred._keras_mask``;
- ``input_shapes``, ``input_names``, ``output_names``, ``_num_outputs()``,
  ``compute_output_shape``, ``weights``;
- ``_input_fed_layer()`` and ``_output_layer()`` for the shortcuts of fast_paths.py.

Extension points (all public): override ``train_step(data)``, ``test_step(data)`` or
``predict_step(data)``; ``add_train_step_hook(hook)``; ``set_distribution(obj)``
(distribution.py). The built-in training step is: clear grads, forward, loss +
regularization, backward, (reduce gradients), optimizer apply, metric update from the
pre-update outputs. Losses and metrics accumulate on the device; the loop reads them
back only when it logs (docs/ARCHITECTURE.md, "the hot loop").
"""

import warnings

from .. import callbacks as _callbacks
from .. import losses as _losses
from .. import metrics as _metrics
from .. import dtype_policies as _dtype_policies
from .. import optimizers as _optimizers
from .. import serialization as _serialization
from . import adapter_selection as _adapters
from . import compile_utils as _compile
from . import data_adapter as _data
from . import distribution as _distribution
from . import fast_paths as _fast
from . import step_api as _step
from .fit_loop import FitLoop, check_positive_int
from .inputs import InputPreparation
from .step_api import StepAPI
from .trackers import MetricTrackers


def get_data_adapter(model, x, y=None, sample_weight=None, batch_size=None, shuffle=False,
                     steps_per_epoch=None, class_weight=None):
    """A ``DataAdapter`` over ``(x, y, sample_weight)`` checked and moved as ``fit`` does.

    For tools that drive the step methods themselves (``model.train_step(batch)`` for each
    ``batch`` of the adapter), e.g. ``portanet.utils.find_learning_rate``. Builds the model
    on first data; ``y`` requires a compiled model. As Keras's ``get_data_adapter``, ``x``
    may also be a ``PyDataset``, a generator or another iterable of batches (then ``y``,
    ``sample_weight`` and ``batch_size`` stay None); call ``close()`` on the adapter
    when done with it (it stops the prefetch thread).

    Args:
        model: a portanet Model.
        x, y, sample_weight: as for ``fit`` (y and sample_weight may be None).
        batch_size: rows per batch (arrays; default 32).
        shuffle: True (a new device permutation per pass), False or "batch".
        steps_per_epoch: batches per pass over a dataset (None: until it ends).
        class_weight: PyDataset only, as ``fit``.
    """
    if _adapters.is_dataset(x):
        targets = model.compiled
        if targets:
            model._ensure_compiled_outputs()
        return _adapters.select(model, x, y, sample_weight, batch_size, class_weight,
                                shuffle=shuffle, steps=steps_per_epoch, targets=targets)
    batch_size = check_positive_int(32 if batch_size is None else batch_size, "batch_size")
    if y is None:
        xs = model._prepare_inputs(x)
        return _data.ArrayDataAdapter(model.backend, xs, batch_size=batch_size, shuffle=shuffle)
    model._require_compiled("making training batches")
    xs_raw, ys_raw, n = model._standardize_xy(x, y)
    xs = model._prepare_inputs(xs_raw)
    model._ensure_compiled_outputs()
    ys = model._prepare_targets(ys_raw, model._output_shapes())
    sws = model._sample_weights(sample_weight, None, ys, n)
    return _data.ArrayDataAdapter(model.backend, xs, ys, sws, batch_size=batch_size, shuffle=shuffle)


def _compile_value(spec, module):
    """A compile argument in Keras's serialized form; an object Keras's form cannot name (a
    lambda, an unregistered function) is written by name, as before, so compile never fails."""
    try:
        return _serialization.serialize_keras_object(spec)
    except TypeError:
        return _compile.serialize_spec(spec, module)


class Trainer(FitLoop, InputPreparation, StepAPI):
    """The training loop of a Model (a mixin; see the module docstring)."""

    # Class-level defaults, so a model works whatever its subclass's __init__ does.
    optimizer = None
    compiled = False
    stop_training = False
    history = None
    _compiled_outputs = None
    _trackers = None
    _distribution = None
    _train_step_hooks = ()
    _fused_ce = None
    # Set by a callback (BackupAndRestore) in on_train_begin to resume at that epoch.
    _initial_epoch = None

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1,
                jit_compile="auto", auto_scale_loss=True):
        """Configure training.

        Args:
            optimizer: a name ("rmsprop", "adam", ...) or an optimizer instance.
            loss: one loss for every output, a list (one per output) or a dict by output name;
                None when the model adds its own losses (``add_loss``) or a custom
                ``train_step`` computes the loss itself.
            loss_weights: floats weighting each output's loss (list or dict).
            metrics: metrics per output (one list for all, a list of lists, or a dict).
            weighted_metrics: like metrics, but they see the sample weights.
            auto_scale_loss: with the model's dtype policy "mixed_float16", wrap the
                optimizer in a ``LossScaleOptimizer`` (as Keras).
            run_eagerly, steps_per_execution, jit_compile: accepted for Keras
                compatibility (portanet always runs eagerly).
        """
        opt = _optimizers.get(optimizer)
        _compile.validate_specs(loss, metrics, weighted_metrics)
        given_opt = opt
        if (auto_scale_loss and getattr(self, "dtype_policy", None) is not None
                and self.dtype_policy.name == "mixed_float16" and opt is not None
                and not isinstance(opt, _optimizers.LossScaleOptimizer)):
            # As Keras: a mixed_float16 model trains with dynamic loss scaling.
            opt = _optimizers.LossScaleOptimizer(opt, name="loss_scale_optimizer")
        self._loss_spec = loss
        self._loss_weights_spec = loss_weights
        self._metrics_spec = metrics
        self._weighted_metrics_spec = weighted_metrics
        self.optimizer = opt
        self.compiled = True
        self._compiled_outputs = None
        self._init_step_metrics()
        # Keras 3's compile config (keras/src/trainers/trainer.py): every argument serialized
        # with serialize_keras_object (names stay names). jit_compile="auto" is written as
        # Keras's JAX and TensorFlow backends resolve it (True); portanet runs eagerly.
        self._compile_config = {
            "optimizer": _serialization.serialize_keras_object(given_opt),
            "loss": _compile_value(loss, _losses),
            "loss_weights": loss_weights,
            "metrics": _compile_value(metrics, _metrics),
            "weighted_metrics": _compile_value(weighted_metrics, _metrics),
            "run_eagerly": bool(run_eagerly),
            "steps_per_execution": steps_per_execution,
            "jit_compile": True if jit_compile == "auto" else bool(jit_compile)}

    def get_compile_config(self):
        """Keras's compile config: ``{"optimizer", "loss", "loss_weights", "metrics",
        "weighted_metrics", "run_eagerly", "steps_per_execution", "jit_compile"}`` with the
        objects in Keras's serialized form; ``{}`` when the model is not compiled."""
        if not self.compiled or getattr(self, "_compile_config", None) is None:
            return {}
        return dict(self._compile_config)

    def compile_from_config(self, config):
        """Compile with ``get_compile_config()``'s dict (portanet's or Keras 3's); nothing is
        imported or evaluated (names resolve through portanet's registries)."""
        if not isinstance(config, dict):
            raise TypeError(f"compile_from_config: config={type(config).__name__}; expected a dict")
        if type(self).compile is not Trainer.compile:
            # As Keras: a custom compile() has its own arguments; its class should override
            # get_compile_config/compile_from_config too.
            warnings.warn("`compile()` was not called as part of model loading because the "
                          "model's `compile()` method is custom. All subclassed Models that "
                          "have `compile()` overridden should also override "
                          "`get_compile_config()` and `compile_from_config(config)`. "
                          "Alternatively, you can call `compile()` manually after loading.",
                          stacklevel=2)
            return
        known = ("optimizer", "loss", "loss_weights", "metrics", "weighted_metrics", "run_eagerly",
                 "steps_per_execution", "jit_compile", "auto_scale_loss")
        unknown = sorted(set(config) - set(known))
        if unknown:
            raise ValueError(f"compile_from_config: unknown key(s) {unknown}; expected some of {list(known)}")
        args = {k: _serialization.deserialize_keras_object(v) for k, v in config.items()}
        if args.get("optimizer") is None:
            args.pop("optimizer", None)
        self.compile(**args)

    def _ensure_compiled_outputs(self):
        if self._compiled_outputs is None:
            self._compiled_outputs = _compile.CompiledOutputs(
                self.output_names, self._loss_spec, self._loss_weights_spec,
                self._metrics_spec, self._weighted_metrics_spec)

    def _require_compiled(self, what):
        if not self.compiled:
            raise RuntimeError(f"You must compile the model before {what}: call "
                               "model.compile(optimizer=..., loss=...) first")

    def _overrides(self, method):
        """Whether this model's class replaces the Trainer's step ``method``."""
        return getattr(type(self), method) is not getattr(Trainer, method)

    def _targets_optional(self, step):
        """Whether fit/evaluate may be called without ``y``: the model overrides ``step``
        (its data is x alone) or was compiled without a loss (it trains on its
        ``add_loss`` terms), as Keras."""
        return self._overrides(step) or getattr(self, "_loss_spec", None) is None

    def _no_loss_error(self):
        return ValueError(f"model {self.name!r} has no loss to train on: compile() was called "
                          "without a loss and the model added none with add_loss() in its "
                          "call(). Pass loss=... to compile() (e.g. "
                          "model.compile(optimizer='adam', loss='mse')), call self.add_loss(...) "
                          "in call(), or override train_step.")

    # ------------------------------------------------------------------ extension points
    @property
    def distribution(self):
        """The data-parallel distribution ``fit`` uses, or None (see ``set_distribution``)."""
        return self._distribution

    def set_distribution(self, distribution):
        """Train data-parallel through ``distribution`` (None: on this process alone).

        ``distribution`` implements ``shard(data)``, ``reduce_gradients(variables,
        num_samples)`` and ``reduce_logs(logs, sums)``; see
        ``portanet.training.distribution`` for when ``fit`` calls each.
        ``pn.distributed.DataParallel`` sets itself for the duration of its ``fit``.
        """
        if distribution is not None:
            missing = [m for m in ("shard", "reduce_gradients", "reduce_logs")
                       if not callable(getattr(distribution, m, None))]
            if missing:
                raise TypeError(f"set_distribution: {type(distribution).__name__} lacks "
                                f"{missing}; expected an object with shard(data), "
                                "reduce_gradients(variables, num_samples) and reduce_logs(logs, sums)")
        self._distribution = distribution

    def add_train_step_hook(self, hook):
        """Run ``hook`` around every training step of fit and train_on_batch.

        ``hook`` is a generator function called as ``hook(xs, ys, sample_weights, n)``
        (lists of the step's device arrays, one per input/output, and the batch rows): it
        runs up to its ``yield`` before the step, is sent the step's total loss (a device
        scalar) after it, and should then finish. Several hooks run in the order added.

        Example:
            >>> def count(xs, ys, sws, n):
            ...     loss = yield
            ...     seen.append(n)
            >>> model.add_train_step_hook(count)
        """
        if not callable(hook):
            raise TypeError(f"add_train_step_hook: hook={hook!r}; expected a generator function")
        self._train_step_hooks = list(self._train_step_hooks) + [hook]

    def remove_train_step_hook(self, hook):
        """Stop running ``hook`` (added by ``add_train_step_hook``); absent hooks are ignored."""
        self._train_step_hooks = [h for h in self._train_step_hooks if h is not hook]

    def _hooked_train_step(self, data):
        xs, ys, sws = _data.unpack_batch(data)
        n = int(xs[0].shape[0])
        running = []
        for hook in list(self._train_step_hooks):
            gen = hook(xs, ys, sws, n)
            next(gen)
            running.append(gen)
        total = self.train_step(data)
        for gen in running:
            try:
                gen.send(total)
            except StopIteration:
                pass
        return total

    # ------------------------------------------------------------------ the steps
    def train_step(self, data):
        """One training step on one batch; returns the batch's total loss (a device scalar).

        Args:
            data: Keras's batch tuple ``(x, y, sample_weight)`` of device arrays; ``x`` and
                ``y`` are lists for several inputs/outputs, ``sample_weight`` is None, an
                array, or a list (one per output). Running sums of the loss and metrics
                are updated; fit reads its logs from them.
        """
        if type(data) is tuple and len(data) == 3:
            x, y, sw = data
            xs = x if type(x) is list else [x]
            ys = y if type(y) is list else [y]
            sws = sw if type(sw) is list else [sw] * len(ys)
        else:
            xs, ys, sws = _data.unpack_batch(data)
        n = xs[0].shape[0]
        # One walk over the layers per step (Layer.trainable_weights would walk them again).
        weights = self.weights
        trainable = [v for v in weights if v.trainable] if self.trainable else []
        self._zero_grads(weights)
        distribution = self._distribution
        if self._trackers is None:  # a step outside fit/evaluate/*_on_batch
            self._reset_trackers()
        if n == 0 and distribution is not None:
            # This replica's shard of a short last batch is empty: no forward pass, but it
            # must join the gradient reduction and apply the shared update, and the
            # all-reduces of synchronized layers (forward in layer order, backward reversed).
            synced = _synchronized_layers(self)
            for layer in synced:
                layer.synchronize_empty_forward()
            for layer in reversed(synced):
                layer.synchronize_empty_backward()
            distribution.reduce_gradients(trainable, 0)
            self.optimizer.apply(trainable)
            return None
        skip = _fast.input_grad_skipper(self)
        if skip is not None:
            skip._skip_input_grad = True
        try:
            outs, backward, extras = self._forward_graph(xs, training=True)
        finally:
            if skip is not None:
                skip._skip_input_grad = False
        if self._autocast_dtype is not None:  # mixed policy: losses and metrics in float32
            outs = _float_outputs(self, outs)
        self._compiled_outputs.build_metrics(ys, outs)
        masks = self._take_output_masks()
        total, dys, per_output = self._loss_and_grads(ys, outs, sws, masks=masks)
        for e in extras:
            total = e if total is None else total + e
        if total is None:
            raise self._no_loss_error()
        scale = _loss_scale(self.optimizer)
        if scale is None:
            total = self._regularization(total, weights)
            backward(dys)
        else:
            self._scaled_backward(backward, dys, total, weights, scale)
            total = self._regularization(total, weights, grads=False)
        if distribution is not None:
            distribution.reduce_gradients(trainable, n)
        self.optimizer.apply(trainable)
        self._trackers.update(total, per_output, ys, outs, sws, n, masks)
        return total

    def test_step(self, data):
        """Loss and metric update for one batch in inference mode; returns the total loss.

        Args:
            data: the batch tuple ``(x, y, sample_weight)``, as for ``train_step``.
        """
        xs, ys, sws = _data.unpack_batch(data)
        if self._trackers is None:
            self._reset_trackers()
        outs, _, extras = self._forward_graph(xs, training=False)
        if self._autocast_dtype is not None:  # mixed policy: losses and metrics in float32
            outs = _float_outputs(self, outs)
        self._compiled_outputs.build_metrics(ys, outs)
        masks = self._take_output_masks()
        total, _, per_output = self._loss_and_grads(ys, outs, sws, grads=False, masks=masks)
        for e in extras:
            total = e if total is None else total + e
        if total is None:
            raise self._no_loss_error()
        for v in self._regularized_weights():
            total = total + v.regularizer(v.value)
        self._trackers.update(total, per_output, ys, outs, sws, int(xs[0].shape[0]), masks)
        return total

    def predict_step(self, data):
        """The model's outputs for one batch in inference mode (device arrays; a list for
        several outputs).

        Args:
            data: the batch tuple ``(x, None, None)`` (or ``(x,)``, or ``x``).
        """
        xs, _, _ = _data.unpack_batch(data)
        outs, _, _ = self._forward_graph(xs, training=False)
        return outs[0] if len(outs) == 1 else outs

    def _train_step(self, xs, ys, sws, n):
        """``train_step`` on lists (kept for bench/ and tools written against it)."""
        return self.train_step(_data.pack_batch(xs, ys, sws))

    def _zero_grads(self, variables):
        for v in variables:
            v.grad = None

    def _take_output_masks(self):
        """The masks of the outputs of the forward pass just run (see the module
        docstring), or None when none carries one; read once per forward."""
        masks = self.__dict__.get("_output_masks")
        if masks is None:
            return None
        self._output_masks = None
        return masks if any(m is not None for m in masks) else None

    def _loss_and_grads(self, ys, outs, sws, grads=True, masks=None):
        """Total objective (device scalar), the gradient of it w.r.t. each output
        (``grads=False``: evaluation, no gradients) and each output's loss. ``masks``:
        the outputs' masks (None, or one per output), applied as Keras applies
        ``y_pred._keras_mask``."""
        co = self._compiled_outputs
        total = None
        dys = []
        per_output = []
        fused_ce = self._fused_ce
        if fused_ce is None and grads:
            fused_ce = self._fused_ce = _fast.FusedCrossEntropy()
        for i, (y, p) in enumerate(zip(ys, outs)):
            loss = co.losses[i]
            if loss is None or y is None:
                dys.append(self.xp.zeros_like(p) if grads else None)
                per_output.append(None)
                continue
            w = co.weights[i]
            mask = None if masks is None else masks[i]
            # The fused shortcut averages over every entry: a masked output takes the loss's own path.
            kernel = fused_ce.kernel(self, loss, p) if grads and mask is None else None
            if kernel is not None:
                # Straight to the logits of the last layer: (p - y)·w/N; the value stays Keras's.
                value, dy = _fast.fused_loss_and_grad(self, kernel, loss, y, p, sws[i], w)
                dys.append(dy)
            else:
                value, back = loss.forward(y, p, sws[i]) if mask is None else \
                    loss.forward(y, p, sws[i], mask=mask)
                dys.append(back(w) if grads else None)
            per_output.append(value)
            contrib = value * w if w != 1.0 else value
            total = contrib if total is None else total + contrib
        return total, dys, per_output

    def _regularization(self, total, weights=None, grads=True):
        for v in self._regularized_weights(weights):
            total = total + v.regularizer(v.value)
            if grads and v.trainable:
                v.add_grad(v.regularizer.grad(v.value))
        return total

    def _scaled_backward(self, backward, dys, total, weights, scale):
        """The backward pass of the loss times ``scale`` (Keras's ``optimizer.scale_loss``):
        the output gradients, the weight penalties' gradients and (through
        ``dtype_policies.loss_scale``) the activity / add_loss terms' are all scaled; the
        optimizer divides the gradients by ``scale`` again."""
        for v in self._regularized_weights(weights):
            if v.trainable:
                v.add_grad(v.regularizer.grad(v.value) * scale)
        dys = [None if d is None
               else _fast.PreActivationGrad(d.pre_activation_grad * scale)
               if isinstance(d, _fast.PreActivationGrad) else d * scale for d in dys]
        with _dtype_policies.loss_scale_scope(scale):
            backward(dys)

    def _regularized_weights(self, weights=None):
        weights = self.weights if weights is None else weights
        cache = getattr(self, "_reg_cache", None)
        if cache is None or cache[0] != len(weights):
            regs = [v for v in weights if v.regularizer is not None]
            self._reg_cache = (len(weights), regs)
            return regs
        return cache[1]

    # ------------------------------------------------------------------ running sums and logs
    def _reset_trackers(self, record_batches=False):
        self._trackers = MetricTrackers(self.backend, self._compiled_outputs, record_batches)

    def _read_logs(self):
        trackers = self._trackers
        logs = trackers.logs()
        if self._distribution is not None:
            logs = self._distribution.reduce_logs(logs, trackers.sums(logs))
        return logs

    def _format_batch_logs(self, return_dict, result=None):
        # A custom step's returned dict is the log, as Keras; else the running sums.
        logs = _step.pythonify_logs(self.backend, result) if isinstance(result, dict) \
            else self._read_logs()
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    # ------------------------------------------------------------------ evaluate / predict
    def _evaluate_adapter(self, data, callbacks=None):
        saved = self._trackers
        self._reset_trackers()
        test_step = self.test_step
        custom = self._overrides("test_step")
        returned = None
        if custom:
            self.reset_metrics()
        for step, batch in enumerate(data):
            if callbacks is not None:
                callbacks.call("on_test_batch_begin", step, None)
            if custom:
                result = test_step(_step.keras_batch(batch))
                if isinstance(result, dict):
                    returned = result
            else:
                test_step(batch)
            if callbacks is not None:
                # Keras hands the batch's logs: a custom step's dict, else the running sums.
                callbacks.call("on_test_batch_end", step,
                               result if custom and isinstance(result, dict)
                               else self._trackers.lazy_logs())
        # A custom test_step's returned dict is the log, as Keras; else the running sums.
        logs = _step.pythonify_logs(self.backend, returned) if returned is not None \
            else self._read_logs()
        self._trackers = saved
        return logs

    def _evaluate_arrays(self, xs, ys, sws, batch_size=32, callbacks=None):
        data = _data.ArrayDataAdapter(self.backend, xs, ys, sws, batch_size=batch_size, shuffle=False)
        return self._evaluate_adapter(data, callbacks)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False):
        """Loss and metrics on (x, y) in inference mode: a float, a list or (return_dict) a dict.

        Args follow Keras: batch_size (default 32), verbose (0 silent; otherwise one line
        of logs), sample_weight, callbacks (their on_test_* methods run), return_dict.
        """
        self._require_compiled("evaluating")
        data = None
        if _adapters.is_dataset(x):
            data = _adapters.select(self, x, y, sample_weight, batch_size, steps=steps)
            num_steps = data.num_batches if steps is None or data.num_batches is None else \
                min(steps, data.num_batches)
            num_steps = steps if num_steps is None else num_steps
        else:
            batch_size = check_positive_int(32 if batch_size is None else batch_size, "batch_size")
            if x is None or (y is None and not self._targets_optional("test_step")):
                raise ValueError("evaluate: x and y are required (y may be omitted when the "
                                 "model was compiled without a loss or overrides test_step)")
            xs_raw, ys_raw, n = self._standardize_xy(x, y)
            xs = self._prepare_inputs(xs_raw, stream="auto")
            self._ensure_compiled_outputs()
            ys = self._prepare_targets(ys_raw, self._output_shapes())
            sws = self._sample_weights(sample_weight, None, ys, n)
            if y is None:   # the model's own losses (add_loss) or a custom test_step
                ys, sws = [], []
            num_steps = -(-n // batch_size)
        cbl = _callbacks.CallbackList(callbacks, self, {"steps": num_steps, "epochs": 1,
                                      "verbose": verbose}, add_progbar=bool(verbose))
        cbl.call("on_test_begin", None)
        if data is None:
            logs = self._evaluate_arrays(xs, ys, sws, batch_size=batch_size, callbacks=cbl)
        else:
            try:
                logs = self._evaluate_adapter(data, cbl)
            finally:
                data.close()
        cbl.call("on_test_end", logs)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Outputs for x in inference mode, as host NumPy arrays (a list for several
        outputs, a dict for a functional model with dict outputs).

        Args follow Keras: batch_size (default 32), callbacks (on_predict_* run).
        """
        if _adapters.is_dataset(x):
            data = _adapters.select(self, x, batch_size=batch_size, steps=steps, targets=False)
        else:
            batch_size = check_positive_int(32 if batch_size is None else batch_size, "batch_size")
            xs = self._prepare_inputs(x, stream="auto")
            data = _data.ArrayDataAdapter(self.backend, xs, batch_size=batch_size, shuffle=False)
        cbl = _callbacks.CallbackList(callbacks, self, {"steps": data.num_batches, "epochs": 1,
                                      "verbose": verbose}, add_progbar=bool(verbose))
        cbl.call("on_predict_begin", None)
        chunks = None
        predict_step = self.predict_step
        for step, batch in enumerate(data):
            cbl.call("on_predict_batch_begin", step, None)
            outs = predict_step(batch)
            outs = outs if isinstance(outs, list) else [outs]
            if chunks is None:
                chunks = [[] for _ in outs]
            for c, o in zip(chunks, outs):
                c.append(o)
            cbl.call("on_predict_batch_end", step, {"outputs": outs[0] if len(outs) == 1 else outs})
        data.close()
        cbl.call("on_predict_end", None)
        xp = self.xp
        results = [self.backend.to_numpy(xp.concat(c, axis=0) if len(c) > 1 else c[0]) for c in chunks]
        return self._structure_outputs(results)

    def _structure_outputs(self, results):
        if getattr(self, "_output_keys", None):  # functional model with dict outputs: a dict, as Keras
            return dict(zip(self._output_keys, results))
        return results[0] if len(results) == 1 else results

    # ------------------------------------------------------------------ on-batch API
    def _batch_arrays(self, x, y, sample_weight, class_weight):
        xs_raw, ys_raw, n = self._standardize_xy(x, y)
        xs = self._prepare_inputs(xs_raw)
        self._ensure_compiled_outputs()
        ys = self._prepare_targets(ys_raw, self._output_shapes())
        sws = self._sample_weights(sample_weight, class_weight, ys, n)
        return _data.pack_batch(xs, ys, sws)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One training step on one batch; returns the loss (and metrics) of that batch."""
        self._require_compiled("training")
        data = self._batch_arrays(x, y, sample_weight, class_weight)
        self._reset_trackers()
        if self._overrides("train_step"):
            data = _step.keras_batch(data)
        if self._train_step_hooks:
            result = self._hooked_train_step(data)
        else:
            result = self.train_step(data)
        return self._format_batch_logs(return_dict, result)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Loss (and metrics) of one batch in inference mode."""
        self._require_compiled("testing")
        data = self._batch_arrays(x, y, sample_weight, None)
        self._reset_trackers()
        if self._overrides("test_step"):
            data = _step.keras_batch(data)
        result = self.test_step(data)
        return self._format_batch_logs(return_dict, result)

    def predict_on_batch(self, x):
        """Outputs of one batch (host NumPy)."""
        xs = self._prepare_inputs(x)
        outs = self.predict_step((xs[0] if len(xs) == 1 else xs, None, None))
        outs = outs if isinstance(outs, list) else [outs]
        return self._structure_outputs([self.backend.to_numpy(o) for o in outs])

    # ------------------------------------------------------------------ fit(distributed=True)
    def _fit_data_parallel(self, x, y, **kwargs):
        return _distribution.data_parallel(self).fit(x, y, **kwargs)


def _synchronized_layers(model):
    """The layers (nested ones included) that join cross-process all-reduces, in layer order."""
    found, seen = [], set()

    def walk(layer):
        if id(layer) in seen:
            return
        seen.add(id(layer))
        if hasattr(layer, "synchronize_empty_forward"):
            found.append(layer)
        for child in list(getattr(layer, "layers", None) or []):
            walk(child)
        for attr in ("layer", "forward_layer", "backward_layer"):
            child = getattr(layer, attr, None)
            if child is not None and hasattr(child, "weights"):
                walk(child)

    for layer in model.layers:
        walk(layer)
    return found



def _loss_scale(optimizer):
    """What the built-in step multiplies the loss by (Keras's ``optimizer.scale_loss``):
    a LossScaleOptimizer's ``dynamic_scale``, an optimizer's ``loss_scale_factor``, or None."""
    if isinstance(optimizer, _optimizers.LossScaleOptimizer):
        return optimizer.dynamic_scale
    return getattr(optimizer, "loss_scale_factor", None)


def _float_outputs(model, outs):
    """Outputs of a mixed-precision model cast to its variable dtype (float32) for the
    losses and metrics, as Keras's losses and metrics convert ``y_pred`` to their dtype."""
    xp = model.backend.xp
    target = model.backend.dtype(model.dtype)
    return [o if o is None or o.dtype == target or not xp.isdtype(o.dtype, "real floating")
            else xp.astype(o, target) for o in outs]
