"""Stateful metrics by their Keras names (keras/src/metrics), accumulated on the device.

``update_state`` only adds device arrays; ``result()`` returns a 0-d (or 1-d, for
per-class / per-threshold results) device array, and the training loop turns it into a
float only when it logs (one synchronization per log).

Mean-of-samples metrics: Accuracy, BinaryAccuracy, CategoricalAccuracy,
SparseCategoricalAccuracy, TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy,
MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
MeanSquaredLogarithmicError, RootMeanSquaredError, LogCoshError, CosineSimilarity, Hinge,
SquaredHinge, CategoricalHinge, KLDivergence, Poisson and the cross-entropies.
Confusion-count metrics: Precision, Recall, TruePositives, FalsePositives, TrueNegatives,
FalseNegatives, AUC (ROC / PR), SensitivityAtSpecificity, SpecificityAtSensitivity,
PrecisionAtRecall, RecallAtPrecision. IoU metrics: IoU, MeanIoU, BinaryIoU, OneHotIoU,
OneHotMeanIoU. Others: FBetaScore, F1Score, R2Score, Mean, Sum, PearsonCorrelation,
ConcordanceCorrelation.
Strings resolve as Keras's: class names, their snake_case names and "mse", "mae",
"mape", "msle", "rmse", "auc", "kld", "bce", "logcosh", ...

One family a file, as keras/src/metrics: ``metric`` (the base Metric), ``reduction_metrics``
(Mean, MeanMetricWrapper), ``accuracy_metrics``, ``regression_metrics``, ``hinge_metrics``,
``probabilistic_metrics``, ``confusion_metrics``, ``f_score_metrics``; this module holds the
registry and get/serialize/deserialize.
"""

from ..naming import NameRegistry
from .metric import Metric, _align, _as_ns, _dtype_name, _xp  # noqa: F401
from .reduction_metrics import Mean, MeanMetricWrapper, _loss_fn, _size, _wrapper_class, masked_sample_weight  # noqa: F401
from .accuracy_metrics import *  # noqa: F401,F403
from .accuracy_metrics import _check_k, _in_top_k, _labels_int  # noqa: F401
from .regression_metrics import *  # noqa: F401,F403
from .hinge_metrics import *  # noqa: F401,F403
from .probabilistic_metrics import *  # noqa: F401,F403
from .confusion_metrics import *  # noqa: F401,F403
from .confusion_metrics import (_ConfusionCount, _ConfusionMetric, _NEG_INF, _TruePositiveRatio,  # noqa: F401
                                _add_counts, _check_thresholds, _div_no_nan, _filter_top_k,
                                _threshold_counts)
from .f_score_metrics import *  # noqa: F401,F403
from .iou_metrics import *  # noqa: F401,F403
from .correlation_metrics import *  # noqa: F401,F403
from .threshold_metrics import *  # noqa: F401,F403
from .reduction_metrics import _loss_fn as _loss_metric_fn


_registry = NameRegistry("metric", Metric, "keras.metrics")


def register(obj, *names):
    """Register a Metric class (or per-sample function) under its name and aliases."""
    return _registry.register(obj, *names)


for _cls, _names in [
    (Mean, ("mean",)), (Accuracy, ()), (BinaryAccuracy, ("binary_accuracy",)),
    (CategoricalAccuracy, ("categorical_accuracy",)),
    (SparseCategoricalAccuracy, ("sparse_categorical_accuracy",)),
    (TopKCategoricalAccuracy, ("top_k_categorical_accuracy",)),
    (SparseTopKCategoricalAccuracy, ("sparse_top_k_categorical_accuracy",)),
    (MeanSquaredError, ("mean_squared_error", "mse", "MSE")),
    (MeanAbsoluteError, ("mean_absolute_error", "mae", "MAE")),
    (MeanAbsolutePercentageError, ("mean_absolute_percentage_error", "mape", "MAPE")),
    (MeanSquaredLogarithmicError, ("mean_squared_logarithmic_error", "msle", "MSLE")),
    (RootMeanSquaredError, ("root_mean_squared_error", "rmse")),
    (LogCoshError, ("logcosh", "log_cosh_error", "log_cosh")),
    (CosineSimilarity, ("cosine_similarity",)),
    (Hinge, ("hinge",)), (SquaredHinge, ("squared_hinge",)), (CategoricalHinge, ("categorical_hinge",)),
    (KLDivergence, ("kl_divergence", "kld", "KLD")), (Poisson, ("poisson",)),
    (BinaryCrossentropy, ("binary_crossentropy", "bce", "BCE")),
    (CategoricalCrossentropy, ("categorical_crossentropy",)),
    (SparseCategoricalCrossentropy, ("sparse_categorical_crossentropy",)),
    (Precision, ("precision",)), (Recall, ("recall",)),
    (TruePositives, ("true_positives",)), (FalsePositives, ("false_positives",)),
    (TrueNegatives, ("true_negatives",)), (FalseNegatives, ("false_negatives",)),
    (AUC, ("auc",)), (FBetaScore, ("fbeta_score",)), (F1Score, ("f1_score",)),
    (R2Score, ("r2_score",)),
    (IoU, ("iou",)), (MeanIoU, ("mean_iou",)), (BinaryIoU, ("binary_iou",)),
    (OneHotIoU, ("one_hot_iou",)), (OneHotMeanIoU, ("one_hot_mean_iou",)),
    (PearsonCorrelation, ()), (ConcordanceCorrelation, ()),
    (PrecisionAtRecall, ("precision_at_recall",)), (RecallAtPrecision, ("recall_at_precision",)),
    (SensitivityAtSpecificity, ("sensitivity_at_specificity",)),
    (SpecificityAtSensitivity, ("specificity_at_sensitivity",)), (Sum, ("sum",)),
]:
    register(_cls, *_names)
mse, mae = mean_squared_error, mean_absolute_error
register(pearson_correlation, "pearson_correlation")
register(concordance_correlation, "concordance_correlation")
# keras.metrics exports these two loss functions too (per-sample values).
huber = _loss_metric_fn("huber")
categorical_focal_crossentropy = _loss_metric_fn("categorical_focal_crossentropy")


def resolve_accuracy(y_true_shape, y_pred_shape):
    """Keras's rule for "accuracy": binary, sparse categorical or categorical by shapes."""
    if y_pred_shape[-1] == 1:
        return BinaryAccuracy
    if len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1 and y_pred_shape[-1] > 1):
        return SparseCategoricalAccuracy
    return CategoricalAccuracy


def get(identifier, y_true_shape=None, y_pred_shape=None):
    """A Metric from a name, config, Metric instance or per-sample function.

    "accuracy"/"acc" need the target and prediction shapes to pick the right accuracy.
    The metric is named by the string it was asked for, as Keras names it.
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc"):
            if y_pred_shape is None:
                return Accuracy(name=identifier)
            return resolve_accuracy(y_true_shape, y_pred_shape)(name=identifier)
        obj = _registry.lookup(identifier)
        if isinstance(obj, type):
            metric = obj()
            metric.name = identifier
            return metric
        return MeanMetricWrapper(obj, name=identifier)
    if isinstance(identifier, dict):
        return _registry.deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(f"could not interpret metric={identifier!r}; expected a name (one of "
                    f"{', '.join(_registry.names())}), a Metric or a function")


def serialize(metric):
    return _registry.serialize(metric)


def deserialize(config):
    return _registry.deserialize(config)
