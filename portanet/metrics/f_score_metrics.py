"""FBetaScore and F1Score (keras/src/metrics/f_score_metrics.py)."""

from .. import config as _config
from .metric import Metric, _as_ns, _xp


class FBetaScore(Metric):
    """F-beta score of 2-D (batch, classes) multi-class / multi-label predictions.

    Per class: precision P and recall R (with EPS added to each denominator, as Keras),
    F = (1 + β²)·P·R / (β²·P + R + EPS).

    Args:
        average: None (one score per class), "micro" (counts pooled over classes),
            "macro" (mean of the class scores) or "weighted" (mean weighted by the
            number of true instances of each class).
        beta: positive float, the weight of recall (1.0).
        threshold: predictions above it are positive; None uses the row's maximum
            (ties included; an all-zero row predicts nothing). Must be in (0, 1].
    """

    _AVERAGES = (None, "micro", "macro", "weighted")

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        owner = type(self).__name__
        if average not in self._AVERAGES:
            raise ValueError(f"{owner}: average={average!r}; expected one of {self._AVERAGES}")
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta > 0:
            raise ValueError(f"{owner}: beta={beta!r}; expected a positive float")
        if threshold is not None:
            if isinstance(threshold, bool) or not isinstance(threshold, float):
                raise ValueError(f"{owner}: threshold={threshold!r}; expected a float in (0, 1] or None")
            if not 0.0 < threshold <= 1.0:
                raise ValueError(f"{owner}: threshold={threshold!r}; expected a float in (0, 1] or None")
        self.average, self.beta, self.threshold = average, float(beta), threshold
        self.axis = None if average == "micro" else 0
        self.reset_state()

    def reset_state(self):
        self.true_positives = self.false_positives = None
        self.false_negatives = self.intermediate_weights = None

    def update_state(self, y_true, y_pred, sample_weight=None):
        xp = _xp(y_pred)
        y_true = _as_ns(xp, y_true, y_pred)
        if y_true.ndim != 2 or y_pred.ndim != 2:
            raise ValueError(f"{type(self).__name__} {self.name!r}: expected 2-D y_true and y_pred "
                             f"(batch, classes); got shapes {tuple(y_true.shape)} and {tuple(y_pred.shape)}")
        if self.threshold is None:
            top = xp.max(y_pred, axis=-1, keepdims=True)
            pred = (y_pred >= top) & (xp.abs(y_pred) > 1e-9)
        else:
            pred = y_pred > self.threshold
        pred = xp.astype(pred, y_pred.dtype)
        y = xp.astype(y_true, y_pred.dtype)
        w = None
        if sample_weight is not None:
            w = xp.astype(_as_ns(xp, sample_weight, y_pred), y_pred.dtype)
            w = xp.reshape(w, (w.shape[0], 1)) if w.ndim == 1 else w

        def weighted_sum(v):
            if w is not None:
                v = v * w
            return xp.sum(v, axis=self.axis)
        parts = (weighted_sum(pred * y), weighted_sum(pred * (1.0 - y)),
                 weighted_sum((1.0 - pred) * y), weighted_sum(y))
        if self.true_positives is None:
            (self.true_positives, self.false_positives, self.false_negatives,
             self.intermediate_weights) = parts
        else:
            self.true_positives = self.true_positives + parts[0]
            self.false_positives = self.false_positives + parts[1]
            self.false_negatives = self.false_negatives + parts[2]
            self.intermediate_weights = self.intermediate_weights + parts[3]

    def result(self):
        if self.true_positives is None:
            return 0.0
        xp = _xp(self.true_positives)
        eps = _config.epsilon()
        tp = self.true_positives
        precision = tp / (tp + self.false_positives + eps)
        recall = tp / (tp + self.false_negatives + eps)
        b2 = self.beta ** 2
        f = (precision * recall) / (b2 * precision + recall + eps) * (1.0 + b2)
        if self.average == "weighted":
            weights = self.intermediate_weights / (xp.sum(self.intermediate_weights) + eps)
            return xp.sum(f * weights)
        if self.average is not None:
            return xp.mean(f)
        return f

    def get_config(self):
        config = super().get_config()
        config.update({"average": self.average, "beta": self.beta, "threshold": self.threshold})
        return config


class F1Score(FBetaScore):
    """F1 score (FBetaScore with beta = 1); ``average`` and ``threshold`` as FBetaScore."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config
