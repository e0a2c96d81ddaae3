"""Methods, created by name from one registry.

Example:
    >>> from wsvad import methods
    >>> methods.names()
    ['mil', 'rtfm']
    >>> m = methods.create("rtfm", dim=256, variant="paper")
"""

from wsvad.methods import mil, rtfm  # noqa: F401  (register)
from wsvad.methods.base import Method, MethodConfig, Output, create, get, names, register

__all__ = ["Method", "MethodConfig", "Output", "create", "get", "names", "register"]
