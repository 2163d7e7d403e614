"""Callbacks (keras/src/callbacks): one callback a module.

The base class with every Keras hook, ``CallbackList``, ``History``, the progress logger,
``LambdaCallback``, ``EarlyStopping``, ``ModelCheckpoint``, ``ReduceLROnPlateau``,
``LearningRateScheduler``, ``CSVLogger``, ``BackupAndRestore``, ``TerminateOnNaN``,
``TensorBoard`` (the tensorboard extra), ``TrainingDiagnostics``, ``SwapEMAWeights`` and
``RemoteMonitor``. Every hook gets Keras's
``logs``: a dict of floats, keys sorted, ``{}`` where there is none; a batch's dict is built
(read from the device) only when a callback reads batch logs (``reads_batch_logs``), so a
silent fit never synchronizes per step.

Callbacks reach the model only through its public API (``save``, ``get_weights``,
``stop_training``, ``optimizer.learning_rate``, ``add_train_step_hook``, ``backend``...), so
this package imports nothing of the training loop or the models (docs/ARCHITECTURE.md).
"""

from .backup_and_restore import BackupAndRestore
from .callback import Callback
from .callback_list import CallbackList, LazyLogs
from .csv_logger import CSVLogger
from .early_stopping import EarlyStopping
from .history import History
from .lambda_callback import LambdaCallback
from .learning_rate_scheduler import LearningRateScheduler
from .model_checkpoint import ModelCheckpoint
from .progbar_logger import ProgbarLogger, format_logs
from .reduce_lr_on_plateau import ReduceLROnPlateau
from .remote_monitor import RemoteMonitor
from .swap_ema_weights import SwapEMAWeights
from .tensorboard import TensorBoard
from .terminate_on_nan import TerminateOnNaN
from .training_diagnostics import TrainingDiagnostics

__all__ = ["Callback", "CallbackList", "LazyLogs", "History", "ProgbarLogger", "LambdaCallback",
           "EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau", "LearningRateScheduler",
           "CSVLogger", "BackupAndRestore", "TerminateOnNaN", "TrainingDiagnostics", "TensorBoard", "format_logs",
           "SwapEMAWeights", "RemoteMonitor"]
