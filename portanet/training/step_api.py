"""Keras 3's API for custom training steps: ``compute_loss``, ``compute_metrics``,
``metrics``, ``reset_metrics``, ``get_metrics_result`` (a ``Trainer`` part), and the batch
packing a custom ``train_step(data)`` receives.

A custom step is written as with Keras's torch backend, the tape replacing
``loss.backward()`` (and TensorFlow's ``tf.GradientTape``)::

    class CustomModel(pn.Model):
        def train_step(self, data):
            x, y = data
            with pn.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compute_loss(y=y, y_pred=y_pred)
            grads = tape.gradient(loss, self.trainable_weights)
            self.optimizer.apply(grads, self.trainable_weights)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

``fit``/``evaluate`` log what such a step returns (nested dicts flattened, values read as
Python floats). The built-in steps keep their own device-side running sums instead.
"""

import warnings

from .. import metrics as _metrics
from ..ops import tape as _tape


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """Keras's ``data`` for a step: ``x`` alone (``(x,)`` when x is a list) without
    targets, ``(x, y)`` without sample weights, else ``(x, y, sample_weight)``."""
    if y is None:
        return (x,) if isinstance(x, (list, tuple)) else x
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def unpack_x_y_sample_weight(data):
    """``(x, y, sample_weight)`` of a step's ``data`` (missing parts are None), as Keras's
    ``keras.utils.unpack_x_y_sample_weight``."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data
    raise ValueError(f"data: expected a tuple (x,), (x, y) or (x, y, sample_weight); got a "
                     f"tuple of {len(data)} elements")


def keras_batch(data):
    """The adapter's ``(x, y, sample_weight)`` in Keras's packed form (for custom steps)."""
    if type(data) is tuple and len(data) == 3:
        return pack_x_y_sample_weight(*data)
    return data


def _flatten_logs(logs, out=None):
    out = {} if out is None else out
    for key, value in logs.items():
        if isinstance(value, dict):
            _flatten_logs(value, out)
        else:
            out[key] = value
    return out


def pythonify_logs(backend, logs):
    """A step's returned dict as logs: nested dicts flattened, scalars as Python floats,
    per-class results as host arrays (as Keras's ``pythonify_logs``)."""
    out = {}
    for key, value in _flatten_logs(logs).items():
        value = _tape.value_of(value)
        if isinstance(value, (int, float)):
            out[key] = float(value)
        elif len(getattr(value, "shape", ())) > 0:
            out[key] = backend.to_numpy(value).copy()
        else:
            out[key] = backend.to_float(value)
    return out


class CompileMetrics(_metrics.Metric):
    """The metrics given to ``compile`` as one metric (Keras's ``compile_metrics``):
    ``update_state(y, y_pred, sample_weight=None)`` updates each of them on its output,
    ``result()`` is a dict by log name."""

    def __init__(self, model):
        super().__init__(name="compile_metrics")
        self._model = model

    def _compiled(self):
        self._model._ensure_compiled_outputs()
        return self._model._compiled_outputs

    def update_state(self, y_true, y_pred, sample_weight=None):
        co = self._compiled()
        n = len(co.names)
        ys = [_tape.value_of(v) for v in (list(y_true) if n > 1 else [y_true])]
        given = list(y_pred) if n > 1 else [y_pred]
        masks = [_tape.keras_mask_of(v) for v in given]   # what y_pred carries, as Keras
        ps = [_tape.value_of(v) for v in given]
        sws = sample_weight if isinstance(sample_weight, (list, tuple)) else [sample_weight] * n
        sws = [_tape.value_of(w) for w in sws]
        co.build_metrics(ys, ps)
        for i, _, m, weighted in co.metrics:
            sw = sws[i] if weighted else None
            if masks[i] is not None and isinstance(m, _metrics.MeanMetricWrapper):
                sw = _metrics.masked_sample_weight(sw, _tape.value_of(masks[i]))
            m.update_state(ys[i], ps[i], sw)

    def result(self):
        co = self._model._compiled_outputs
        return {key: m.result() for _, key, m, _ in (co.metrics or [])} if co is not None else {}

    @property
    def metrics(self):
        """The compiled metric objects (built on the first batch), as Keras's
        ``CompileMetrics.metrics``: what a callback reads to learn a metric's direction."""
        co = self._model._compiled_outputs
        return [m for _, _, m, _ in (co.metrics or [])] if co is not None else []

    def reset_state(self):
        co = self._model._compiled_outputs
        if co is not None:
            co.reset_metrics()


class _DeprecatedCompiledMetrics:
    """What ``model.compiled_metrics`` returns: Keras 3's shim of tf.keras's attribute."""

    def __init__(self, model):
        self._model = model

    def update_state(self, y, y_pred, sample_weight=None):
        warnings.warn(
            "`model.compiled_metrics()` is deprecated. "
            "Instead, use e.g.:\n"
            "```\n"
            "for metric in self.metrics:\n"
            "    metric.update_state(y, y_pred)\n"
            "```\n",
            stacklevel=2,
        )
        for metric in self._model.metrics:
            if isinstance(metric, _metrics.Mean):
                metric.update_state(_tape.value_of(y_pred), sample_weight=sample_weight)
            else:
                metric.update_state(y, y_pred, sample_weight=sample_weight)


class StepAPI:
    """Keras 3's ``compute_loss``/``compute_metrics``/``metrics`` for custom steps (a
    ``Trainer`` mixin; see the module docstring)."""

    _loss_tracker = None
    _compile_metrics = None

    def _init_step_metrics(self):
        """Called by ``compile``: the loss tracker and the compiled metrics' container."""
        self._loss_tracker = _metrics.Mean(name="loss")
        self._compile_metrics = CompileMetrics(self)

    @property
    def metrics(self):
        """The metrics a step updates, as Keras 3: the loss tracker (``Mean(name="loss")``),
        the compiled metrics (one ``CompileMetrics`` named "compile_metrics"), then the
        ``Metric`` objects assigned to the model's attributes. A subclass may override it
        (``fit`` and ``evaluate`` reset what it lists at the start of each epoch / run)."""
        out = []
        if self.compiled and self._loss_tracker is not None:
            out.append(self._loss_tracker)
            if self._metrics_spec is not None or self._weighted_metrics_spec is not None:
                out.append(self._compile_metrics)
        seen = {id(m) for m in out}
        for key, value in self.__dict__.items():
            if isinstance(value, _metrics.Metric) and not key.startswith("_") \
                    and id(value) not in seen:
                seen.add(id(value))
                out.append(value)
        return out

    @property
    def metrics_names(self):
        return [m.name for m in self.metrics]

    def reset_metrics(self):
        """``reset_state()`` of every metric in ``self.metrics``."""
        for m in self.metrics:
            m.reset_state()

    def get_metrics_result(self):
        """``{name: result}`` of ``self.metrics`` (a dict result, such as the compiled
        metrics', is merged in)."""
        out = {}
        for m in self.metrics:
            r = m.result()
            if isinstance(r, dict):
                out.update(r)
            else:
                out[m.name] = r
        return out

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Update the compiled metrics with a batch and return ``get_metrics_result()``
        (Keras 3; ``x`` is unused by the default implementation)."""
        if self._compile_metrics is not None and (
                self._metrics_spec is not None or self._weighted_metrics_spec is not None):
            self._compile_metrics.update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()

    @property
    def compiled_metrics(self):
        """tf.keras's ``compiled_metrics``, kept as Keras 3 keeps it (its TensorFlow
        trainer's shim, with its warning): ``update_state(y, y_pred, sample_weight=None)``
        updates every metric of ``self.metrics``, a ``Mean`` with ``y_pred`` alone, the
        others with ``(y, y_pred, sample_weight)``. As in Keras 3, that includes the loss
        tracker (a ``Mean``): the "loss" logged by a step that uses it is the mean of
        ``y_pred`` unless the step updates the tracker itself; use ``compute_loss`` and
        ``self.metrics`` instead."""
        return _DeprecatedCompiledMetrics(self)

    def compiled_loss(self, y, y_pred, sample_weight=None, regularization_losses=None):
        """tf.keras's ``compiled_loss(y, y_pred)``, kept as Keras 3 keeps it (its TensorFlow
        trainer's shim, with its warning): ``compute_loss(x=None, y=y, y_pred=y_pred,
        sample_weight=sample_weight)``, which already adds ``self.losses``
        (``regularization_losses`` is accepted and ignored, as in Keras 3)."""
        warnings.warn(
            "`model.compiled_loss()` is deprecated. Instead, use "
            "`model.compute_loss(x, y, y_pred, sample_weight, training)`.",
        )
        return self.compute_loss(x=None, y=y, y_pred=y_pred, sample_weight=sample_weight)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The total loss of a batch, as Keras 3: the compiled losses (weighted by
        ``loss_weights``), plus ``self.losses`` (``add_loss`` terms of the last call), plus
        the weights' regularization penalties. Called inside a ``GradientTape`` on the
        traced ``y_pred`` it is differentiable with ``tape.gradient``.

        Args:
            x: the inputs (unused by the default implementation).
            y: the targets (a list for several outputs).
            y_pred: the model's outputs (a list for several outputs).
            sample_weight: None, an array, or one per output.
            training: whether the step trains (kept for Keras compatibility).
        """
        self._require_compiled("computing a loss")
        self._ensure_compiled_outputs()
        co = self._compiled_outputs
        n = len(co.names)
        total = None
        if y is not None and y_pred is not None:
            ys = list(y) if n > 1 else [y]
            ps = list(y_pred) if n > 1 else [y_pred]
            sws = sample_weight if isinstance(sample_weight, (list, tuple)) else [sample_weight] * n
            for loss, w, yt, yp, sw in zip(co.losses, co.weights, ys, ps, sws):
                if loss is None or yt is None:
                    continue
                value = loss(yt, yp, sw)
                term = value * w if w != 1.0 else value
                total = term if total is None else total + term
        for extra in self.losses:    # add_loss terms and the weights' regularization, as Keras
            total = extra if total is None else total + extra
        if total is None:
            raise ValueError(f"compute_loss: model {self.name!r} has no loss to compute: "
                             "compile() was given no loss and the model added none with "
                             "add_loss(). Pass loss=... to compile().")
        return total
