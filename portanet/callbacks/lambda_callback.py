"""``LambdaCallback``: a callback made of plain functions
(keras/src/callbacks/lambda_callback.py)."""

from .callback import Callback


class LambdaCallback(Callback):
    """Callback from plain functions: on_epoch_end=lambda epoch, logs: ..., etc."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        hooks = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end,
                     on_train_batch_begin=on_train_batch_begin, on_train_batch_end=on_train_batch_end,
                     **kwargs)
        for name, fn in hooks.items():
            if fn is None:
                continue
            if not hasattr(Callback, name):
                raise TypeError(f"LambdaCallback: unknown hook {name!r}")
            setattr(self, name, fn)
        if on_train_batch_end is not None or on_train_batch_begin is not None:
            self.reads_batch_logs = True
