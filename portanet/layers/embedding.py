"""Layers of the embedding family (filled in by its issue)."""

__all__ = []
