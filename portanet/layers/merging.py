"""Layers of the merging family (filled in by its issue)."""

__all__ = []
