"""``pad_sequences``: Keras 3's ``keras.utils.pad_sequences`` (host NumPy in, host NumPy out).

Sequence padding prepares host data before it reaches a backend, so this module uses NumPy
directly, as the data-ingestion modules do.
"""

import operator

import numpy as np

__all__ = ["pad_sequences"]


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre",
                  value=0.0):
    """Pads (and truncates) sequences to one length: a 2-D host NumPy array.

    ``num_timesteps`` is ``maxlen`` when given, else the length of the longest sequence.
    Shorter sequences are padded with ``value``, longer ones truncated, at the start
    ("pre", the default) or the end ("post"). Sequences may hold equal-shaped items
    (e.g. vectors): the output is then ``(num_samples, num_timesteps) + item_shape``.

    Args:
        sequences: list (anything with a length) of sequences.
        maxlen: None or a non-negative int, the length of every output row.
        dtype: dtype of the output ("int32"); ``object`` (or a NumPy string dtype) for
            strings.
        padding: "pre" or "post": pad before or after each sequence.
        truncating: "pre" or "post": drop values from the start or the end of sequences
            longer than ``maxlen``.
        value: the padding value (a float, or a string with ``dtype=object``), 0.0.

    Returns:
        NumPy array of shape ``(len(sequences), maxlen)`` (plus the item shape).

    Example:
        >>> pad_sequences([[1], [2, 3], [4, 5, 6]])
        array([[0, 0, 1],
               [0, 2, 3],
               [4, 5, 6]], dtype=int32)
        >>> pad_sequences([[1], [2, 3], [4, 5, 6]], maxlen=2, padding="post")
        array([[1, 0],
               [2, 3],
               [5, 6]], dtype=int32)

    Unlike Keras, ``padding`` and ``truncating`` are checked before any work (Keras reads
    them only when a sequence needs them), ``maxlen=0`` gives empty rows, and an empty list
    without ``maxlen`` gets a clear error instead of NumPy's reduction error.
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError("`sequences` must be iterable.")
    if padding not in ("pre", "post"):
        raise ValueError(f'Padding type "{padding}" not understood; expected "pre" or "post"')
    if truncating not in ("pre", "post"):
        raise ValueError(f'Truncating type "{truncating}" not understood; expected "pre" or '
                         f'"post"')
    if maxlen is not None:
        if isinstance(maxlen, bool) or not hasattr(maxlen, "__index__") \
                or operator.index(maxlen) < 0:
            raise ValueError(f"pad_sequences: maxlen={maxlen!r}; expected None or a "
                             f"non-negative integer")
        maxlen = operator.index(maxlen)
    num_samples = len(sequences)
    lengths = []
    sample_shape = ()
    flag = True
    # The item shape comes from the first non-empty sequence; the loop below checks the rest.
    for x in sequences:
        try:
            lengths.append(len(x))
            if flag and len(x):
                sample_shape = np.asarray(x).shape[1:]
                flag = False
        except TypeError as e:
            raise ValueError("`sequences` must be a list of iterables. "
                             f"Found non-iterable: {str(x)}") from e
    if maxlen is None:
        if not lengths:
            raise ValueError("pad_sequences: sequences=[] and maxlen=None; give maxlen to "
                             "pad an empty list")
        maxlen = int(np.max(lengths))
    is_dtype_str = np.issubdtype(dtype, np.str_) or np.issubdtype(dtype, np.bytes_)
    if isinstance(value, str) and dtype is not object and not is_dtype_str:
        raise ValueError(f"`dtype` {dtype} is not compatible with `value`'s type: "
                         f"{type(value)}\nYou should set `dtype=object` for variable length "
                         "strings.")
    x = np.full((num_samples, maxlen) + sample_shape, value, dtype=dtype)
    if maxlen == 0:
        return x
    for idx, s in enumerate(sequences):
        if not len(s):
            continue  # an empty sequence is all padding
        trunc = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        trunc = np.asarray(trunc, dtype=dtype)
        if trunc.shape[1:] != sample_shape:
            raise ValueError(f"Shape of sample {trunc.shape[1:]} of sequence at position "
                             f"{idx} is different from expected shape {sample_shape}")
        if padding == "post":
            x[idx, :len(trunc)] = trunc
        else:
            x[idx, -len(trunc):] = trunc
    return x
