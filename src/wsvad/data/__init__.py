"""Feature data: readers for published layouts and stores, dataset specs, ground truth, streams,
batches and training bags."""

from wsvad.data.bags import BagSet, BalancedBags
from wsvad.data.batch import Batch, collate
from wsvad.data.groundtruth import snippet_to_frame
from wsvad.data.segments import resample_segments
from wsvad.data.spec import DatasetSpec, FeatureDataset, VideoEntry, load_dataset

__all__ = ["BagSet", "BalancedBags", "Batch", "DatasetSpec", "FeatureDataset", "VideoEntry",
           "collate", "load_dataset", "resample_segments", "snippet_to_frame"]
