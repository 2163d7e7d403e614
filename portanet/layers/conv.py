"""Layers of the conv family (filled in by its issue)."""

__all__ = []
