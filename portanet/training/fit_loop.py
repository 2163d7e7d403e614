"""``fit``: argument checks, data and callbacks set-up, and the epoch loop (a ``Trainer`` part).

The epoch loop is deliberately plain: per step one callback call before and after and one
``train_step`` call (the hooked variant when training-step hooks are registered); the
loss and metric sums stay on the device and are read back when a log is read.
"""

import math
import warnings

from .. import callbacks as _callbacks
from .. import config as _config
from . import adapter_selection as _adapters
from . import data_adapter as _data
from . import step_api as _step
from .standardization import warn_if_not_standardized


def check_positive_int(value, name):
    """``value`` when it is a positive int, else a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name}={value!r}; expected a positive integer")
    return value


def _check_fit_args(batch_size, epochs, verbose, initial_epoch, validation_split, shuffle,
                    validation_freq, x, y, targets_optional=False):
    """fit's argument checks, before anything changes; returns (batch_size, verbose)."""
    batch_size = check_positive_int(32 if batch_size is None else batch_size, "batch_size")
    check_positive_int(epochs, "epochs")
    if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, int) or not 0 <= initial_epoch:
        raise ValueError(f"initial_epoch={initial_epoch!r}; expected a non-negative integer")
    if not isinstance(validation_split, (int, float)) or not 0.0 <= validation_split < 1.0:
        raise ValueError(f"validation_split={validation_split!r}; expected a float in [0, 1)")
    if shuffle not in (True, False, "batch"):
        raise ValueError(f"shuffle={shuffle!r}; expected True, False or 'batch'")
    check_positive_int(validation_freq, "validation_freq")
    if x is None or (y is None and not targets_optional and not _adapters.is_dataset(x)):
        raise ValueError("fit: x and y are required (arrays, or lists/dicts of arrays; or x alone "
                         "as a PyDataset, a generator or an iterable of (x, y) batches); y may "
                         "also be omitted when the model overrides train_step or was compiled "
                         "without a loss")
    verbose = 1 if verbose == "auto" else verbose
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose={verbose!r}; expected 0, 1, 2 or 'auto'")
    return batch_size, verbose


