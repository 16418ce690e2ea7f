"""The package's version (the kernel layer: anything may import it)."""

__version__ = "0.1.0"
