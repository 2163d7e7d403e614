"""Training diagnostics: the lecture's lessons checked while a model trains.

The lecture warns about unstandardized inputs (units saturate), a learning rate that is
too small (slow) or too large (the sequence becomes unstable), saturation, and exploding
gradients (clip them). The pieces live where the code's layers put them; this module
gathers them under one name:

- ``warn_if_not_standardized`` (``portanet.training.standardization``): ``fit`` calls it
  once, before training, on a sample of the inputs; it warns when feature columns are far
  from standardized and the model has no ``Normalization`` layer.
- ``TrainingDiagnostics`` (``portanet.callbacks``): once per epoch, per layer, the gradient
  norm, the update-to-weight ratio, the fraction of saturated units (sigmoid/tanh layers)
  and of dead units (ReLU layers), and the loss's course, with warnings and remedies.
  ``fit(..., diagnostics=True)`` adds it.
- ``TerminateOnNaN`` (``portanet.callbacks``): stops on a NaN/Inf loss (as Keras) and names
  the layer that first produced a non-finite value on the failing batch.

Nothing here costs anything per training step unless the callback is in use.
"""

from .callbacks import TerminateOnNaN, TrainingDiagnostics
from .training.standardization import warn_if_not_standardized

__all__ = ["TrainingDiagnostics", "TerminateOnNaN", "warn_if_not_standardized"]
