"""``Progbar``, the progress bar ``fit``/``evaluate``/``predict`` print (keras/src/utils/progbar.py,
exported as ``portanet.utils.Progbar``). A bottom-level helper: it imports nothing of portanet.

The output is Keras 3's, character for character: ``\\r``-redrawn lines with ANSI
bold/green/white codes, e.g. ``3/3 ━━━━━━━━━━━━━━━━━━━━ 0s 5ms/step - accuracy: 0.9012 -
loss: 0.3050``. As in Keras the display counts as dynamic (backspaces and ``\\r`` before a
redraw) on a terminal, under IPython/PyCharm and on every POSIX system; elsewhere each redraw
starts on a new line. With interactive logging off (``disable_interactive_logging``) the text
goes to the ``portanet`` logger instead of stdout, as Keras sends it to absl logging.
"""

import logging
import math
import numbers
import os
import sys
import time


class Progbar:
    """Displays a progress bar.

    Args:
        target: total number of steps expected, None if unknown.
        width: progress bar width on screen, in characters.
        verbose: 0 (silent), 1 (a bar redrawn as it goes), 2 (one line when finished).
        interval: minimum time in seconds between two redraws at verbose 1.
        stateful_metrics: names of metrics shown as given; the others are averaged over the
            steps (weighted by the steps each update covers), as in Keras.
        stateless_metrics: names of metrics that are averaged; the others are shown as given.
            Give at most one of the two.
        unit_name: display name of a step ("step", "sample").
    """

    def __init__(self, target, width=20, verbose=1, interval=0.05, stateful_metrics=None,
                 stateless_metrics=None, unit_name="step"):
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError("Progbar: give stateful_metrics or stateless_metrics, not both; "
                             f"got stateful_metrics={stateful_metrics!r} and "
                             f"stateless_metrics={stateless_metrics!r}")
        if target is not None and (isinstance(target, bool) or not isinstance(target, numbers.Integral)
                                   or target < 0):
            raise ValueError(f"Progbar: target={target!r}; expected a non-negative int or None")
        if verbose not in (0, 1, 2):
            raise ValueError(f"Progbar: verbose={verbose!r}; expected 0, 1 or 2")
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        if stateful_metrics is not None:
            self.stateful_metrics, self.stateless_metrics = set(stateful_metrics), None
        elif stateless_metrics is not None:
            self.stateful_metrics, self.stateless_metrics = None, set(stateless_metrics)
        else:
            self.stateful_metrics, self.stateless_metrics = set(), None
        self._dynamic_display = _is_dynamic(sys.stdout)
        self._seen_so_far = 0
        self._values = {}
        self._values_order = []
        self._start = time.time()
        self._last_update = 0
        self._time_after_first_step = None
        self._prev_total_width = 0

    def will_draw(self, current=None):
        """Whether an ``update`` now (to ``current``, not finalizing) would redraw the bar:
        callers use it to skip reading values that would not be shown."""
        if self.verbose != 1:
            return False
        if current is not None and self.target is not None and current >= self.target:
            return True
        return time.time() - self._last_update >= self.interval

    def update(self, current, values=None, finalize=None):
        """Updates the progress bar.

        Args:
            current: index of the current step (1-based count of steps done).
            values: list of ``(name, value_for_last_step)`` tuples: a stateful metric is shown
                as given, the others averaged over time.
            finalize: whether this is the last update; default ``current >= target``.
        """
        if finalize is None:
            finalize = False if self.target is None else current >= self.target
        for k, v in values or []:
            if k not in self._values_order:
                self._values_order.append(k)
            if self.stateful_metrics is not None:
                stateless = k not in self.stateful_metrics
            else:
                stateless = k in self.stateless_metrics
            if stateless:
                if finalize:
                    self._values[k] = [v, 1]
                else:
                    base = max(current - self._seen_so_far, 1)
                    if k not in self._values:
                        self._values[k] = [v * base, base]
                    else:
                        self._values[k][0] += v * base
                        self._values[k][1] += base
            else:
                self._values[k] = [v, 1]
        self._seen_so_far = current
        now = time.time()
        time_per_unit = self._estimate_step_duration(current, now)
        if self.verbose == 1:
            if now - self._last_update < self.interval and not finalize:
                return
            self._draw(current, now, time_per_unit, finalize)
        elif self.verbose == 2 and finalize and self.target is not None and self.target > 0:
            numdigits = int(math.log10(self.target)) + 1
            info = f"%{numdigits}d/%d" % (current, self.target) + f" - {now - self._start:.0f}s"
            info += f" -{_format_time(time_per_unit, self.unit_name)}"
            for k in self._values_order:
                # Keras's verbose-2 test is `avg > 1e-3` (not abs): negatives print as %.4e.
                avg = self._average(k)
                info += f" - {k}: {avg:.4f}" if avg > 1e-3 else f" - {k}: {avg:.4e}"
            print_msg(info + "\n", line_break=False)
        self._last_update = now

    def add(self, n, values=None):
        """Advances the bar by ``n`` steps (``update(seen + n, values)``)."""
        self.update(self._seen_so_far + n, values)

    def _average(self, k):
        value, count = self._values[k]
        if not isinstance(value, float):
            value = _mean(value)
        return value / max(1, count)

    def _draw(self, current, now, time_per_unit, finalize):
        """One verbose-1 redraw, Keras's text: backspaces and ``\\r`` before it when the
        display is dynamic (a newline otherwise), ANSI bold/green/white codes, blanks over
        what a longer previous line left, a newline when finalizing."""
        message = "\b" * self._prev_total_width + "\r" if self._dynamic_display else "\n"
        if self.target is not None and self.target > 0:
            numdigits = int(math.log10(self.target)) + 1
            bar = f"\x1b[1m{f'%{numdigits}d/%d' % (current, self.target)}\x1b[0m "
            prog_width = int(self.width * float(current) / self.target)
            if prog_width > 0:
                bar += f"\33[32m{'━' * prog_width}\x1b[0m"
            bar += f"\33[37m{'━' * (self.width - prog_width)}\x1b[0m"
        else:
            bar = "%7d/Unknown" % current
        if self.target is not None and self.target > 0 and not finalize:
            eta = time_per_unit * (self.target - current)
            if eta > 3600:
                eta_format = "%d:%02d:%02d" % (eta // 3600, (eta % 3600) // 60, eta % 60)
            elif eta > 60:
                eta_format = "%d:%02d" % (eta // 60, eta % 60)
            else:
                eta_format = "%ds" % eta
        else:
            eta_format = f"{now - self._start:.0f}s"  # time elapsed since start
        info = f" \x1b[1m{eta_format}\x1b[0m" + _format_time(time_per_unit, self.unit_name)
        for k in self._values_order:
            avg = self._average(k)
            info += f" - {k}: {avg:.4f}" if abs(avg) > 1e-3 else f" - {k}: {avg:.4e}"
        message += bar + info
        total_width = len(_strip_ansi(bar)) + len(_strip_ansi(info))
        if self._prev_total_width > total_width:
            message += " " * (self._prev_total_width - total_width)
        if finalize:
            message += "\n"
        print_msg(message, line_break=False)
        self._prev_total_width = total_width

    def _estimate_step_duration(self, current, now):
        """Seconds per step; past step 1 the first (slow, non-representative) step is left out."""
        if not current:
            return 0
        if self._time_after_first_step is not None and current > 1:
            time_per_unit = (now - self._time_after_first_step) / (current - 1)
        else:
            time_per_unit = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return time_per_unit


def _format_time(time_per_unit, unit_name):
    """``" 5s/step"``, ``" 480ms/step"`` or ``" 35us/step"``, as Keras formats a duration."""
    if time_per_unit >= 1 or time_per_unit == 0:
        return f" {time_per_unit:.0f}s/{unit_name}"
    if time_per_unit >= 1e-3:
        return f" {time_per_unit * 1000.0:.0f}ms/{unit_name}"
    return f" {time_per_unit * 1000000.0:.0f}us/{unit_name}"


def _mean(values):
    """Mean of a sequence (or array) of numbers, as a float (Keras: ``np.mean``)."""
    if hasattr(values, "mean"):
        return float(values.mean())
    values = list(values) if not isinstance(values, (int, float)) else [values]
    return float(sum(values)) / max(len(values), 1)


def _strip_ansi(text):
    out, i = [], 0
    while i < len(text):
        if text[i] == "\x1b":
            i = text.index("m", i) + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _is_dynamic(stream):
    """Keras's test: a terminal, IPython, PyCharm, or any POSIX system."""
    isatty = getattr(stream, "isatty", None)
    try:
        tty = bool(isatty()) if isatty is not None else False
    except (ValueError, OSError):  # a closed stream
        tty = False
    return (tty or "ipykernel" in sys.modules or "posix" in sys.modules
            or "PYCHARM_HOSTED" in os.environ)


_interactive_logging = [True]
_logger = logging.getLogger("portanet")


def enable_interactive_logging():
    """Progress bars, summaries and callback messages go to stdout (the default), as
    ``keras.utils.enable_interactive_logging``."""
    _interactive_logging[0] = True


def disable_interactive_logging():
    """Send them to the ``portanet`` logger (``logging.info``) instead, as Keras sends them
    to ``absl.logging`` (``keras.utils.disable_interactive_logging``)."""
    _interactive_logging[0] = False


def is_interactive_logging_enabled():
    """Whether output goes to stdout (True) or to the ``portanet`` logger (False)."""
    return _interactive_logging[0]


def print_msg(message, line_break=True):
    """Keras's ``io_utils.print_msg``: to stdout (plus a newline when ``line_break``) while
    interactive logging is on, else to the ``portanet`` logger at INFO level."""
    message = str(message)
    if is_interactive_logging_enabled():
        _write(f"{message}\n" if line_break else message)
    else:
        _logger.info(message)


def _write(message):
    """Writes to the current ``sys.stdout`` (so redirection and capture see it), as Keras's
    ``io_utils.print_msg``: characters the stream cannot encode are replaced."""
    stream = sys.stdout
    try:
        stream.write(message)
    except UnicodeEncodeError:
        encoding = getattr(stream, "encoding", None) or "utf-8"
        stream.write(message.replace("━", "=").encode(encoding, errors="ignore").decode(encoding))
    stream.flush()
