"""Running loss and metric state of fit/evaluate/train_on_batch, and the logs read from it.

Sums stay on the device: a step only adds to them, and values are read back (one sync
each) when a log is read, i.e. when the loop prints or a callback asks (docs/ARCHITECTURE.md,
"the hot loop").
"""

from .. import callbacks as _callbacks
from .. import metrics as _metrics


def result_float(backend, metric):
    """A metric's result as a Python float (a host array for per-class results)."""
    r = metric.result()
    if isinstance(r, float):
        return r
    if len(getattr(r, "shape", ())) > 0:
        # Per-class / per-threshold results (F1Score(average=None), Precision(thresholds=[..]))
        # are logged as host arrays, as Keras logs them.
        return backend.to_numpy(r).copy()
    return backend.to_float(r)


class MetricTrackers:
    """Loss sums, sample count and the compiled metrics of one run (an epoch, an evaluation).

    Args:
        backend: the model's Backend (reads values back).
        compiled: the model's ``CompiledOutputs`` (its metrics are reset here).
        record_batches: keep every step's loss (a device scalar) in ``batch_losses``.
    """

    __slots__ = ("backend", "compiled", "loss_sum", "count", "out_sums", "batch_losses")

    def __init__(self, backend, compiled, record_batches=False):
        self.backend = backend
        self.compiled = compiled
        self.loss_sum = None
        self.count = 0
        self.out_sums = {}
        self.batch_losses = [] if record_batches else None
        if compiled is not None:
            compiled.reset_metrics()

    def update(self, total, per_output, ys, outs, sws, n, masks=None):
        """Add one step: its total loss, each output's loss, and the metrics' states.
        ``masks``: the outputs' masks (None, or one per output); a mean metric
        (MeanMetricWrapper) weighs by them, as Keras's reads ``y_pred._keras_mask``."""
        self.loss_sum = total * n if self.loss_sum is None else self.loss_sum + total * n
        self.count += n
        compiled = self.compiled
        if len(per_output) > 1:
            sums = self.out_sums
            for name, v in zip(compiled.names, per_output):
                if v is None:
                    continue
                key = f"{name}_loss"
                sums[key] = v * n if key not in sums else sums[key] + v * n
        for i, _, m, weighted in compiled.metrics:
            sw = sws[i] if weighted else None
            if masks is not None and masks[i] is not None and isinstance(m, _metrics.MeanMetricWrapper):
                sw = _metrics.masked_sample_weight(sw, masks[i])
            m.update_state(ys[i], outs[i], sw)
        if self.batch_losses is not None:
            self.batch_losses.append(total)

    def producers(self, prefix=""):
        """name -> zero-argument function reading the running value (syncs when called)."""
        backend = self.backend
        producers = {}
        # The mean is divided on the device, in the loss's dtype: Keras's loss tracker divides
        # its float32 total by its count, so the logged value is a float32 (2.4018204 for
        # float32, not the float64 quotient 2.401820341746012).
        if self.loss_sum is not None:
            producers[prefix + "loss"] = lambda: backend.to_float(self.loss_sum / max(self.count, 1))
        for key in self.out_sums:
            producers[prefix + key] = (lambda key=key: backend.to_float(self.out_sums[key] / max(self.count, 1)))
        for _, key, m, _ in (self.compiled.metrics if self.compiled is not None else None) or []:
            producers[prefix + key] = (lambda m=m: result_float(backend, m))
        return producers

    def lazy_logs(self):
        return _callbacks.LazyLogs(self.producers())

    def logs(self, prefix=""):
        return _callbacks.LazyLogs(self.producers(prefix)).materialize()

    def sums(self, logs):
        """Each log as ``(key, sum, weight)`` host floats, for averaging over replicas.

        The loss and each output's loss: (sum over samples, samples); mean metrics:
        their (total, count) state, which makes a global mean exact also with sample
        weights; other metrics: (value * samples, samples)."""
        backend = self.backend

        def read(value):
            if value is None:
                return 0.0
            return value if isinstance(value, float) else backend.to_float(value)

        count = float(self.count)
        out = [("loss", read(self.loss_sum), count)]
        compiled = self.compiled
        if len(compiled.names) > 1:
            # Every trained output, also one this replica has no sum for yet.
            for name, loss in zip(compiled.names, compiled.losses):
                if loss is not None:
                    out.append((f"{name}_loss", read(self.out_sums.get(f"{name}_loss")), count))
        for _, key, metric, _ in compiled.metrics or []:
            if hasattr(metric, "total") and hasattr(metric, "count"):
                out.append((key, read(metric.total), read(metric.count)))
            else:
                out.append((key, float(logs.get(key, 0.0)) * count, count))
        return out
