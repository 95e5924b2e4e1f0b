"""deepclust: deep contrastive clustering as scikit-learn estimators."""

from ._base import BaseDeepClusterer, ClusterCollapseWarning, DeviceWarning
from . import metrics
from ._drc import DRCClustering
from ._jcl import JCLClustering
from ._scl import SCLClustering

__all__ = [
    "BaseDeepClusterer",
    "ClusterCollapseWarning",
    "DRCClustering",
    "DeviceWarning",
    "metrics",
    "SCLClustering",
    "JCLClustering",
]
__version__ = "0.1.0"
