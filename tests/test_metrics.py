import math

import numpy as np
import pytest

import portanet as pn
from harness import to_np

EPS = 1e-7


def _a(backend, v, dtype="float64"):
    return backend.asarray(np.asarray(v, dtype=dtype))


def _result(backend, metric):
    return np.asarray(to_np(backend, metric.result()), dtype=np.float64)


Y_BIN = [0, 1, 1, 1, 0, 0]
P_BIN = [0.6, 0.9, 0.4, 0.7, 0.2, 0.55]
W_BIN = [1, 2, 1, 1, 3, 0.5]

Y_CAT = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0]]
P_CAT = [[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.5, 0.2, 0.3], [0.2, 0.3, 0.5]]


def test_top_k_accuracies(backend):
    p = _a(backend, [[0.1, 0.5, 0.4], [0.3, 0.3, 0.4], [0.6, 0.3, 0.1]])
    labels = np.array([2, 1, 2])
    onehot = np.eye(3)[labels]
    # k=2: row 0 in (one larger score), row 1 in (a tie with the 2nd score counts), row 2 out.
    for k, expected in [(1, 0.0), (2, 2 / 3), (5, 1.0)]:
        m = pn.metrics.TopKCategoricalAccuracy(k=k)
        m.update_state(_a(backend, onehot), p)
        np.testing.assert_allclose(_result(backend, m), expected)
        s = pn.metrics.SparseTopKCategoricalAccuracy(k=k)
        s.update_state(backend.asarray(labels), p)
        np.testing.assert_allclose(_result(backend, s), expected)
    assert pn.metrics.TopKCategoricalAccuracy().k == 5
    # (N, 1) labels, float labels, sample weights, accumulation over two updates.
    s = pn.metrics.SparseTopKCategoricalAccuracy(k=2)
    s.update_state(_a(backend, labels[:, None].astype(float)), p, sample_weight=_a(backend, [1.0, 1.0, 2.0]))
    np.testing.assert_allclose(_result(backend, s), 2 / 4)
    s.update_state(backend.asarray(labels), p)
    np.testing.assert_allclose(_result(backend, s), 4 / 7)
    # from_sorted_ids: predictions are class ids, best first.
    s = pn.metrics.SparseTopKCategoricalAccuracy(k=2, from_sorted_ids=True)
    s.update_state(backend.asarray(labels), backend.asarray(np.array([[1, 2, 0], [0, 2, 1], [0, 1, 2]])))
    np.testing.assert_allclose(_result(backend, s), 1 / 3)


def test_precision_recall_hand_values(backend):
    y, p, w = _a(backend, Y_BIN), _a(backend, P_BIN), _a(backend, W_BIN)
    # threshold 0.5: predicted positive = {0, 1, 3, 5}; TP = {1, 3}, FP = {0, 5}, FN = {2}.
    pr, rc = pn.metrics.Precision(), pn.metrics.Recall()
    pr.update_state(y, p)
    rc.update_state(y, p)
    np.testing.assert_allclose(_result(backend, pr), 0.5)
    np.testing.assert_allclose(_result(backend, rc), 2 / 3)
    assert _result(backend, pr).shape == ()
    # Weighted: TP = 2 + 1, FP = 1 + 0.5, FN = 1.
    pr, rc = pn.metrics.Precision(), pn.metrics.Recall()
    pr.update_state(y, p, sample_weight=w)
    rc.update_state(y, p, sample_weight=w)
    np.testing.assert_allclose(_result(backend, pr), 3 / 4.5)
    np.testing.assert_allclose(_result(backend, rc), 3 / 4)
    # Several thresholds give one value each: 0.3 -> TP 3, FP 2; 0.65 -> TP 2, FP 0.
    pr, rc = pn.metrics.Precision(thresholds=[0.3, 0.65]), pn.metrics.Recall(thresholds=[0.3, 0.65])
    pr.update_state(y, p)
    rc.update_state(y, p)
    np.testing.assert_allclose(_result(backend, pr), [0.6, 1.0])
    np.testing.assert_allclose(_result(backend, rc), [1.0, 2 / 3])
    # Nothing predicted positive: 0, not NaN (divide_no_nan).
    pr = pn.metrics.Precision(thresholds=0.99)
    pr.update_state(y, p)
    assert float(_result(backend, pr)) == 0.0
    # Confusion counts.
    for cls, expected in [(pn.metrics.TruePositives, 2), (pn.metrics.FalsePositives, 2),
                          (pn.metrics.TrueNegatives, 1), (pn.metrics.FalseNegatives, 1)]:
        m = cls()
        m.update_state(y, p)
        np.testing.assert_allclose(_result(backend, m), expected)


