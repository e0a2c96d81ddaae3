"""From a trained run to alerts on video: events, thresholds, detection, overlays."""
