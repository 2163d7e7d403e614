"""Training curves as PNG files (the ``plot`` extra: matplotlib).

The lecture's advice: watch the plot of the loss against the iteration number. The
figures are drawn with matplotlib's Agg canvas directly (no pyplot, no global backend
switch), so they work on headless machines and never open a window.
"""

import math
import os
import tempfile

PANEL_INCHES = (5.0, 3.5)
DPI = 100
_TRAIN_COLOR = "tab:blue"
_VAL_COLOR = "tab:orange"


def _matplotlib(what):
    """Import matplotlib's object API, or fail naming the extra to install."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(f"{what} needs matplotlib, which is not installed: install the plot "
                          "extra with  pip install 'portanet[plot]'  (or pip install matplotlib)") from None
    return Figure, FigureCanvasAgg


def _finite(values):
    """Floats with NaN/Inf turned into gaps (NaN) so autoscaling keeps working."""
    out = []
    for v in values:
        try:
            f = float(v)
        except (TypeError, ValueError):
            f = math.nan
        out.append(f if math.isfinite(f) else math.nan)
    return out


def smooth(values, beta=0.9):
    """Bias-corrected exponential moving average (as Adam's first moment), skipping gaps."""
    out = []
    avg = 0.0
    count = 0
    for v in values:
        if math.isfinite(v):
            avg = beta * avg + (1.0 - beta) * v
            count += 1
        out.append(avg / (1.0 - beta ** count) if count else math.nan)
    return out


def _use_log_scale(values):
    vals = [v for v in values if math.isfinite(v)]
    return bool(vals) and min(vals) > 0 and max(vals) / min(vals) > 100


def save_figure(fig, path, dpi=DPI):
    """Write a Figure to ``path`` as PNG atomically (temporary file, then rename)."""
    _, canvas_cls = _matplotlib("saving a figure")
    canvas_cls(fig)
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".portanet-plot-", suffix=".png", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fig.savefig(fh, format="png", dpi=dpi)
        _default_permissions(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def plot_history(history, path=None, title=None, dpi=DPI):
    """Draw a training history: loss per iteration, and loss and metrics per epoch.

    Panels: the training loss of every iteration (mini-batch) with its moving average and
    epoch boundaries (when fit recorded it), then the loss per epoch, then one panel per
    metric, each with training and validation (``val_``) curves. Panels are laid out two
    per row, each 5 x 3.5 inches (500 x 350 pixels at the default dpi of 100); with an odd
    number of panels the per-iteration curve spans the first row.

    Args:
        history: the ``History`` returned by ``fit`` (or its ``.history`` dict).
        path: where to write the PNG; None only returns the figure.
        title: the figure's title (default: "Training curves").
        dpi: resolution of the PNG.

    Returns:
        The matplotlib ``Figure``.

    Raises:
        ImportError: matplotlib is missing (install the ``plot`` extra).
        ValueError: the history holds no epochs.
    """
    Figure, _ = _matplotlib("pn.utils.plot_history")
    if isinstance(history, dict):
        per_epoch, per_batch, ends = history, {}, []
    elif hasattr(history, "history"):
        per_epoch = history.history
        per_batch = getattr(history, "batch_history", None) or {}
        ends = list(getattr(history, "batch_epoch_ends", None) or [])
    else:
        raise TypeError(f"plot_history: history={type(history).__name__}; expected the History "
                        "returned by model.fit (or its .history dict)")
    if not per_epoch or not any(len(v) for v in per_epoch.values()):
        raise ValueError("plot_history: the history holds no epochs; train with model.fit first")

    names = [k for k in per_epoch if not k.startswith("val_")]
    names += [k[4:] for k in per_epoch if k.startswith("val_") and k[4:] not in per_epoch]
    names.sort(key=lambda k: (k != "loss", k == "learning_rate"))
    iteration_loss = _finite(per_batch.get("loss", []))
    panels = (["iterations"] if iteration_loss else []) + names
    ncols = 1 if len(panels) == 1 else 2
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=(PANEL_INCHES[0] * ncols, PANEL_INCHES[1] * nrows), dpi=dpi,
                 layout="constrained")
    fig.suptitle(title or "Training curves", fontsize=13)
    grid = fig.add_gridspec(nrows, ncols)
    flat = []
    cells = [(r, c) for r in range(nrows) for c in range(ncols)]
    if ncols == 2 and len(panels) % 2 == 1 and panels[0] == "iterations":
        # An odd panel count: the per-iteration curve takes the whole first row.
        flat.append(fig.add_subplot(grid[0, :]))
        cells = cells[2:]
    for r, c in cells[:len(panels) - len(flat)]:
        flat.append(fig.add_subplot(grid[r, c]))
    epoch_numbers = None
    for ax, panel in zip(flat, panels):
        if panel == "iterations":
            steps = list(range(1, len(iteration_loss) + 1))
            ax.plot(steps, iteration_loss, color=_TRAIN_COLOR, alpha=0.35, linewidth=0.8,
                    label="training loss (each mini-batch)")
            ax.plot(steps, smooth(iteration_loss), color=_TRAIN_COLOR, linewidth=1.6,
                    label="moving average")
            if 1 < len(ends) <= 60:
                for end in ends[:-1]:
                    ax.axvline(end + 0.5, color="0.85", linewidth=0.6, zorder=0)
            ax.set_title("Loss per iteration")
            ax.set_xlabel("iteration (mini-batch)" + (" - grey lines: epochs" if 1 < len(ends) <= 60 else ""))
            ax.set_ylabel("loss")
            if _use_log_scale(iteration_loss):
                ax.set_yscale("log")
            ax.legend(fontsize=8)
            ax.grid(True, alpha=0.3)
            continue
        train = _finite(per_epoch.get(panel, []))
        val = _finite(per_epoch.get("val_" + panel, []))
        n = max(len(train), len(val))
        epoch_numbers = list(range(1, n + 1))
        if train:
            ax.plot(epoch_numbers[:len(train)], train, color=_TRAIN_COLOR, marker="o", markersize=3,
                    label="training")
        if val:
            # validation_freq > 1 gives fewer validation points: spread them over the epochs.
            xs = epoch_numbers[:len(val)] if len(val) == n else \
                [round((i + 1) * n / len(val)) for i in range(len(val))]
            ax.plot(xs, val, color=_VAL_COLOR, marker="o", markersize=3, label="validation")
        pretty = panel.replace("_", " ")
        ax.set_title(("Loss" if panel == "loss" else pretty.capitalize()) + " per epoch")
        ax.set_xlabel("epoch")
        ax.set_ylabel(pretty)
        if panel == "loss" and _use_log_scale(train + val):
            ax.set_yscale("log")
        if panel == "learning_rate":
            ax.set_yscale("log")
        ax.legend(fontsize=8)
        ax.grid(True, alpha=0.3)
        if n <= 20:
            ax.set_xticks(epoch_numbers)
    if path is not None:
        save_figure(fig, path, dpi=dpi)
    return fig


def _default_permissions(path):
    """mkstemp makes 0600 files; give the final file the usual 0666 minus the umask."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)
