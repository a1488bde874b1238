"""The studio's version, in a module of its own so the core can name it without importing
the `studio` package's lazy facade."""

__version__ = "0.1.0"