def test_precision_recall_top_k_and_class_id(backend):
    y, p = _a(backend, Y_CAT), _a(backend, P_CAT)
    # top_k=1 predictions: classes [0, 1, 0, 2]. Over all elements: TP 2, FP 2, FN 2.
    pr, rc = pn.metrics.Precision(top_k=1), pn.metrics.Recall(top_k=1)
    pr.update_state(y, p)
    rc.update_state(y, p)
    np.testing.assert_allclose(_result(backend, pr), 0.5)
    np.testing.assert_allclose(_result(backend, rc), 0.5)
    # class_id=0: at 0.5 only row 0 is predicted (0.5 is not > 0.5); at 0.45 rows 0 and 2.
    pr, pr45, rc = (pn.metrics.Precision(class_id=0), pn.metrics.Precision(thresholds=0.45, class_id=0),
                    pn.metrics.Recall(class_id=1))
    for m in (pr, pr45, rc):
        m.update_state(y, p)
    np.testing.assert_allclose(_result(backend, pr), 1.0)
    np.testing.assert_allclose(_result(backend, pr45), 0.5)
    np.testing.assert_allclose(_result(backend, rc), 0.5)   # class 1: row 1 found, row 3 missed
    # top_k=2 with class_id=2: rows whose top 2 contain class 2 are rows 2 and 3 (row 0 ties
    # 0.1/0.1: the first index wins, as top_k).
    pr = pn.metrics.Precision(top_k=2, class_id=2)
    pr.update_state(y, p)
    np.testing.assert_allclose(_result(backend, pr), 0.5)


def _confusion(y, p, w, thresholds):
    above = p[:, None] > thresholds[None, :]
    tp = ((w * y)[:, None] * above).sum(0)
    fp = ((w * (1 - y))[:, None] * above).sum(0)
    return tp, fp, (w * y).sum() - tp, (w * (1 - y)).sum() - fp


def _keras_thresholds(n):
    return np.array([-EPS] + [(i + 1) / (n - 1) for i in range(n - 2)] + [1 + EPS])


def _trapezoid_roc(y, p, w, n=200):
    tp, fp, fn, tn = _confusion(y, p, w, _keras_thresholds(n))
    tpr = tp / (tp + fn)
    fpr = fp / (fp + tn)
    return sum((fpr[i] - fpr[i + 1]) * (tpr[i] + tpr[i + 1]) / 2 for i in range(n - 1))


def _interpolated_pr(y, p, w, n=200):
    tp, fp, fn, _ = _confusion(y, p, w, _keras_thresholds(n))
    total = 0.0
    for i in range(n - 1):
        dtp = tp[i] - tp[i + 1]
        pi, pj = tp[i] + fp[i], tp[i + 1] + fp[i + 1]
        dp = pi - pj
        slope = dtp / dp if dp > 0 else 0.0
        intercept = tp[i + 1] - slope * pj
        ratio = pi / pj if (pi > 0 and pj > 0) else 1.0
        denom = tp[i + 1] + fn[i + 1]
        if denom > 0:
            total += slope * (dtp + intercept * math.log(ratio)) / denom
    return total


def test_auc_against_direct_trapezoid(backend):
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 40).astype(float)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, 40), 0, 1)
    w = rng.uniform(0.5, 2.0, 40)
    m = pn.metrics.AUC()
    m.update_state(_a(backend, y[:25]), _a(backend, p[:25]), _a(backend, w[:25]))
    m.update_state(_a(backend, y[25:]), _a(backend, p[25:]), _a(backend, w[25:]))
    np.testing.assert_allclose(_result(backend, m), _trapezoid_roc(y, p, w), rtol=1e-12)
    pr = pn.metrics.AUC(curve="PR", num_thresholds=50)
    pr.update_state(_a(backend, y), _a(backend, p), _a(backend, w))
    np.testing.assert_allclose(_result(backend, pr), _interpolated_pr(y, p, w, 50), rtol=1e-12)
    # Separable-enough data: the 200-threshold trapezoid equals the exact (rank) ROC AUC.
    y2 = np.array([0, 0, 1, 1.0])
    p2 = np.array([0.1, 0.4, 0.35, 0.8])
    m = pn.metrics.AUC()
    m.update_state(_a(backend, y2), _a(backend, p2))
    np.testing.assert_allclose(_result(backend, m), 0.75, rtol=1e-12)
    # Minoring / majoring ROC: lower and upper step sums around the trapezoid.
    lo, hi = pn.metrics.AUC(summation_method="minoring"), pn.metrics.AUC(summation_method="majoring")
    for mm in (lo, hi):
        mm.update_state(_a(backend, y), _a(backend, p))
    trap = _trapezoid_roc(y, p, np.ones(40))
    assert _result(backend, lo) <= trap <= _result(backend, hi)
    # Perfect separation and from_logits.
    m = pn.metrics.AUC(from_logits=True)
    m.update_state(_a(backend, [0, 0, 1, 1]), _a(backend, [-3.0, -1.0, 2.0, 4.0]))
    np.testing.assert_allclose(_result(backend, m), 1.0)


