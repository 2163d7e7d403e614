"""Layers of the preprocessing family (filled in by its issue)."""

__all__ = []
