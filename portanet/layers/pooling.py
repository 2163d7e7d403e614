"""Layers of the pooling family (filled in by its issue)."""

__all__ = []
