"""Models: ``Model`` (functional when given inputs/outputs), ``Sequential``."""

from .model import Model
from .sequential import Sequential

__all__ = ["Model", "Sequential"]
