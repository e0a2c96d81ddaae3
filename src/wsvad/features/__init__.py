"""Extraction jobs and the FeatureStore."""

from wsvad.features.extract import ExtractReport, extract, list_videos
from wsvad.features.store import FeatureStoreWriter

__all__ = ["ExtractReport", "FeatureStoreWriter", "extract", "list_videos"]
