"""The base class of every callback (keras/src/callbacks/callback.py)."""


class Callback:
    """Base class: override any hook. ``self.model`` and ``self.params`` are set by fit.

    A callback works on the model through its public API only: ``stop_training``,
    ``get_weights``/``set_weights``, ``save``/``save_weights``/``load_weights``,
    ``optimizer`` (``learning_rate``, ``get_state``/``set_state``), ``trainable_weights``,
    ``backend``, and ``add_train_step_hook``/``remove_train_step_hook`` to run code around
    each training step. ``self.params`` holds ``epochs``, ``steps``, ``verbose``,
    ``batch_size`` and ``samples``.
    """

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_batch_begin(self, batch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass
    # Keras: the train-batch hooks default to the (older) on_batch_* ones.
    def on_train_batch_begin(self, batch, logs=None): self.on_batch_begin(batch, logs=logs)
    def on_train_batch_end(self, batch, logs=None): self.on_batch_end(batch, logs=logs)
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass

    # Whether a callback reads per-batch logs; the loop skips building them otherwise.
    reads_batch_logs = False
    # Whether the callback writes files (only rank 0 runs these in distributed training).
    writes_files = False
