"""gan_helpers: the library behind the fashion-gan notebooks."""

__version__ = "0.1.0"
