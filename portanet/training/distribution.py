"""The protocol through which ``fit`` trains data-parallel (the one extension point for it).

A distribution is any object with the three methods of ``Distribution`` below; it is set on
a model with ``model.set_distribution(obj)`` (``None`` removes it) and read back as
``model.distribution``. While one is set, ``fit``:

1. calls ``distribution.shard(data)`` once, on the training ``DataAdapter``, before the
   first epoch (the distribution sets ``data.shard = (rank, size)`` and may set
   ``data.order_sync``, see ``data_adapter.DataAdapter``);
2. calls ``distribution.reduce_gradients(variables, num_samples)`` in every training step,
   after the backward pass and before the optimizer update: it must leave in each
   variable's ``.grad`` the gradient averaged over all replicas (``num_samples`` is this
   replica's batch rows, 0 for an empty shard of a short last batch; an empty shard runs
   no forward pass but still calls this and applies the shared update);
3. calls ``distribution.reduce_logs(logs, sums)`` whenever it reads logs (epoch ends,
   evaluation, validation): ``logs`` is this replica's dict, ``sums`` a list of
   ``(key, sum, weight)`` host floats (see ``MetricTrackers.sums``); it returns the global
   logs (``sum / weight`` over every replica).

``portanet.distributed.DataParallel`` implements it over MPI/NCCL and registers itself as
the factory behind ``fit(..., distributed=True)`` (``register_data_parallel``).
"""


class Distribution:
    """Documentation base class of the protocol; subclassing it is optional (duck typing)."""

    def shard(self, data):
        """Take this replica's share of ``data`` (a ``DataAdapter``)."""
        raise NotImplementedError

    def reduce_gradients(self, variables, num_samples):
        """Average the ``.grad`` of ``variables`` over the replicas, in place."""
        raise NotImplementedError

    def reduce_logs(self, logs, sums):
        """Global logs from this replica's ``logs`` and ``(key, sum, weight)`` ``sums``."""
        raise NotImplementedError


_data_parallel_factory = None


def register_data_parallel(factory):
    """Set what ``fit(distributed=True)`` runs: ``factory(model)`` returns an object whose
    ``fit(x, y, **fit_kwargs)`` trains ``model`` data-parallel (``DataParallel`` does)."""
    global _data_parallel_factory
    _data_parallel_factory = factory


def data_parallel(model):
    """The registered data-parallel runner for ``model`` (see ``register_data_parallel``)."""
    if _data_parallel_factory is None:
        raise RuntimeError("fit(distributed=True): no data-parallel runner is registered; "
                           "import portanet.distributed (import portanet does)")
    return _data_parallel_factory(model)
