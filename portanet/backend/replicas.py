"""The cross-replica sum that synchronized layers use (``BatchNormalization(synchronized=True)``).

Layers sit below the data-parallel plug-in (``portanet.distributed``) and may not import it.
The plug-in installs its transport here while a data-parallel ``fit`` runs
(``set_cross_replica_sum``); a layer calls ``cross_replica_sum`` on a flat array, which is the
array itself in a single process. The installed function takes ``(flat_array, backend)`` and
returns the element-wise sum over the processes (one all-reduce).
"""

_sum = None


def set_cross_replica_sum(fn):
    """Install ``fn(flat, backend) -> summed flat`` (None removes it); returns the previous one."""
    global _sum
    if fn is not None and not callable(fn):
        raise TypeError(f"set_cross_replica_sum: fn={fn!r}; expected a callable or None")
    previous, _sum = _sum, fn
    return previous


def cross_replica_sum(flat, backend):
    """The element-wise sum of ``flat`` over the data-parallel processes (``flat`` itself when
    no data-parallel run is active)."""
    return flat if _sum is None else _sum(flat, backend)


def active():
    """Whether a data-parallel run has installed its transport."""
    return _sum is not None
