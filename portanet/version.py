"""portanet's version (one place: the package and saved files read it here)."""

__version__ = "0.1.0"
