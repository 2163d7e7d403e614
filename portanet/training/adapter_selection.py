"""Which adapter serves what the user passed as ``x`` (keras/src/trainers/data_adapters/__init__.py).

Arrays (and lists/dicts of arrays) stay with ``ArrayDataAdapter`` (the trainer's own
path); a ``DataAdapter`` is used as given; a ``PyDataset`` gets ``PyDatasetAdapter``; a
generator, any other iterator, and any other iterable that is not array-like (a PyTorch
``DataLoader``, a list of batch tuples) get ``IterableDataAdapter``. With those, ``y``,
``sample_weight`` belong inside the batches: passing them is a ValueError worded as
Keras's; a ``batch_size`` is ignored, as Keras (the batches are already made).
"""

import types

from . import data_adapter as _data
from . import generator_data_adapter as _gen
from . import py_dataset_adapter as _pyds


def is_dataset(x):
    """True when ``x`` is a source of batches rather than arrays: a DataAdapter, a
    PyDataset, an iterator/generator, a non-array iterable (not a str, dict, tuple), or a
    non-empty list whose items are all batch tuples."""
    if isinstance(x, (_data.DataAdapter, _pyds.PyDataset, types.GeneratorType)):
        return True
    if x is None or isinstance(x, (str, bytes, dict, tuple)):
        return False
    if isinstance(x, list):
        return bool(x) and all(type(b) is tuple for b in x)
    if hasattr(x, "shape") or hasattr(x, "__array__") or hasattr(x, "__array_namespace__") \
            or hasattr(x, "__dlpack__"):
        return False
    return hasattr(x, "__next__") or hasattr(x, "__iter__")


def _kind(x):
    if isinstance(x, _pyds.PyDataset):
        return "PyDataset"
    if isinstance(x, types.GeneratorType):
        return "generator"
    return "iterable"


def _unsupported(arg_name, arg_description, input_type):
    raise ValueError(f"When providing `x` as a {input_type}, `{arg_name}` should not be passed. "
                     f"Instead, {arg_description} should be included as part of the {input_type}.")


def select(model, x, y=None, sample_weight=None, batch_size=None, class_weight=None, shuffle=False,
           steps=None, targets=True, name="x"):
    """The adapter for a dataset ``x`` (``is_dataset(x)``), checked and built on its first
    batch; raises Keras's errors for arguments that belong inside the batches.

    Args:
        model: the Model.
        x: the PyDataset, generator or iterable (or a DataAdapter, returned as is).
        y, sample_weight, class_weight: must be None (class_weight: allowed
            for a PyDataset, as Keras).
        batch_size: ignored, as Keras (the dataset makes its own batches).
        shuffle: PyDataset: shuffle the batch order each epoch.
        steps: batches per epoch (None: one pass).
        targets: False for predict (batches may hold targets; they are ignored).
        name: the argument's name in messages ("x", "validation_data").
    """
    if isinstance(x, _data.DataAdapter):
        return x
    kind = _kind(x)
    label = kind if name == "x" else f"{kind} ({name})"
    if y is not None:
        _unsupported("y", "the targets", label)
    if sample_weight is not None:
        _unsupported("sample_weights", "the sample weights", label)
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps <= 0):
        raise ValueError(f"steps={steps!r}; expected a positive integer or None")
    if kind == "PyDataset":
        adapter = _pyds.PyDatasetAdapter(model, x, targets=targets, shuffle=shuffle,
                                         class_weight=class_weight, steps=steps)
    else:
        if class_weight is not None:
            raise ValueError(f"Argument `class_weight` is not supported for Python {kind} inputs. "
                             f"Received: class_weight={class_weight}")
        adapter = _gen.IterableDataAdapter(model, x, kind=kind, targets=targets, steps=steps)
    adapter.first_inputs = adapter.build()
    return adapter


def fit_data(model, x, y, batch_size, shuffle, validation_split, validation_data, class_weight,
             sample_weight, steps_per_epoch, validation_steps):
    """fit's training adapter over a dataset ``x`` and its validation data (an adapter, the
    arrays ``(xs, ys, sws)`` or None)."""
    if validation_split and validation_data is None:
        raise ValueError("Argument `validation_split` is only supported for tensors or NumPy "
                         f"arrays. Found incompatible type in the input: {type(x)}")
    train = select(model, x, y, sample_weight, batch_size, class_weight, shuffle=shuffle,
                   steps=steps_per_epoch)
    train.stop_on_ran_out = True
    val = None if validation_data is None else model._prepare_validation(validation_data)
    if isinstance(val, _data.DataAdapter):
        val.steps = validation_steps
    return train, val


def close(*adapters):
    """Stop the background threads of the adapters given (other values are skipped)."""
    for a in adapters:
        if isinstance(a, _data.DataAdapter):
            a.close()
