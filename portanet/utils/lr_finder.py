"""The learning-rate range test (Smith 2017, "Cyclical Learning Rates"; fastai's lr_find).

The lecture: the learning rate (0.1, 1e-3, 1e-4 are typical) is found by trial and error;
too small trains slowly, too large diverges. The range test does the trial and error in
one short run: train from the current weights, one mini-batch per rate, with the rate
growing exponentially from ``min_lr`` to ``max_lr``, and watch the loss. Where the loss
falls fastest is a good rate; where it shoots up, the rate is too large. The model's
weights and its optimizer's state are restored afterwards.
"""

import math

from .. import optimizers as _optimizers
from ..plotting import _finite, _matplotlib, save_figure
from .. import training as _training

CHECK_EVERY = 10  # loss values read back from the device in groups of this many steps


class LearningRateFinderResult:
    """What ``find_learning_rate`` measured.

    Attributes:
        rates: the learning rate of each step, up to where the test stopped.
        losses: the smoothed (bias-corrected moving average) training loss of each step.
        raw_losses: the loss of each step's mini-batch.
        suggested: the rate where the smoothed loss fell fastest (the steepest descent
            against log(rate)) before it diverged.
        min_loss_rate: the rate at the lowest smoothed loss.
        diverged_at: the rate at which the loss exceeded ``divergence_factor`` x its best
            (None when it never did).

    Supports ``result["suggested"]`` and ``dict(result)`` as well as attributes.
    """

    _keys = ("rates", "losses", "raw_losses", "suggested", "min_loss_rate", "diverged_at")

    def __init__(self, rates, losses, raw_losses, suggested, min_loss_rate, diverged_at):
        self.rates = rates
        self.losses = losses
        self.raw_losses = raw_losses
        self.suggested = suggested
        self.min_loss_rate = min_loss_rate
        self.diverged_at = diverged_at

    def __getitem__(self, key):
        if key not in self._keys:
            raise KeyError(f"{key!r}; the range test result holds {list(self._keys)}")
        return getattr(self, key)

    def keys(self):
        return list(self._keys)

    def __iter__(self):
        return iter(self._keys)

    def __repr__(self):
        return (f"<LearningRateFinderResult suggested={self.suggested:.3g} over {len(self.rates)} "
                f"steps from {self.rates[0]:.3g} to {self.rates[-1]:.3g}>")

    def plot(self, path=None, title=None, dpi=100):
        """Draw the smoothed loss against the rate (log scale) and mark the suggestion."""
        Figure, _ = _matplotlib("the learning-rate range test plot")
        fig = Figure(figsize=(6.4, 4.2), dpi=dpi, layout="constrained")
        ax = fig.subplots()
        ax.plot(self.rates, _finite(self.raw_losses), color="tab:blue", alpha=0.3, linewidth=0.8,
                label="loss of each mini-batch")
        ax.plot(self.rates, _finite(self.losses), color="tab:blue", linewidth=1.8,
                label="smoothed loss")
        ax.set_xscale("log")
        finite = [v for v in _finite(self.losses) if math.isfinite(v)]
        if finite:
            # Keep the interesting part in view: the rising tail can be orders of magnitude higher.
            low, high = min(finite), max(finite[:max(1, len(finite) // 3)] + [finite[0]])
            pad = 0.1 * max(high - low, abs(low) * 0.05, 1e-12)
            ax.set_ylim(low - pad, high + 3 * pad)
        k = self.rates.index(self.suggested) if self.suggested in self.rates else None
        ax.axvline(self.suggested, color="tab:red", linestyle="--", linewidth=1.2,
                   label=f"suggested rate {self.suggested:.3g} (steepest descent)")
        if k is not None and math.isfinite(self.losses[k]):
            ax.plot([self.suggested], [self.losses[k]], "o", color="tab:red")
        if self.diverged_at is not None:
            ax.axvline(self.diverged_at, color="0.5", linestyle=":", linewidth=1.2,
                       label=f"diverged at {self.diverged_at:.3g}")
        ax.set_title(title or "Learning-rate range test")
        ax.set_xlabel("learning rate (log scale); one mini-batch per rate")
        ax.set_ylabel("training loss")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        if path is not None:
            save_figure(fig, path, dpi=dpi)
        return fig


def _check_positive(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or math.isinf(value):
        raise ValueError(f"find_learning_rate: {name}={value!r}; expected a positive number")
    return float(value)


def find_learning_rate(model, x, y, min_lr=1e-6, max_lr=1.0, steps=100, batch_size=32, plot=None,
                       smoothing=0.9, divergence_factor=4.0):
    """Run a learning-rate range test on a compiled model and suggest a rate.

    Trains from the current weights, one mini-batch per rate, the rate growing
    exponentially from ``min_lr`` to ``max_lr`` over ``steps`` steps (the data is reshuffled
    and repeated when it has fewer batches). It stops early once the smoothed loss exceeds
    ``divergence_factor`` times its best (or is not finite). The weights (trainable and
    not), the optimizer's state (slots, iterations) and its learning rate are then put back
    exactly as they were, so the model can be trained right away with the suggested rate.

    The loss is read back from the device every 10 steps (one transfer each), not per step.

    Args:
        model: a built-or-buildable, compiled model.
        x, y: training inputs and targets (as for ``fit``).
        min_lr, max_lr: the range of rates, ``min_lr < max_lr``.
        steps: number of steps (rates), at least 5.
        batch_size: rows per mini-batch.
        plot: a path: write the loss-against-rate plot there as a PNG (the plot extra).
        smoothing: the moving average's factor beta in [0, 1).
        divergence_factor: the multiple of the best smoothed loss that counts as diverging.

    Returns:
        A ``LearningRateFinderResult`` with ``rates``, ``losses`` (smoothed), ``raw_losses``,
        ``suggested`` (steepest descent of the smoothed loss against log(rate), before
        divergence), ``min_loss_rate`` and ``diverged_at``.

    Example:
        >>> result = pn.utils.find_learning_rate(model, x_train, y_train, plot="lr.png")
        >>> model.optimizer.learning_rate = result.suggested
    """
    if not getattr(model, "compiled", False):
        raise RuntimeError("find_learning_rate: compile the model first, e.g. "
                           "model.compile(optimizer='sgd', loss='mse')")
    min_lr = _check_positive(min_lr, "min_lr")
    max_lr = _check_positive(max_lr, "max_lr")
    if not min_lr < max_lr:
        raise ValueError(f"find_learning_rate: min_lr={min_lr!r} must be below max_lr={max_lr!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 5:
        raise ValueError(f"find_learning_rate: steps={steps!r}; expected an integer >= 5")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"find_learning_rate: batch_size={batch_size!r}; expected a positive integer")
    if isinstance(smoothing, bool) or not isinstance(smoothing, (int, float)) or not 0 <= smoothing < 1:
        raise ValueError(f"find_learning_rate: smoothing={smoothing!r}; expected a float in [0, 1)")
    divergence_factor = _check_positive(divergence_factor, "divergence_factor")
    if divergence_factor <= 1:
        raise ValueError(f"find_learning_rate: divergence_factor={divergence_factor!r}; expected > 1")

    train = _training.get_data_adapter(model, x, y, batch_size=batch_size, shuffle=True)
    if not train.size:
        raise ValueError("find_learning_rate: x has no samples")

    rates = [min_lr * (max_lr / min_lr) ** (i / (steps - 1)) for i in range(steps)]
    snapshot = _Snapshot(model)
    raw, smoothed, used = [], [], []
    diverged_at = None
    try:
        pending, pending_rates = [], []
        avg, best = 0.0, math.inf
        batches = iter(train)
        done = False
        for i, lr in enumerate(rates):
            try:
                batch = next(batches)
            except StopIteration:
                batches = iter(train)
                batch = next(batches)
            snapshot.set_learning_rate(lr)
            pending.append(model.train_step(batch))
            pending_rates.append(lr)
            if len(pending) < CHECK_EVERY and i < steps - 1:
                continue
            xp = model.backend.xp
            values = model.backend.to_numpy(xp.stack(pending)).tolist()
            for value, rate in zip(values, pending_rates):
                value = float(value)
                raw.append(value)
                used.append(rate)
                if not math.isfinite(value):
                    smoothed.append(math.nan)
                    diverged_at = rate
                    done = True
                    break
                avg = smoothing * avg + (1.0 - smoothing) * value
                s = avg / (1.0 - smoothing ** len(raw))
                smoothed.append(s)
                best = min(best, s)
                if len(raw) > 1 and s > divergence_factor * best:
                    diverged_at = rate
                    done = True
                    break
            pending, pending_rates = [], []
            if done:
                break
    finally:
        snapshot.restore()

    suggested = _steepest(used, smoothed)
    finite = [(s, r) for s, r in zip(smoothed, used) if math.isfinite(s)]
    min_loss_rate = min(finite)[1] if finite else used[0]
    result = LearningRateFinderResult(used, smoothed, raw, suggested, min_loss_rate, diverged_at)
    if plot is not None:
        result.plot(plot)
    return result


def _steepest(rates, losses):
    """The rate where the smoothed loss falls fastest against log(rate), up to its minimum.

    The search stops at the lowest smoothed loss: past it the loss rises, so a steep
    descent there would be noise of the divergence. The slope at each point is taken over
    a window of ``w`` points on each side (about 5% of the run), and the first tenth of the
    run is skipped: there the moving average is still settling, and the mini-batch noise
    at rates too small to train gave spurious "steepest" points (measured: suggestions near
    min_lr for 6 of 8 seeds on a linear problem with point-to-point slopes).
    """
    finite = [k for k, v in enumerate(losses) if math.isfinite(v)]
    if len(finite) < 3:
        return rates[0]
    stop = min(finite, key=lambda k: losses[k])
    logs = [math.log(r) for r in rates]
    w = max(1, len(losses) // 20)
    first = max(w, len(losses) // 10)
    best_k, best_slope = None, math.inf
    for k in range(first, stop - w + 1):
        lo, hi = k - w, k + w
        if not (math.isfinite(losses[lo]) and math.isfinite(losses[hi])):
            continue
        slope = (losses[hi] - losses[lo]) / (logs[hi] - logs[lo])
        if slope < best_slope:
            best_k, best_slope = k, slope
    if best_k is None:  # a run too short for the window: the plain neighbour slopes
        for k in range(1, stop + 1):
            lo, hi = k - 1, min(k + 1, stop)
            if hi == lo or not (math.isfinite(losses[lo]) and math.isfinite(losses[hi])):
                continue
            slope = (losses[hi] - losses[lo]) / (logs[hi] - logs[lo])
            if slope < best_slope:
                best_k, best_slope = k, slope
    return rates[best_k] if best_k is not None else rates[stop]


class _Snapshot:
    """The weights, the optimizer's state and learning rate, to put back afterwards (public
    API only: the weights' ``value``/``assign``, the optimizer's get_state/set_state,
    variables, iterations and learning_rate)."""

    def __init__(self, model):
        self.model = model
        xp = model.backend.xp
        # Device copies (no host round trip), not references: fused optimizers update
        # flat buffers in place.
        self.weights = [(v, xp.asarray(v.value, copy=True)) for v in model.weights]
        opt = model.optimizer
        self.optimizer = opt
        rate = opt.get_config()["learning_rate"]
        # A schedule is serialized in the config: restore an equal one.
        self.learning_rate = _optimizers.schedules.deserialize(rate) if isinstance(rate, dict) else rate
        self.constant = isinstance(rate, (int, float))
        self.variables = list(opt.variables)
        self.state = opt.get_state() if self.variables else None
        self.iterations = opt.iterations

    def set_learning_rate(self, lr):
        # A schedule-driven rate is not settable by a float (Keras); a constant callable is.
        self.optimizer.learning_rate = lr if self.constant else (lambda step, lr=lr: lr)

    def restore(self):
        for v, value in self.weights:
            v.assign(value)
            v.grad = None
        opt = self.optimizer
        opt.learning_rate = self.learning_rate
        if self.variables:
            opt.set_state(self.state, self.variables)
        else:
            opt.build([])  # unbuilt before: no slots (the next apply builds them)
        opt.iterations = self.iterations