class FitLoop:
    """``fit`` and its parts; mixed into ``Trainer``."""

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
        sample_weight, initial_epoch, steps_per_epoch, validation_batch_size,
        validation_freq. ``record_batch_loss`` keeps the loss of every iteration in
        ``history.batch_history["loss"]`` (read back once per epoch).
        ``diagnostics=True`` adds ``pn.callbacks.TrainingDiagnostics()`` (per-epoch gradient
        norms, update/weight ratios, saturation, with warnings in plain words).
        Before training, fit warns once (``UserWarning``) when float inputs are far from
        standardized and the model has no ``Normalization`` layer.
        ``distributed=True`` trains data-parallel over the processes of an MPI launch
        (``pn.distributed.DataParallel``): batch_size is then the per-process batch.

        Each step calls ``self.train_step((x, y, sample_weight))``, so a subclass that
        overrides ``train_step`` is trained by it. A callback may set ``model._initial_epoch``
        in ``on_train_begin`` (BackupAndRestore does) to resume at that epoch.

        The hot loop: inputs move to the device once when they fit, i.e. when the host
        input arrays total at most ``$PORTANET_DEVICE_DATA_LIMIT`` bytes (default 2 GiB;
        targets and sample weights always move). Larger host inputs stay on the host:
        each epoch's order is one device permutation read back once, and each batch is
        gathered on the host and copied, the next batch's copy issued before the current
        step runs (on CuPy from pinned memory on a side stream, so it overlaps). Each
        epoch shuffles with a device permutation, the loss and metric sums stay on the
        device, and the loop reads them back only when it logs or a callback asks (with
        verbose=0 and no callbacks: a few reads per epoch, whatever the number of
        batches; tests/test_hot_loop.py holds it to that).
        """
        if distributed not in (True, False):
            raise ValueError(f"distributed={distributed!r}; expected True or False")
        if distributed:
            return self._fit_data_parallel(
                x, y, batch_size=batch_size, epochs=epochs, verbose=verbose, callbacks=callbacks,
                validation_split=validation_split, validation_data=validation_data,
                shuffle=shuffle, class_weight=class_weight, sample_weight=sample_weight,
                initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch,
                validation_steps=validation_steps, validation_batch_size=validation_batch_size,
                validation_freq=validation_freq, record_batch_loss=record_batch_loss,
                diagnostics=diagnostics)
        self._require_compiled("training")
        epochs, steps_per_epoch = _debug_caps(epochs, steps_per_epoch)
        given_batch_size = batch_size
        # A custom train_step may train without targets (fit(x), as Keras's VAE example),
        # and so may a model compiled without a loss (its add_loss terms are the loss).
        batch_size, verbose = _check_fit_args(batch_size, epochs, verbose, initial_epoch,
                                              validation_split, shuffle, validation_freq, x, y,
                                              targets_optional=self._targets_optional("train_step"))
        if _adapters.is_dataset(x):
            train, val = _adapters.fit_data(self, x, y, given_batch_size, shuffle, validation_split,
                                            validation_data, class_weight, sample_weight,
                                            steps_per_epoch, validation_steps)
            if getattr(train, "first_inputs", None) is not None:  # not for a user's DataAdapter
                self._check_standardization(train.first_inputs)
        else:
            train, val = self._fit_data(x, y, batch_size, shuffle, validation_split, validation_data,
                                        class_weight, sample_weight)
        if isinstance(val, _data.DataAdapter):
            val.steps = validation_steps
        if self._distribution is not None:
            self._distribution.shard(train)
        steps = train.num_batches if steps_per_epoch is None else \
            steps_per_epoch if train.num_batches is None else min(train.num_batches, steps_per_epoch)
        cblist = self._fit_callbacks(callbacks, verbose, diagnostics, {
            "epochs": epochs, "steps": steps, "verbose": verbose, "batch_size": batch_size,
            "samples": train.size})
        self.history = history = next(cb for cb in cblist if isinstance(cb, _callbacks.History))
        self.stop_training = False
        cblist.call("on_train_begin", None)
        if self._initial_epoch is not None:
            # Set in on_train_begin by a callback that resumed an interrupted run.
            initial_epoch, self._initial_epoch = self._initial_epoch, None
        epoch_logs = {}
        for epoch in range(initial_epoch, epochs):
            # As Keras: the logs sorted by name, then the sorted validation logs; callbacks
            # add theirs after (ReduceLROnPlateau's learning_rate), and the bar keeps that order.
            epoch_logs = dict(sorted(self._fit_epoch(epoch, train, cblist, steps_per_epoch,
                                                     record_batch_loss).items()))
            if getattr(train, "last_count", None) == 0:
                break  # the generator ran out (warned): no epoch to log
            if val is not None and (epoch + 1) % validation_freq == 0:
                val_logs = self._validate(val, cblist, validation_batch_size or batch_size)
                if getattr(val, "last_count", None) != 0:
                    epoch_logs.update({"val_" + k: v for k, v in sorted(val_logs.items())})
            cblist.call("on_epoch_end", epoch, epoch_logs)
            if self.stop_training:
                break
        self.optimizer.finalize_variable_values(self.trainable_weights)  # use_ema: averages in
        cblist.call("on_train_end", epoch_logs)
        _adapters.close(train, val)
        return history

    def _validate(self, val, cblist, batch_size):
        """The validation pass at an epoch's end, as Keras's fit runs ``evaluate`` with its
        own callbacks: ``on_test_begin``, ``on_test_batch_begin``/``end`` per batch and
        ``on_test_end`` with the validation logs (the progress bar stays silent)."""
        cblist.call("on_test_begin", None)
        if isinstance(val, _data.DataAdapter):
            val_logs = self._evaluate_adapter(val, cblist)
        else:
            val_logs = self._evaluate_arrays(*val, batch_size=batch_size, callbacks=cblist)
        cblist.call("on_test_end", val_logs)
        return val_logs

    def _fit_epoch(self, epoch, train, cblist, steps_per_epoch, record_batch_loss):
        """One epoch over ``train``; returns the epoch's logs (loss and metrics)."""
        self._reset_trackers(record_batches=record_batch_loss)
        # A custom train_step gets Keras's packed data ((x, y) without sample weights)
        # and its returned dict is the log; the built-in step keeps its device-side sums.
        custom = self._overrides("train_step")
        if custom:
            self.reset_metrics()
        returned = None
        cblist.call("on_epoch_begin", epoch, None)
        self.backend.begin_epoch()
        train_step = self.train_step
        reads_logs = cblist.reads_batch_logs
        for step, data in enumerate(train):
            if steps_per_epoch is not None and step >= steps_per_epoch:
                break
            cblist.call("on_train_batch_begin", step, None)
            if custom:
                data = _step.keras_batch(data)
            if self._train_step_hooks:
                result = self._hooked_train_step(data)
            else:
                result = train_step(data)
            if custom and isinstance(result, dict):
                returned = result
                batch_logs = _step.pythonify_logs(self.backend, result) if reads_logs else None
            else:
                batch_logs = self._trackers.lazy_logs() if reads_logs else None
            cblist.call("on_train_batch_end", step, batch_logs)
            if self.stop_training:
                break
        epoch_logs = _step.pythonify_logs(self.backend, returned) if returned is not None \
            else self._read_logs()
        batch_losses = self._trackers.batch_losses
        if batch_losses:
            values = self.backend.to_numpy(self.xp.stack(batch_losses))
            self.history.batch_history.setdefault("loss", []).extend(float(v) for v in values)
        return epoch_logs

    def _fit_callbacks(self, callbacks, verbose, diagnostics, params):
        """Keras's order: the user's callbacks (then diagnostics), then History, then the
        progress bar, each added unless the user gave one. So a callback that writes into
        an epoch's logs (ReduceLROnPlateau's ``learning_rate``) does so before History records
        them, and a callback's message ("\\nEpoch 1: ...") comes before the bar's last redraw."""
        cbs = list(callbacks or [])
        if diagnostics and not any(isinstance(cb, _callbacks.TrainingDiagnostics) for cb in cbs):
            cbs.append(_callbacks.TrainingDiagnostics())
        if not any(isinstance(cb, _callbacks.History) for cb in cbs):
            cbs.append(_callbacks.History())
        if verbose and not any(isinstance(cb, _callbacks.ProgbarLogger) for cb in cbs):
            cbs.append(_callbacks.ProgbarLogger(verbose=verbose))
        return _callbacks.CallbackList(cbs, self, params)

    def _fit_data(self, x, y, batch_size, shuffle, validation_split, validation_data,
                  class_weight, sample_weight):
        """The training ``DataAdapter`` and the validation arrays (or None), all checked."""
        xs_raw, ys_raw, n = self._standardize_xy(x, y)
        if n == 0:
            raise ValueError("fit: x has no samples")
        if validation_split and validation_data is not None:
            validation_split = 0.0  # Keras: validation_data takes precedence
        xs = self._prepare_inputs(xs_raw, stream="auto")
        self._check_standardization(xs)
        self._ensure_compiled_outputs()
        ys = self._prepare_targets(ys_raw, self._output_shapes())
        sws = self._sample_weights(sample_weight, class_weight, ys, n)
        if y is None:       # fit(x) with a custom train_step: its data is x alone
            ys, sws = [], []
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
        train = _data.ArrayDataAdapter(self.backend, xs, ys, sws, batch_size=batch_size, shuffle=shuffle)
        return train, val

    def _check_standardization(self, xs):
        """Once per model, on a sample: warn when the inputs are far from standardized."""
        if getattr(self, "_standardization_checked", False):
            return
        self._standardization_checked = True
        # Streamed (host) inputs are checked on a device copy of evenly spaced rows.
        sample = [a if self.backend.is_array(a) else
                  self.backend.from_numpy(a[::max(1, a.shape[0] // 1024), ...]) for a in xs
                  if not _data.is_text(a)]  # string inputs (text layers) are not checked
        warn_if_not_standardized(self, sample, self.input_names if len(xs) > 1 else None,
                                 stacklevel=5)

    def _prepare_validation(self, validation_data):
        if _adapters.is_dataset(validation_data):
            return _adapters.select(self, validation_data, name="validation_data")
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


def _debug_caps(epochs, steps_per_epoch):
    """pn.config.set_max_epochs / set_max_steps_per_epoch (Keras's debugging caps), warned as Keras."""
    cap = _config.max_epochs()
    if cap and cap < epochs:
        warnings.warn(f"Limiting epochs to {cap}", stacklevel=3)
        epochs = cap
    cap = _config.max_steps_per_epoch()
    if cap and (not steps_per_epoch or cap < steps_per_epoch):
        warnings.warn(f"Limiting steps_per_epoch to {cap}", stacklevel=3)
        steps_per_epoch = cap
    return epochs, steps_per_epoch

