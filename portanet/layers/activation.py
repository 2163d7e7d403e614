"""Layers of the activation family (filled in by its issue)."""

__all__ = []