def test_auc_multi_label_and_thresholds(backend):
    rng = np.random.default_rng(6)
    y = rng.integers(0, 2, (30, 3)).astype(float)
    p = np.clip(0.4 * y + rng.uniform(0, 0.6, (30, 3)), 0, 1)
    m = pn.metrics.AUC(multi_label=True)
    m.update_state(_a(backend, y), _a(backend, p))
    per_label = [_trapezoid_roc(y[:, j], p[:, j], np.ones(30)) for j in range(3)]
    np.testing.assert_allclose(_result(backend, m), np.mean(per_label), rtol=1e-12)
    lw = [1.0, 2.0, 0.5]
    m = pn.metrics.AUC(multi_label=True, label_weights=lw)
    m.update_state(_a(backend, y), _a(backend, p))
    np.testing.assert_allclose(_result(backend, m), np.dot(per_label, lw) / sum(lw), rtol=1e-12)
    assert m.true_positives.shape == (200, 3)
    # Not multi-label: every element pooled.
    m = pn.metrics.AUC()
    m.update_state(_a(backend, y), _a(backend, p))
    np.testing.assert_allclose(_result(backend, m), _trapezoid_roc(y.ravel(), p.ravel(), np.ones(90)), rtol=1e-12)
    # Explicit thresholds: the end points are added around them.
    m = pn.metrics.AUC(thresholds=[0.5, 0.25, 0.75])
    assert m.num_thresholds == 5
    np.testing.assert_allclose(m.thresholds, [-EPS, 0.25, 0.5, 0.75, 1 + EPS])


def test_f1_fbeta_scores(backend):
    y, p = _a(backend, Y_CAT), _a(backend, P_CAT)
    # threshold None: the row maximum -> predictions [0, 1, 0, 2].
    expected = {None: [2 / 3, 2 / 3, 0.0], "macro": 4 / 9, "micro": 0.5, "weighted": (2 / 3 + 4 / 3) / 4}
    for avg, exp in expected.items():
        m = pn.metrics.F1Score(average=avg)
        m.update_state(y, p)
        np.testing.assert_allclose(_result(backend, m), exp, rtol=1e-6, atol=1e-7)
    # threshold 0.25: predictions {(0,0), (1,0), (1,1), (2,0), (2,2), (3,1), (3,2)}.
    m = pn.metrics.F1Score(threshold=0.25)
    m.update_state(y, p)
    tp, fp, fn = np.array([1, 2, 1.0]), np.array([2, 0, 1.0]), np.array([0, 0, 0.0])
    prec, rec = tp / (tp + fp), tp / (tp + fn)
    np.testing.assert_allclose(_result(backend, m), 2 * prec * rec / (prec + rec), rtol=1e-6)
    # F-beta with sample weights.
    w = np.array([1.0, 2.0, 1.0, 0.5])
    m = pn.metrics.FBetaScore(beta=2.0, average="macro")
    m.update_state(y, p, sample_weight=_a(backend, w))
    tp, fp, fn = np.array([1, 2, 0.0]), np.array([1, 0, 0.5]), np.array([0, 0.5, 1.0])
    prec, rec = tp / (tp + fp), tp / (tp + fn)
    f = np.where(tp > 0, 5 * prec * rec / (4 * prec + rec + 1e-300), 0.0)
    np.testing.assert_allclose(_result(backend, m), f.mean(), rtol=1e-6)


