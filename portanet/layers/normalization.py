"""Layers of the normalization family (filled in by its issue)."""

__all__ = []
