"""``TrainingDiagnostics``: the lecture's lessons checked while a model trains
(gradient norms, update ratios, saturated and dead units, the loss's course)."""

import math

from ._layer_probe import _activation_kind, _capture_outputs, _fmt, _leaf_layers, _norm
from .callback import Callback


class TrainingDiagnostics(Callback):
    """Per-epoch health checks of training, with warnings and remedies in plain words.

    Once per epoch (on the last batch's gradients, which are still on the weights after
    the step) it measures for every layer with trainable weights:

    - ``gradient_norm``: the L2 norm of the layer's gradients;
    - ``update_ratio``: ||w_after - w_before|| / ||w_after|| of the last step (about 1e-3
      is typical of healthy training);
    - ``saturation`` (sigmoid/tanh layers, except the model's output layer, where confident
      predictions look saturated): the fraction of unit outputs within 0.01 of an asymptote
      on a probe batch (the first ``probe_size`` rows the training steps see), where the derivative is tiny;
    - ``dead_fraction`` (ReLU layers): the fraction of units that output 0 on every row of
      the probe batch ("dead ReLUs" never recover: their gradient is 0).

    All of an epoch's numbers come back in one device read; steps other than the last of
    each epoch cost nothing. Warnings (each kind printed once, at its first epoch, and kept in
    ``self.warnings``):

    - exploding gradients: a gradient norm above ``max_gradient_norm`` or not finite
      (remedy: clipnorm, a smaller rate or initialization);
    - vanishing gradients: a layer's gradient norm below ``vanishing_ratio`` times the
      largest layer's (remedy: ReLU, standardized inputs, Glorot/He initialization);
    - saturated units: more than ``saturation_threshold`` of a layer's outputs saturated
      (remedy: standardize the inputs, a smaller initialization);
    - dead units: more than ``dead_threshold`` of a ReLU layer's units dead, or a layer whose
      gradient is exactly 0 (remedy: a smaller learning rate, standardized inputs);
    - the loss is NaN/Inf or diverging (an epoch's loss above ``divergence_factor`` times
      the best, an iteration's loss above twice the first iteration's, or a rise within an
      epoch) - the learning rate is too large;
    - the loss barely moves (less than ``stall_tolerance`` relative decrease after
      ``stall_epochs`` epochs) - the learning rate is too small.

    Args:
        max_gradient_norm: gradient norm above which gradients are called exploding.
        vanishing_ratio: ratio to the largest layer gradient norm below which a layer's
            gradients are called vanishing.
        saturation_threshold: fraction of saturated outputs that triggers a warning.
        dead_threshold: fraction of dead ReLU units that triggers a warning.
        divergence_factor: epoch loss above this multiple of the best epoch loss is divergence.
        stall_tolerance: relative decrease of the loss below which it "barely moves".
        stall_epochs: epochs after which a stalled loss is reported.
        probe_size: rows of the probe batch used to measure saturation.
        verbose: 0 silent (results only in ``records``/``warnings``), 1 print warnings and a
            closing summary, 2 also one line of numbers per epoch.

    Attributes:
        records: one dict per epoch: ``{"epoch", "loss", "layers": {name: {"gradient_norm",
            "update_ratio", "saturation", "dead_fraction"}}}`` (None where not measured).
        warnings: the warning texts, in order.

    Example:
        >>> model.fit(x, y, epochs=5, diagnostics=True)
        >>> # or: diag = pn.callbacks.TrainingDiagnostics(); model.fit(..., callbacks=[diag])
    """

    # Reads no per-batch logs: steps other than an epoch's last cost nothing.
    reads_batch_logs = False

    def __init__(self, max_gradient_norm=1e3, vanishing_ratio=1e-4, saturation_threshold=0.5,
                 divergence_factor=1.5, stall_tolerance=0.01, stall_epochs=3, probe_size=256,
                 verbose=1, dead_threshold=0.5):
        super().__init__()
        for name, value in (("max_gradient_norm", max_gradient_norm), ("vanishing_ratio", vanishing_ratio),
                            ("divergence_factor", divergence_factor), ("stall_tolerance", stall_tolerance)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"TrainingDiagnostics: {name}={value!r}; expected a positive number")
        for name, value in (("saturation_threshold", saturation_threshold),
                            ("dead_threshold", dead_threshold)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
                raise ValueError(f"TrainingDiagnostics: {name}={value!r}; expected a fraction in (0, 1]")
        for name, value in (("stall_epochs", stall_epochs), ("probe_size", probe_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"TrainingDiagnostics: {name}={value!r}; expected a positive integer")
        if verbose not in (0, 1, 2):
            raise ValueError(f"TrainingDiagnostics: verbose={verbose!r}; expected 0, 1 or 2")
        self.max_gradient_norm = float(max_gradient_norm)
        self.vanishing_ratio = float(vanishing_ratio)
        self.saturation_threshold = float(saturation_threshold)
        self.dead_threshold = float(dead_threshold)
        self.divergence_factor = float(divergence_factor)
        self.stall_tolerance = float(stall_tolerance)
        self.stall_epochs = stall_epochs
        self.probe_size = probe_size
        self.verbose = verbose
        self.records = []
        self.warnings = []

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, logs=None):
        model = self.model
        self.records = []
        self.warnings = []
        self._said = set()
        self._losses = []
        self._batch_seen = len((getattr(model.history, "batch_history", None) or {}).get("loss", []))
        self._layers = [layer for layer in _leaf_layers(model)
                        if any(v.trainable for v in layer.weights)]
        self._saturating = [layer for layer in _leaf_layers(model) if _activation_kind(layer)]
        self._first_batch_loss = None
        self._dead_layers = set()
        self._before = None
        self._epoch_stats = None
        # The probe rows are collected from the first training steps through the public
        # step hook (model.add_train_step_hook): any data fit takes (arrays, a PyDataset, a
        # generator) gives them, and the hook is removed once probe_size rows are in.
        self._probe = None
        self._probe_parts = None
        if self._saturating:
            self._probe_parts = []
            self._probe_hook = self._collect_probe  # one bound method, to remove it by identity
            model.add_train_step_hook(self._probe_hook)

    def _collect_probe(self, xs, ys, sws, n):
        """A train-step hook: keep copies of the step's first rows until ``probe_size``."""
        have = sum(int(p[0].shape[0]) for p in self._probe_parts)
        take = min(self.probe_size - have, n)
        if take > 0:
            xp = self.model.backend.xp
            self._probe_parts.append([xp.asarray(a[0:take, ...], copy=True) for a in xs])
        if have + take >= self.probe_size:
            self._finish_probe()
        yield

    def _finish_probe(self):
        """Stop collecting; the probe is the rows collected so far (None if none)."""
        self.model.remove_train_step_hook(self._probe_hook)
        parts, self._probe_parts = self._probe_parts, None
        if parts:
            xp = self.model.backend.xp
            self._probe = [xp.concat([p[i] for p in parts], axis=0) for i in range(len(parts[0]))]

    def on_epoch_begin(self, epoch, logs=None):
        self._before = None
        self._epoch_stats = None

    def _is_last_step(self, batch):
        steps = self.params.get("steps")
        return steps is not None and batch == steps - 1

    def on_train_batch_begin(self, batch, logs=None):
        if not self._is_last_step(batch):
            return
        xp = self.model.backend.xp
        # Copies, not references: flat-buffer optimizers update weights in place.
        self._before = {id(v): xp.asarray(v.value, copy=True)
                        for layer in self._layers for v in layer.weights if v.trainable}

    def on_train_batch_end(self, batch, logs=None):
        if self._before is None or not self._is_last_step(batch):
            return
        xp = self.model.backend.xp
        scalars = []
        plan = []
        for layer in self._layers:
            grads = [v.grad for v in layer.weights if v.trainable and v.grad is not None]
            values = [v for v in layer.weights if v.trainable]
            if not grads:
                continue
            g = xp.sqrt(sum(_norm(xp, gr) ** 2 for gr in grads))
            w = xp.sqrt(sum(_norm(xp, v.value) ** 2 for v in values))
            d = xp.sqrt(sum(_norm(xp, v.value - self._before[id(v)]) ** 2 for v in values
                            if id(v) in self._before))
            scalars += [g, w, d]
            plan.append(layer.name)
        self._epoch_stats = (plan, scalars)
        self._before = None

    def on_epoch_end(self, epoch, logs=None):
        model = self.model
        xp = model.backend.xp
        if self._probe_parts is not None:
            self._finish_probe()  # an epoch had fewer rows than probe_size
        plan, scalars = self._epoch_stats or ([], [])
        probe_plan = []
        if self._probe is not None:
            records, outputs = _capture_outputs(model, self._saturating, self._probe, training=False)
            out_ids = {id(o) for o in outputs}
            seen = set()
            for layer, _, y in records:
                if id(y) in out_ids or layer.name in seen or not hasattr(y, "shape") or y.ndim < 2:
                    continue
                seen.add(layer.name)
                kind = _activation_kind(layer)
                if kind == "relu":
                    # A unit (feature of the last axis) is dead when it is 0 on every probe row.
                    flat = xp.reshape(y, (-1, int(y.shape[-1])))
                    dead = xp.all(flat <= 0, axis=0)
                    scalars.append(xp.mean(xp.astype(dead, xp.float64)))
                    probe_plan.append((layer.name, "dead_fraction"))
                    continue
                if kind == "sigmoid":
                    sat = (y < 0.01) | (y > 0.99)
                else:
                    sat = xp.abs(y) > 0.99
                scalars.append(xp.mean(xp.astype(sat, xp.float64)))
                probe_plan.append((layer.name, "saturation"))
        values = model.backend.to_numpy(xp.stack(scalars)).tolist() if scalars else []
        layers = {}
        empty = {"gradient_norm": None, "update_ratio": None, "saturation": None, "dead_fraction": None}
        for k, name in enumerate(plan):
            g, w, d = values[3 * k:3 * k + 3]
            layers[name] = dict(empty, gradient_norm=g, update_ratio=d / w if w > 0 else math.inf)
        for k, (name, key) in enumerate(probe_plan):
            layers.setdefault(name, dict(empty))[key] = values[3 * len(plan) + k]
        loss = (logs or {}).get("loss")
        loss = None if loss is None else float(loss)
        record = {"epoch": epoch, "loss": loss, "layers": layers}
        self.records.append(record)
        if self.verbose >= 2:
            self._print(self._stats_line(record))
        self._check_layers(epoch, layers)
        self._check_loss(epoch, loss)

    def on_train_end(self, logs=None):
        if self._probe_parts is not None:
            self._finish_probe()
        if self.verbose >= 1 and self.records:
            if not self.warnings:
                self._print("TrainingDiagnostics: no problems found. " + self._summary())
            else:
                self._print(f"TrainingDiagnostics: {len(self.warnings)} warning(s). " + self._summary())

    # ------------------------------------------------------------------ checks
    def _lr_text(self):
        try:
            lr = float(self.model.optimizer.learning_rate)
            return f" (now {_fmt(lr)})", lr
        except Exception:
            return "", None

    def _warn(self, key, text):
        if key in self._said:
            return
        self._said.add(key)
        self.warnings.append(text)
        if self.verbose >= 1:
            self._print("WARNING: " + text)

    @staticmethod
    def _print(text):
        print(text, flush=True)

    def _check_layers(self, epoch, layers):
        grads = {n: s["gradient_norm"] for n, s in layers.items() if s["gradient_norm"] is not None}
        exploding = [(n, g) for n, g in grads.items()
                     if not math.isfinite(g) or g > self.max_gradient_norm]
        if exploding:
            listed = ", ".join(f"{n!r} {_fmt(g)}" for n, g in exploding)
            self._warn("explode",
                       f"Epoch {epoch + 1}: exploding gradients: gradient norm above "
                       f"{_fmt(self.max_gradient_norm)} or not finite in layer(s) {listed}. Clip the "
                       "gradients (e.g. optimizer=pn.optimizers.SGD(learning_rate=..., clipnorm=1.0)), "
                       "lower the learning rate, or start from smaller initial weights.")
        finite = {n: g for n, g in grads.items() if math.isfinite(g) and g > 0}
        dead = [(n, "all units get a zero gradient") for n, g in grads.items() if g == 0]
        dead += [(n, f"{100 * s['dead_fraction']:.0f}% of its ReLU units output 0 on every probe sample")
                 for n, s in layers.items() if s["dead_fraction"] is not None
                 and s["dead_fraction"] > self.dead_threshold and grads.get(n) != 0]
        self._dead_layers.update(n for n, _ in dead)
        if dead:
            listed = "; ".join(f"layer {n!r}: {why}" for n, why in dead)
            lr_text, _ = self._lr_text()
            self._warn("dead",
                       f"Epoch {epoch + 1}: dead units ({listed}), so they no longer learn. This "
                       f"usually follows a too-large step: lower the learning rate{lr_text}, "
                       "standardize the inputs, and re-initialize the model.")
        if len(finite) >= 2:
            top_name = max(finite, key=finite.get)
            top = finite[top_name]
            vanishing = [(n, g) for n, g in finite.items() if top > 0 and g < self.vanishing_ratio * top
                         and n not in self._dead_layers]
            if vanishing:
                listed = ", ".join(f"{n!r} {_fmt(g)}" for n, g in vanishing)
                self._warn("vanish",
                           f"Epoch {epoch + 1}: vanishing gradients: layer(s) {listed} get a gradient "
                           f"norm below {_fmt(self.vanishing_ratio)} of the largest (layer "
                           f"{top_name!r}, {_fmt(top)}), so they barely learn. Standardize the inputs, "
                           "use ReLU instead of sigmoid/tanh in hidden layers, or a Glorot/He "
                           "initialization.")
        saturated = [(n, s["saturation"]) for n, s in layers.items()
                     if s["saturation"] is not None and s["saturation"] > self.saturation_threshold]
        if saturated:
            listed = ", ".join(f"{n!r} {100 * f:.0f}%" for n, f in saturated)
            self._warn("saturate",
                       f"Epoch {epoch + 1}: saturated units: in layer(s) {listed} of the outputs are "
                       "within 0.01 of the sigmoid/tanh asymptotes, where the gradient is almost 0, "
                       "so those units stop learning. Standardize the inputs (pn.layers.Normalization "
                       "with adapt) and/or use smaller initial weights.")

    def _check_loss(self, epoch, loss):
        if loss is None:
            return
        lr_text, lr = self._lr_text()
        # The suggestion as a round number (the float32 rate 0.01 reads 0.0099999998).
        smaller = f" (e.g. {_fmt(float(format(lr / 10, '.3g')))})" if lr else ""
        if not math.isfinite(loss):
            self._warn(("loss", "nan"),
                       f"Epoch {epoch + 1}: the loss is {loss}: training diverged. The learning rate"
                       f"{lr_text} is too large: use a smaller one{smaller}, clip the gradients "
                       "(clipnorm=1.0) and standardize the inputs.")
            self._losses.append(loss)
            return
        finite = [v for v in self._losses if math.isfinite(v)]
        best = min(finite) if finite else None
        batch = (self.model.history.batch_history.get("loss", [])
                 if getattr(self.model, "history", None) is not None else [])
        this_epoch = batch[self._batch_seen:]
        self._batch_seen = len(batch)
        if self._first_batch_loss is None and this_epoch and math.isfinite(this_epoch[0]):
            self._first_batch_loss = this_epoch[0]
        first_batch = self._first_batch_loss
        peak = max((v for v in this_epoch if math.isfinite(v)), default=None)
        spiked = first_batch is not None and peak is not None and first_batch > 0 and peak > 2.0 * first_batch
        rising_within = False
        if len(this_epoch) >= 10:
            k = max(2, len(this_epoch) // 5)
            head = sum(this_epoch[:k]) / k
            tail = sum(this_epoch[-k:]) / k
            rising_within = math.isfinite(tail) and tail > 2.0 * head > 0
        rose = best is not None and loss > self.divergence_factor * best and best > 0
        if rose or rising_within or spiked:
            if rose:
                what = f"the epoch loss rose from {_fmt(best)} to {_fmt(loss)}"
            elif spiked:
                what = (f"an iteration's loss reached {_fmt(peak)}, more than twice the first "
                        f"iteration's ({_fmt(first_batch)})")
            else:
                what = "it rose within the epoch (the last iterations' loss is twice the first ones')"
            self._warn(("loss", "diverge"),
                       f"Epoch {epoch + 1}: the loss is diverging: {what}. The learning rate"
                       f"{lr_text} is too large: use a smaller one{smaller}, or clip the gradients "
                       "(clipnorm=1.0).")
        self._losses.append(loss)
        first = self._losses[0]
        if (len(self._losses) > self.stall_epochs and math.isfinite(first) and first > 1e-8
                and (first - loss) / abs(first) < self.stall_tolerance):
            larger = f" (e.g. {_fmt(lr * 10)})" if lr else ""
            self._warn(("loss", "stall"),
                       f"Epoch {epoch + 1}: the loss barely moves: {_fmt(first)} after the first epoch, "
                       f"{_fmt(loss)} now (less than {100 * self.stall_tolerance:g}% lower). The "
                       f"learning rate{lr_text} is probably too small: try a larger one{larger}, "
                       "or run pn.utils.find_learning_rate.")

    # ------------------------------------------------------------------ text
    def _stats_line(self, record):
        parts = []
        for name, s in record["layers"].items():
            bits = []
            if s["gradient_norm"] is not None:
                bits.append(f"grad {_fmt(s['gradient_norm'])}")
                bits.append(f"update/weight {_fmt(s['update_ratio'])}")
            if s["saturation"] is not None:
                bits.append(f"saturated {100 * s['saturation']:.1f}%")
            if s["dead_fraction"] is not None:
                bits.append(f"dead ReLU units {100 * s['dead_fraction']:.1f}%")
            parts.append(f"{name}: " + ", ".join(bits))
        return f"diagnostics epoch {record['epoch'] + 1}: " + "; ".join(parts)

    def _summary(self):
        grads = [s["gradient_norm"] for r in self.records for s in r["layers"].values()
                 if s["gradient_norm"] is not None and math.isfinite(s["gradient_norm"])]
        ratios = [s["update_ratio"] for r in self.records for s in r["layers"].values()
                  if s["update_ratio"] is not None and math.isfinite(s["update_ratio"])]
        sats = [s["saturation"] for r in self.records for s in r["layers"].values()
                if s["saturation"] is not None]
        deads = [s["dead_fraction"] for r in self.records for s in r["layers"].values()
                 if s["dead_fraction"] is not None]
        parts = []
        if grads:
            parts.append(f"gradient norms {_fmt(min(grads))} to {_fmt(max(grads))}")
        if ratios:
            parts.append(f"update/weight ratios {_fmt(min(ratios))} to {_fmt(max(ratios))}")
        if sats:
            parts.append(f"saturated outputs at most {100 * max(sats):.1f}%")
        if deads:
            parts.append(f"dead ReLU units at most {100 * max(deads):.1f}%")
        return ("Over all epochs: " + ", ".join(parts) + ".") if parts else ""
