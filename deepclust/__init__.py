"""deepclust: deep contrastive clustering as scikit-learn estimators."""

from ._base import BaseDeepClusterer, DeviceWarning
from . import metrics
from ._drc import DRCClustering

__all__ = ["BaseDeepClusterer", "DRCClustering", "DeviceWarning", "metrics"]
__version__ = "0.1.0"
