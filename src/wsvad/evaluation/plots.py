"""ROC / PR curves and score timelines as PNG files (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import precision_recall_curve, roc_curve  # noqa: E402

from wsvad.fileio import atomic_write  # noqa: E402


def _save(fig, path: Path) -> Path:
    atomic_write(path, lambda p: fig.savefig(p, dpi=110, bbox_inches="tight", format="png"))
    plt.close(fig)
    return path


def plot_roc_pr(scores: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray],
                out_dir: str | Path, title: str = "") -> list[Path]:
    """Write ``roc.png`` and ``pr.png`` for pooled frame scores."""
    out_dir = Path(out_dir)
    s = np.concatenate([scores[n] for n in scores])
    y = np.concatenate([np.asarray(labels[n]) for n in scores]).astype(int)
    fpr, tpr, _ = roc_curve(y, s)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(fpr, tpr, lw=2)
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set(xlabel="false positive rate (frames)", ylabel="true positive rate",
           title=f"ROC {title}".strip())
    paths = [_save(fig, out_dir / "roc.png")]
    precision, recall, _ = precision_recall_curve(y, s)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(recall, precision, lw=2)
    ax.axhline(y.mean(), color="k", ls="--", lw=0.8, label="chance")
    ax.set(xlabel="recall", ylabel="precision", title=f"PR {title}".strip())
    ax.legend()
    paths.append(_save(fig, out_dir / "pr.png"))
    return paths


def plot_timelines(scores: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray],
                   out_path: str | Path, max_videos: int = 6) -> Path:
    """Score timelines (frames) with the labelled anomaly shaded, a few test videos."""
    abn = [n for n in scores if np.asarray(labels[n]).max() > 0]
    nor = [n for n in scores if n not in abn]
    names = (abn[: max_videos - 1] + nor[:1])[:max_videos]
    fig, axes = plt.subplots(len(names), 1, figsize=(8, 1.6 * len(names)), squeeze=False)
    for ax, n in zip(axes[:, 0], names, strict=True):
        y = np.asarray(labels[n])
        ax.fill_between(np.arange(len(y)), 0, y, color="tab:red", alpha=0.2, step="mid",
                        label="labelled anomaly")
        ax.plot(scores[n], color="tab:blue", lw=1.2, label="score")
        ax.set_ylim(0, 1.02)
        ax.set_ylabel(n, rotation=0, ha="right", fontsize=8)
    axes[0, 0].legend(loc="upper right", fontsize=7)
    axes[-1, 0].set_xlabel("frame")
    return _save(fig, Path(out_path))


def plot_history(history: list[dict], out_path: str | Path) -> Path:
    """Training curves: each loss term, and validation AUC where measured."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
    its = [h["iteration"] for h in history]
    keys = [k for k in (history[0] if history else {}) if k not in ("iteration",)
            and not k.startswith("val_")]
    for k in keys:
        ax1.plot(its, [h[k] for h in history], lw=1, label=k)
    ax1.set(xlabel="iteration", ylabel="loss term (weighted)", yscale="log", title="training")
    ax1.legend(fontsize=7)
    val = [(h["iteration"], h["val_video_auc"], h["val_loss"]) for h in history
           if "val_video_auc" in h]
    if val:
        its_v, aucs, losses = zip(*val, strict=True)
        ax2.plot(its_v, aucs, marker=".", color="tab:green", alpha=0.5, label="video AUC")
        smooth = [h.get("val_auc_smoothed") for h in history if "val_video_auc" in h]
        ax2.plot(its_v, smooth, color="tab:green", lw=2, label="running mean (selects)")
        ax3 = ax2.twinx()
        ax3.plot(its_v, losses, color="tab:gray", lw=1, label="loss (breaks AUC ties)")
        ax3.set_ylabel("validation loss")
        ax3.legend(loc="lower right", fontsize=7)
        ax2.legend(loc="lower left", fontsize=7)
    ax2.set(xlabel="iteration", ylabel="video AUC", title="validation (held-out train videos)")
    return _save(fig, Path(out_path))


def plot_confusion(matrix: np.ndarray, names: list[str], out_path: str | Path,
                   title: str = "") -> Path:
    """The class confusion matrix (rows: true class, columns: predicted), counts in the cells."""
    m = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(1.0 * len(names) + 2, 0.8 * len(names) + 1.5))
    ax.imshow(m, cmap="Blues")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, str(m[i, j]), ha="center", va="center",
                    color="white" if m[i, j] > m.max() / 2 else "black")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set(xlabel="predicted", ylabel="true", title=title or "videos by class")
    return _save(fig, Path(out_path))
