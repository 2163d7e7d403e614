"""``CallbackList`` (keras/src/callbacks/callback_list.py) and ``LazyLogs``, the mapping the
training loop passes to hooks as ``logs``: values are read from the device only when a
callback looks at them, so a silent fit never synchronizes per step.
"""

from collections.abc import Mapping

from .callback import Callback


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
    """Runs a list of callbacks; fit adds History (and the progress logger) itself."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)
        self.reads_batch_logs = any(_wants_batch_logs(cb) for cb in self.callbacks)

    def call(self, hook, *args):
        for cb in self.callbacks:
            getattr(cb, hook)(*args)

    def __iter__(self):
        return iter(self.callbacks)


def _wants_batch_logs(cb):
    """A callback's own ``reads_batch_logs`` when it sets one; otherwise (a user's subclass,
    written for Keras) whether it has a batch-end hook: then it gets logs, as in Keras."""
    if "reads_batch_logs" in vars(cb) or any("reads_batch_logs" in vars(k) for k in type(cb).__mro__
                                             if k is not Callback):
        return bool(cb.reads_batch_logs)
    return any(getattr(type(cb), h, None) is not getattr(Callback, h) or h in vars(cb)
               for h in ("on_train_batch_end", "on_batch_end"))
