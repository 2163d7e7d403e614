"""Compile utilities: spread ``compile``'s loss, loss_weights and metrics over the model's
outputs (as keras/src/trainers/compile_utils.py).

A compile argument is one spec for every output, a list (one per output) or a dict keyed by
output name. ``resolve_outputs`` turns them into a ``CompiledOutputs``: the loss object and
weight of each output, and, on the first batch (the accuracy flavour needs the shapes), the
metric objects with their log names.
"""

from .. import losses as _losses
from .. import metrics as _metrics


def flat_specs(spec):
    """Every single spec inside a compile argument (None, one, a list, nested lists, a dict)."""
    if spec is None:
        return []
    values = list(spec.values()) if isinstance(spec, dict) else (
        list(spec) if isinstance(spec, (list, tuple)) else [spec])
    out = []
    for v in values:
        out.extend(v if isinstance(v, (list, tuple)) else [v])
    return out


def validate_specs(loss, metrics, weighted_metrics):
    """Resolve every name now so unknown names fail at compile, not mid-fit."""
    for item in flat_specs(loss):
        if item is not None:
            _losses.get(item)
    for spec in (metrics, weighted_metrics):
        for item in flat_specs(spec):
            if isinstance(item, str) and item.lower() not in ("accuracy", "acc"):
                _metrics.get(item)


def per_output(spec, names, what, nested=False):
    """Spread a compile argument over the outputs ``names``: one for all, a list, or a dict
    by name. ``nested=True`` (metrics): each output gets a list."""
    n = len(names)
    if spec is None:
        return [None] * n
    if isinstance(spec, dict):
        unknown = [k for k in spec if k not in names]
        if unknown:
            raise ValueError(f"compile: {what} names unknown output(s) {unknown}; outputs are {names}")
        return [spec.get(k) for k in names]
    if nested:
        if n == 1:
            return [list(spec) if isinstance(spec, (list, tuple)) else [spec]]
        if isinstance(spec, (list, tuple)) and all(isinstance(s, (list, tuple)) or s is None for s in spec):
            if len(spec) != n:
                raise ValueError(f"compile: {what} has {len(spec)} entries; the model has {n} outputs")
            return list(spec)
        return [list(spec) if isinstance(spec, (list, tuple)) else [spec]] * n
    if isinstance(spec, (list, tuple)):
        if len(spec) != n:
            raise ValueError(f"compile: {what} has {len(spec)} entries; the model has {n} outputs {names}")
        return list(spec)
    return [spec] * n


class CompiledOutputs:
    """The resolved compile configuration of one model, output by output.

    Attributes:
        names: the output names (log keys are prefixed with them when there are several).
        losses: one loss object (or None: that output is not trained) per output.
        weights: one float loss weight per output.
        metrics: None until ``build_metrics`` runs, then a list of
            ``(output_index, log_key, metric, weighted)``.
    """

    def __init__(self, names, loss, loss_weights, metrics, weighted_metrics):
        # No loss at all is allowed: the model may add its own (add_loss) or a custom
        # train_step may compute it; the built-in steps say so when there is none.
        losses = per_output(loss, names, "loss")
        weights = per_output(loss_weights, names, "loss_weights")
        self.names = list(names)
        self.losses = [None if l is None else _losses.get(l) for l in losses]
        self.weights = [1.0 if w is None else float(w) for w in weights]
        self.metric_specs = per_output(metrics, names, "metrics", nested=True)
        self.weighted_specs = per_output(weighted_metrics, names, "weighted_metrics", nested=True)
        self.metrics = None

    def build_metrics(self, ys, outs):
        """Create the metric objects from the first batch's targets and outputs."""
        if self.metrics is not None:
            return
        multi = len(self.names) > 1
        built = []
        for i, (y, p) in enumerate(zip(ys, outs)):
            for weighted, specs in ((False, self.metric_specs[i]), (True, self.weighted_specs[i])):
                for spec in specs or []:
                    if spec is None:
                        continue
                    m = _metrics.get(spec, tuple(y.shape), tuple(p.shape))
                    base = m.name
                    if weighted and isinstance(spec, str):
                        base = "weighted_" + base if not multi else base
                    key = f"{self.names[i]}_{base}" if multi else base
                    built.append((i, key, m, weighted))
        self.metrics = built

    # Mapping access (``co["losses"]``, ``co.get("metrics")``) for code written against the
    # dict this class replaces (bench/, callbacks); new code uses the attributes.
    def __getitem__(self, key):
        return getattr(self, key)

    def get(self, key, default=None):
        return getattr(self, key, default)

    def reset_metrics(self):
        for _, _, m, _ in self.metrics or []:
            m.reset_state()


def serialize_spec(spec, module):
    """A compile argument as JSON-able data (names stay names, objects their config)."""
    if spec is None:
        return None
    if isinstance(spec, dict):
        return {k: serialize_spec(v, module) for k, v in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [serialize_spec(v, module) for v in spec]
    if isinstance(spec, str):
        return spec
    try:
        return module.serialize(spec)
    except Exception:
        return getattr(spec, "__name__", repr(spec))
