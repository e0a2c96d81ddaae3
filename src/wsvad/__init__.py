"""wsvad: weakly-supervised video anomaly detection on one core.

Example:
    >>> import wsvad
    >>> wsvad.methods.names(trains=True)
    ['clav', 'gig', 'gig_e2e', 'mil', 'rtfm', 'ssrl', 'wsstad']
    >>> print(*wsvad.methods.names(trains=False))
    feature_magnitude flow_mean flow_percentile normal_distance static_foreground tube_motion
"""

from wsvad import methods  # noqa: E402,F401  (registers the methods)
from wsvad.detect.detector import DetectionResult, Detector  # noqa: E402,F401
from wsvad.version import __version__  # noqa: F401