def test_rmse_and_r2(backend):
    m = pn.metrics.RootMeanSquaredError()
    m.update_state(_a(backend, [1, 2, 3]), _a(backend, [1, 4, 3]))
    np.testing.assert_allclose(_result(backend, m), math.sqrt(4 / 3))
    m.update_state(_a(backend, [0.0]), _a(backend, [3.0]), sample_weight=_a(backend, [2.0]))
    np.testing.assert_allclose(_result(backend, m), math.sqrt((4 + 18) / 5))
    r2 = pn.metrics.R2Score()
    r2.update_state(_a(backend, [[1], [2], [3], [4]]), _a(backend, [[1.1], [1.9], [3.2], [3.8]]))
    np.testing.assert_allclose(_result(backend, r2), 0.98, rtol=1e-12)
    adj = pn.metrics.R2Score(num_regressors=1)
    adj.update_state(_a(backend, [1, 2, 3, 4]), _a(backend, [1.1, 1.9, 3.2, 3.8]))
    np.testing.assert_allclose(_result(backend, adj), 1 - 0.02 * 3 / 2, rtol=1e-12)
    # Two outputs: per-output scores and their aggregations.
    yt = np.array([[1, 10], [2, 20], [3, 10], [4, 40.0]])
    yp = np.array([[1.5, 12], [2, 18], [2, 15], [4, 35.0]])
    raw = 1 - ((yt - yp) ** 2).sum(0) / ((yt - yt.mean(0)) ** 2).sum(0)
    tot = ((yt - yt.mean(0)) ** 2).sum(0)
    for agg, exp in [(None, raw), ("uniform_average", raw.mean()),
                     ("variance_weighted_average", (raw * tot).sum() / tot.sum())]:
        m = pn.metrics.R2Score(class_aggregation=agg)
        m.update_state(_a(backend, yt[:2]), _a(backend, yp[:2]))
        m.update_state(_a(backend, yt[2:]), _a(backend, yp[2:]))
        np.testing.assert_allclose(_result(backend, m), exp, rtol=1e-10)
    # Weighted R2.
    w = np.array([1.0, 2.0, 0.5, 1.0])
    m = pn.metrics.R2Score()
    m.update_state(_a(backend, yt[:, :1]), _a(backend, yp[:, :1]), sample_weight=_a(backend, w))
    mu = (w * yt[:, 0]).sum() / w.sum()
    exp = 1 - (w * (yt[:, 0] - yp[:, 0]) ** 2).sum() / (w * (yt[:, 0] - mu) ** 2).sum()
    np.testing.assert_allclose(_result(backend, m), exp, rtol=1e-10)


def test_loss_metrics_match_losses(backend):
    rng = np.random.default_rng(7)
    y = rng.uniform(0.1, 1.0, (6, 3))
    p = rng.uniform(0.1, 1.0, (6, 3))
    pairs = [("mape", pn.losses.mape), ("msle", pn.losses.msle), ("logcosh", pn.losses.log_cosh),
             ("kld", pn.losses.kld), ("poisson", pn.losses.poisson), ("hinge", pn.losses.hinge),
             ("squared_hinge", pn.losses.squared_hinge), ("categorical_hinge", pn.losses.categorical_hinge),
             ("binary_crossentropy", pn.losses.binary_crossentropy),
             ("categorical_crossentropy", pn.losses.categorical_crossentropy)]
    for name, fn in pairs:
        m = pn.metrics.get(name)
        m.update_state(_a(backend, y), _a(backend, p))
        ref = np.mean(to_np(backend, fn(_a(backend, y), _a(backend, p))))
        np.testing.assert_allclose(_result(backend, m), ref, rtol=1e-12, err_msg=name)
    # The cosine-similarity metric is +cos (the loss is -cos).
    m = pn.metrics.CosineSimilarity()
    m.update_state(_a(backend, [[1.0, 0.0], [1.0, 1.0]]), _a(backend, [[2.0, 0.0], [1.0, -1.0]]))
    np.testing.assert_allclose(_result(backend, m), 0.5)


