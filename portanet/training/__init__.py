"""The training loop: compile, fit, evaluate, predict, the step methods and the data adapter.

Laid out as keras/src/trainers/: ``trainer.Trainer`` (the mixin Model inherits: compile,
evaluate, predict, ``*_on_batch``, ``train_step``/``test_step``/``predict_step``, hooks,
distribution), ``fit_loop`` (fit and its epoch loop), ``data_adapter`` (arrays -> batches),
``generator_data_adapter`` and ``py_dataset_adapter`` (iterables, generators
and PyDataset -> prefetched batches; ``adapter_selection`` picks one), ``compile_utils`` (losses and metrics per output), ``trackers`` (running sums, logs),
``inputs`` (input/target/sample-weight preparation), ``fast_paths`` (the built-in step's
exact shortcuts), ``distribution`` (the data-parallel protocol), ``standardization``
(fit's input check).
"""

from .data_adapter import ArrayDataAdapter, DataAdapter
from .distribution import Distribution
from .generator_data_adapter import IterableDataAdapter
from .py_dataset_adapter import PyDataset, PyDatasetAdapter
from .trainer import Trainer, get_data_adapter

__all__ = ["Trainer", "DataAdapter", "ArrayDataAdapter", "IterableDataAdapter", "PyDataset",
           "PyDatasetAdapter", "Distribution", "get_data_adapter"]
