"""Methods, created by name from one registry (learned methods and training-free baselines).

Example:
    >>> from wsvad import methods
    >>> methods.names(trains=True)
    ['clav', 'gig', 'gig_e2e', 'mil', 'rtfm', 'ssrl', 'wsstad']
    >>> m = methods.create("rtfm", dim=256, variant="paper")
"""

from wsvad.methods import baselines, clav, gig, mil, rtfm, ssrl, wsstad  # noqa: F401  (register)
from wsvad.methods.base import (
    Localization,
    Method,
    MethodConfig,
    Output,
    Tube,
    create,
    get,
    names,
    register,
)

__all__ = ["Localization", "Method", "MethodConfig", "Output", "Tube", "create", "get", "names",
           "register"]