def test_state_stays_on_device(backend):
    y, p = _a(backend, Y_BIN), _a(backend, P_BIN)
    yc, pc = _a(backend, Y_CAT), _a(backend, P_CAT)
    metrics = [(pn.metrics.AUC(), y, p), (pn.metrics.AUC(curve="PR"), y, p), (pn.metrics.Precision(), y, p),
               (pn.metrics.Recall(thresholds=[0.2, 0.6]), y, p), (pn.metrics.F1Score(average="macro"), yc, pc),
               (pn.metrics.R2Score(), yc, pc), (pn.metrics.RootMeanSquaredError(), y, p),
               (pn.metrics.TopKCategoricalAccuracy(k=2), yc, pc)]
    before = backend.to_host_calls
    results = []
    for m, yy, pp in metrics:
        m.update_state(yy, pp)
        m.update_state(yy, pp)
        results.append(m.result())
    assert backend.to_host_calls == before, "a metric synchronized with the host"
    for r in results:
        assert backend.is_array(r) or type(r).__module__ == "numpy", type(r)
    assert backend.is_array(metrics[0][0].true_positives) and metrics[0][0].true_positives.shape == (200,)
    # reset_state forgets everything.
    m = metrics[2][0]
    m.reset_state()
    m.update_state(_a(backend, [1.0]), _a(backend, [0.9]))
    np.testing.assert_allclose(_result(backend, m), 1.0)


def test_metric_strings_resolve():
    M = pn.metrics
    table = {"auc": M.AUC, "AUC": M.AUC, "precision": M.Precision, "Precision": M.Precision,
             "recall": M.Recall, "f1_score": M.F1Score, "F1Score": M.F1Score, "fbeta_score": M.FBetaScore,
             "r2_score": M.R2Score, "root_mean_squared_error": M.RootMeanSquaredError,
             "RootMeanSquaredError": M.RootMeanSquaredError,
             "top_k_categorical_accuracy": M.TopKCategoricalAccuracy,
             "sparse_top_k_categorical_accuracy": M.SparseTopKCategoricalAccuracy,
             "mape": M.MeanAbsolutePercentageError, "msle": M.MeanSquaredLogarithmicError,
             "logcosh": M.LogCoshError, "kld": M.KLDivergence, "poisson": M.Poisson, "hinge": M.Hinge,
             "cosine_similarity": M.CosineSimilarity, "true_positives": M.TruePositives,
             "binary_crossentropy": M.BinaryCrossentropy, "mse": M.MeanSquaredError}
    for name, cls in table.items():
        m = M.get(name)
        assert type(m) is cls, name
        assert m.name == name
    with pytest.raises(ValueError, match="unknown metric name 'aucc'.*auc"):
        M.get("aucc")


@pytest.mark.parametrize("metric", [
    pn.metrics.AUC(num_thresholds=50, curve="PR", summation_method="majoring", multi_label=True,
                   num_labels=3, label_weights=[1.0, 2.0, 3.0], from_logits=True, name="my_auc"),
    pn.metrics.AUC(thresholds=[0.2, 0.4]), pn.metrics.Precision(thresholds=[0.2, 0.7], class_id=1),
    pn.metrics.Recall(top_k=2), pn.metrics.F1Score(average="weighted", threshold=0.4),
    pn.metrics.FBetaScore(beta=0.5), pn.metrics.R2Score(class_aggregation=None, num_regressors=2),
    pn.metrics.TopKCategoricalAccuracy(k=3), pn.metrics.SparseTopKCategoricalAccuracy(k=2),
    pn.metrics.RootMeanSquaredError(), pn.metrics.BinaryCrossentropy(from_logits=True),
    pn.metrics.TruePositives(thresholds=0.3)])
def test_metric_config_round_trip(metric):
    again = pn.metrics.deserialize(pn.metrics.serialize(metric))
    assert type(again) is type(metric)
    assert again.get_config() == metric.get_config()


def test_bad_metric_arguments():
    cases = [(lambda: pn.metrics.AUC(num_thresholds=1), "num_thresholds=1"),
             (lambda: pn.metrics.AUC(curve="XY"), "curve='XY'"),
             (lambda: pn.metrics.AUC(summation_method="riemann"), "summation_method='riemann'"),
             (lambda: pn.metrics.Precision(thresholds=1.5), "thresholds=1.5"),
             (lambda: pn.metrics.Recall(top_k=0), "top_k=0"),
             (lambda: pn.metrics.F1Score(average="sum"), "average='sum'"),
             (lambda: pn.metrics.F1Score(threshold=0.0), "threshold=0.0"),
             (lambda: pn.metrics.FBetaScore(beta=0), "beta=0"),
             (lambda: pn.metrics.R2Score(class_aggregation="max"), "class_aggregation='max'"),
             (lambda: pn.metrics.TopKCategoricalAccuracy(k=0), "k=0")]
    for make, msg in cases:
        with pytest.raises(ValueError, match=msg):
            make()


