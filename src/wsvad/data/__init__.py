"""Feature data: readers for published layouts, dataset specs, ground truth, batches."""

from wsvad.data.batch import BalancedBags, Batch
from wsvad.data.features import VideoFeatures
from wsvad.data.groundtruth import snippet_to_frame
from wsvad.data.segments import resample_segments
from wsvad.data.spec import DatasetSpec, FeatureDataset, VideoEntry, load_dataset

__all__ = ["BalancedBags", "Batch", "DatasetSpec", "FeatureDataset", "VideoEntry",
           "VideoFeatures", "load_dataset", "resample_segments", "snippet_to_frame"]
