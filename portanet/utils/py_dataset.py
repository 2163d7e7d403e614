"""``keras.utils.PyDataset`` (also ``keras.utils.Sequence``): batches computed by Python code.

The class lives with its adapter in ``portanet.training.py_dataset_adapter`` (as in Keras,
where the training package must recognize it without importing utils); this module is its
public home.
"""

from ..training.py_dataset_adapter import PyDataset

Sequence = PyDataset

__all__ = ["PyDataset", "Sequence"]
