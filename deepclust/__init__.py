"""deepclust: deep contrastive clustering as scikit-learn estimators."""

from ._base import BaseDeepClusterer, ClusterCollapseWarning, DeviceWarning
from . import metrics
from ._drc import DRCClustering
from ._jcl import JCLClustering
from ._scl import SCLClustering
from ._persistence import load_model, save_model

__all__ = [
    "BaseDeepClusterer",
    "ClusterCollapseWarning",
    "DRCClustering",
    "DeviceWarning",
    "metrics",
    "SCLClustering",
    "JCLClustering",
    "load_model",
    "save_model",
]
__version__ = "0.1.0"
