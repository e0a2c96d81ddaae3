"""Metrics and reports (frame AUC, AP two ways, abnormal-only, class-wise, false alarms)."""

from wsvad.evaluation.metrics import (
                                      abnormal_only_auc,
                                      classwise_auc,
                                      evaluate_scores,
                                      false_alarm_rate,
                                      frame_ap,
                                      frame_auc,
                                      frame_pr_auc_trapezoid,
                                      video_auc,
)

__all__ = ["abnormal_only_auc", "classwise_auc", "evaluate_scores", "false_alarm_rate",
           "frame_ap", "frame_auc", "frame_pr_auc_trapezoid", "video_auc"]
