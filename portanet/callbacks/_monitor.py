"""Helpers shared by the callbacks: argument checks, which way a monitored quantity
improves (keras/src/callbacks/monitor_callback.py), and the learning-rate bookkeeping of
the callbacks that change the rate.
"""

import math
import numbers
import warnings

from .callback import Callback


def _check_int(cls, name, value, minimum=0):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{cls}: {name}={value!r}; expected an integer >= {minimum}")
    return value


def _check_number(cls, name, value, minimum=None, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value) or (
            minimum is not None and value < minimum):
        bound = "" if minimum is None else f" >= {minimum}"
        raise ValueError(f"{cls}: {name}={value!r}; expected a number{bound}")
    return float(value)


def _check_mode(cls, mode):
    if mode not in ("auto", "min", "max"):
        # Keras warns and falls back to "auto"; a typo here silently inverts the rule, so raise.
        raise ValueError(f"{cls}: mode={mode!r}; expected 'auto', 'min' or 'max'")
    return mode


def _check_save_freq(cls, save_freq):
    if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
        raise ValueError(f"{cls}: save_freq={save_freq!r}; expected 'epoch' or a positive integer "
                         "(a number of batches)")
    return save_freq


# Names of quantities that improve upwards / downwards, for mode="auto" when the metric
# object does not say (Keras metrics carry a ``_direction``).
_UP_WORDS = ("acc", "auc", "precision", "recall", "f1", "fbeta", "r2", "iou", "cosine_similarity")
_DOWN_WORDS = ("loss", "error", "mse", "mae", "mape", "msle", "crossentropy", "hinge", "divergence",
               "kld", "poisson", "logcosh", "log_cosh")


def _metric_direction(model, monitor):
    """"up", "down" or None for the monitored log key (``val_`` prefix ignored)."""
    name = monitor[4:] if monitor.startswith("val_") else monitor
    if name == "loss" or name.endswith("_loss"):
        return "down"
    # The metric objects know their direction: read them from model.metrics, opening the
    # compiled metrics' container, as Keras's monitor callbacks do; else the name decides.
    candidates = []
    for metric in getattr(model, "metrics", None) or []:
        candidates.append(metric)
        candidates.extend(getattr(metric, "metrics", None) or [])
    for metric in candidates:
        metric_name = getattr(metric, "name", None)
        if metric_name and (name == metric_name or name.endswith("_" + metric_name)) \
                and getattr(metric, "_direction", None) in ("up", "down"):
            return metric._direction
    lowered = name.lower()
    if any(w in lowered for w in _UP_WORDS):
        return "up"
    if any(w in lowered for w in _DOWN_WORDS):
        return "down"
    return None


class _MonitorCallback(Callback):
    """Shared by EarlyStopping, ModelCheckpoint: which way is better, and by how much
    (keras/src/callbacks/monitor_callback.py)."""

    def __init__(self, monitor="val_loss", mode="auto", baseline=None, min_delta=0,
                 baseline_name="baseline"):
        super().__init__()
        cls = type(self).__name__
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"{cls}: monitor={monitor!r}; expected the name of a logged quantity "
                             "such as 'val_loss' or 'accuracy'")
        self.monitor = monitor
        self.mode = _check_mode(cls, mode)
        self.best = _check_number(cls, baseline_name, baseline, allow_none=True)
        self.min_delta = abs(_check_number(cls, "min_delta", min_delta))
        self.monitor_op = None

    def _set_monitor_op(self):
        if self.mode == "min":
            direction = "down"
        elif self.mode == "max":
            direction = "up"
        else:
            direction = _metric_direction(self.model, self.monitor)
            if direction is None:
                raise ValueError(f"{type(self).__name__} callback received monitor={self.monitor!r}, but "
                                 "cannot tell whether that quantity should be maximized or minimized; "
                                 "pass mode='max' or mode='min'")
        self._lower_is_better = direction == "down"
        self.monitor_op = _less if self._lower_is_better else _greater
        if self.best is None:
            self.best = math.inf if self._lower_is_better else -math.inf

    def _is_improvement(self, value, reference):
        if reference is None:
            return True
        delta = -self.min_delta if self._lower_is_better else self.min_delta
        return self.monitor_op(value - delta, reference)

    def _monitor_value(self, logs, what):
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(f"{what} conditioned on metric `{self.monitor}` which is not available. "
                          f"Available metrics are: {','.join(list(logs or {}))}", stacklevel=3)
            return None
        return float(value)


def _less(a, b):
    return a < b


def _greater(a, b):
    return a > b


def _float_learning_rate(optimizer):
    """The optimizer's rate as a float when it is a plain number (settable, and state worth
    saving), None when it is a schedule or another callable (which recomputes it)."""
    if optimizer is None:
        return None
    # get_config() returns the rate as given: a number, or the schedule (serialized).
    rate = optimizer.get_config().get("learning_rate")
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
        return None
    return float(optimizer.learning_rate)
