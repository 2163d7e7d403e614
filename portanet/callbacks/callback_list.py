"""``CallbackList`` (keras/src/callbacks/callback_list.py) and ``LazyLogs``, the mapping the
training loop hands to ``CallbackList.call`` as a batch's logs: values are read from the device
only when a callback looks at them, so a silent fit never synchronizes per step.

Every hook receives what Keras's hooks receive: a plain ``dict`` of Python floats with keys in
sorted order (Keras's ``pythonify_logs``), ``{}`` where the loop has none. A batch's lazy logs
become a dict only when some callback reads them (``reads_batch_logs``, or a batch-end hook of
its own for evaluate/predict); the others get ``{}``.
"""

from collections.abc import Mapping

from .callback import Callback
from .history import History
from .progbar_logger import ProgbarLogger

_BATCH_END = ("on_train_batch_end", "on_test_batch_end", "on_predict_batch_end")
# The per-batch hooks, each with the older hook Callback's default forwards it to.
_BATCH_HOOKS = {"on_train_batch_begin": "on_batch_begin", "on_train_batch_end": "on_batch_end",
                "on_test_batch_begin": None, "on_test_batch_end": None,
                "on_predict_batch_begin": None, "on_predict_batch_end": None}


class LazyLogs(Mapping):
    """A read-only mapping whose values are computed (and synchronized) on first access."""

    def __init__(self, producers):
        self._producers = producers
        self._cache = {}

    def __getitem__(self, key):
        if key not in self._cache:
            self._cache[key] = self._producers[key]()
        return self._cache[key]

    def __iter__(self):
        return iter(self._producers)

    def __len__(self):
        return len(self._producers)

    def materialize(self):
        return {k: self[k] for k in self}


class CallbackList:
    """Runs a list of callbacks with Keras's ``logs`` dicts.

    Args:
        callbacks: the callbacks, in calling order.
        model: set on each callback (``set_model``).
        params: set on each callback (``set_params``): ``epochs``, ``steps``, ``verbose``...
        add_history: append a ``History`` unless one is given (Keras's argument).
        add_progbar: append a ``ProgbarLogger`` (after History) unless one is given; it takes
            ``verbose``, ``epochs`` and ``steps`` from ``params``.
    """

    def __init__(self, callbacks, model, params, add_history=False, add_progbar=False):
        self.callbacks = list(callbacks or [])
        if add_history and not any(isinstance(cb, History) for cb in self.callbacks):
            self.callbacks.append(History())
        if add_progbar and not any(isinstance(cb, ProgbarLogger) for cb in self.callbacks):
            self.callbacks.append(ProgbarLogger())
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)
        wants = [_wants_batch_logs(cb) for cb in self.callbacks]
        self.reads_batch_logs = any(wants)
        # Per batch-end hook: (callback, "lazy" | "dict" | "empty") for every callback.
        self._batch_plan = {}
        for hook in _BATCH_END:
            plan = []
            for cb, want in zip(self.callbacks, wants):
                reads = want if hook == "on_train_batch_end" else _overrides(cb, hook)
                lazy = reads and getattr(cb, "_accepts_lazy_logs", False)
                plan.append((cb, "lazy" if lazy else "dict" if reads else "empty"))
            self._batch_plan[hook] = plan
        self._refresh_silent()

    def _refresh_silent(self):
        """The per-batch hooks no callback overrides (directly, or through the on_batch_*
        hook Callback's default calls): ``call`` skips them, ~7 us a batch each for fit's
        default History. Refreshed after every other hook, so a hook a callback sets on
        itself in ``on_train_begin`` or ``on_epoch_begin`` is called."""
        self._silent = frozenset(
            hook for hook, older in _BATCH_HOOKS.items()
            if not any(_overrides(cb, hook) or (older is not None and _overrides(cb, older))
                       for cb in self.callbacks))

    def call(self, hook, *args):
        """Calls ``hook`` on each callback: ``call("on_epoch_end", epoch, logs)``; ``logs``
        (the last argument) may be None, a dict or a ``LazyLogs``."""
        if hook in self._silent:
            return
        *head, logs = args
        if hook in self._batch_plan:
            plan = self._batch_plan[hook]
            built = None
            for cb, kind in plan:
                if kind == "lazy" and logs is not None:
                    given = logs  # the progress bar reads a lazy mapping only when it redraws
                elif kind == "empty" or logs is None:
                    given = {}
                else:
                    if built is None:
                        built = pythonify_logs(logs)
                    given = built
                getattr(cb, hook)(*head, given)
            return
        logs = pythonify_logs(logs)
        for cb in self.callbacks:
            getattr(cb, hook)(*head, logs)
        if hook not in _BATCH_HOOKS:
            self._refresh_silent()

    def __iter__(self):
        return iter(self.callbacks)


def pythonify_logs(logs):
    """Keras's ``pythonify_logs``: a new dict, keys sorted, nested dicts flattened, 0-d values
    converted to ``float`` where they convert (others, e.g. predict's arrays, kept)."""
    result = {}
    for key in sorted(logs or {}):
        value = logs[key]
        if isinstance(value, dict):
            result.update(pythonify_logs(value))
            continue
        if not isinstance(value, (str, float)) and getattr(value, "ndim", 0) == 0:
            try:
                value = float(value)
            except (TypeError, ValueError):
                pass
        result[key] = value
    return result


def _overrides(cb, hook):
    return getattr(type(cb), hook, None) is not getattr(Callback, hook) or hook in vars(cb)


def _wants_batch_logs(cb):
    """A callback's own ``reads_batch_logs`` when it sets one; otherwise (a user's subclass,
    written for Keras) whether it has a batch-end hook: then it gets logs, as in Keras."""
    if "reads_batch_logs" in vars(cb) or any("reads_batch_logs" in vars(k) for k in type(cb).__mro__
                                             if k is not Callback):
        return bool(cb.reads_batch_logs)
    return any(_overrides(cb, h) for h in ("on_train_batch_end", "on_batch_end"))