def test_metrics_in_compile_and_fit(backend):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((40, 4)).astype("float32")
    labels = rng.integers(0, 3, 40)
    y = np.eye(3, dtype="float32")[labels]
    model = pn.Sequential([pn.Input((4,)), pn.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=pn.optimizers.SGD(learning_rate=0.0), loss="categorical_crossentropy",
                  metrics=["auc", "precision", "recall", "top_k_categorical_accuracy",
                           pn.metrics.TopKCategoricalAccuracy(k=2, name="top2"),
                           pn.metrics.F1Score(average="macro")])
    h = model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    probs = model.predict(x, verbose=0).astype(np.float64)
    assert {"auc", "precision", "recall", "top_k_categorical_accuracy", "top2", "f1_score"} <= set(h.history)
    np.testing.assert_allclose(h.history["auc"][0], _trapezoid_roc(y.ravel().astype(float), probs.ravel(),
                                                                   np.ones(120)), rtol=1e-4)
    pred_pos = probs > 0.5
    tp = np.sum(pred_pos & (y == 1))
    np.testing.assert_allclose(h.history["precision"][0], tp / max(pred_pos.sum(), 1), rtol=1e-5)
    np.testing.assert_allclose(h.history["recall"][0], tp / 40, rtol=1e-5)
    assert h.history["top_k_categorical_accuracy"][0] == 1.0
    rank = (probs > probs[np.arange(40), labels][:, None]).sum(1)
    np.testing.assert_allclose(h.history["top2"][0], np.mean(rank < 2), rtol=1e-6)
    # evaluate with sample_weight: weighted_metrics see the weights, metrics do not.
    sw = rng.uniform(0.0, 2.0, 40).astype("float32")
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["categorical_accuracy"],
                  weighted_metrics=["categorical_accuracy"])
    logs = model.evaluate(x, y, sample_weight=sw, verbose=0, return_dict=True, batch_size=40)
    correct = (probs.argmax(1) == labels).astype(float)
    np.testing.assert_allclose(logs["categorical_accuracy"], correct.mean(), rtol=1e-6)
    np.testing.assert_allclose(logs["weighted_categorical_accuracy"], np.sum(sw * correct) / sw.sum(), rtol=1e-5)
    per = -np.log(np.clip(probs[np.arange(40), labels] / probs.sum(1), EPS, 1 - EPS))
    np.testing.assert_allclose(logs["loss"], np.sum(sw * per) / 40, rtol=1e-5)


def test_vector_results_are_logged_as_arrays(backend):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((20, 4)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 20)]
    model = pn.Sequential([pn.Input((4,)), pn.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=pn.optimizers.SGD(learning_rate=0.0), loss="categorical_crossentropy",
                  metrics=[pn.metrics.F1Score(), pn.metrics.Precision(thresholds=[0.2, 0.5], name="p2")])
    h = model.fit(x, y, batch_size=20, epochs=1, verbose=0)
    probs = model.predict(x, verbose=0)
    pred = (probs == probs.max(1, keepdims=True)).astype(float)
    tp, fp, fn = (pred * y).sum(0), (pred * (1 - y)).sum(0), ((1 - pred) * y).sum(0)
    prec, rec = tp / (tp + fp + EPS), tp / (tp + fn + EPS)
    np.testing.assert_allclose(h.history["f1_score"][0], 2 * prec * rec / (prec + rec + EPS), rtol=1e-5)
    assert np.shape(h.history["p2"][0]) == (2,)


def test_sparse_categorical_accuracy_compares_float_labels_as_floats(backend):
    # Keras 3.15 casts the predicted class to the labels' dtype: a float label 0.7 matches
    # no class (portanet truncated it to class 0). Keras's results: 0.75, 0.75, 0.5.
    m = pn.metrics.SparseCategoricalAccuracy()
    p = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], "float32")
    m.update_state(np.array([0.0, 1.0, 0.7, 1.0], "float32"), p)
    assert float(m.result()) == 0.75
    m.reset_state()
    m.update_state(np.array([[0], [1], [1], [1]]), p)
    assert float(m.result()) == 0.75
    m.reset_state()
    m.update_state(np.array([True, True, False, False]), p)
    assert float(m.result()) == 0.5
