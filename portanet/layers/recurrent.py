"""Layers of the recurrent family (filled in by its issue)."""

__all__ = []
