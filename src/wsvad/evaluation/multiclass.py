"""What happened: class-wise frame F1, their mean (MF1) and the class confusion matrix.

The CityScene challenge's "specific anomaly detection" task (GIG paper Sect. 4.3): a frame is
predicted as class c when its anomaly score reaches the threshold τ and c is its most probable
anomaly class; it is a class-c frame in the ground truth when it is abnormal and its video's
class is c. Per class, precision = TP/(TP+FP), recall = TP/(TP+FN) over the frames of every test
video (normal ones included: their flagged frames are false positives of the predicted class),
F1 = 2PR/(P+R) (0 when there is no TP), MF1 = the mean over the classes present in the test
ground truth.

Example:
    >>> import numpy as np
    >>> scores = {"a": np.array([0.9, 0.9, 0.1]), "n": np.array([0.8, 0.2, 0.2])}
    >>> labels = {"a": np.array([1, 1, 0]), "n": np.array([0, 0, 0])}
    >>> pred = {"a": np.array([0, 1, 1]), "n": np.array([0, 0, 0])}    # class index per frame
    >>> f1 = classwise_f1(scores, pred, labels, {"a": ["fall"], "n": []}, ["fall", "fight"], 0.5)
    >>> # fall: TP 1 (a[0]), FP 1 (n[0]), FN 1 (a[1] said fight) → P = R = 0.5 → F1 0.5
    >>> f1
    {'fall': 0.5}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def classwise_f1(scores: Mapping[str, np.ndarray], pred_class: Mapping[str, np.ndarray],
                 labels: Mapping[str, np.ndarray], classes: Mapping[str, Sequence[str]],
                 vocab: list[str], threshold: float) -> dict[str, float]:
    """Frame F1 per anomaly class present in the test ground truth (see the module docstring).

    ``scores``/``labels``/``pred_class``: per video, per frame (anomaly score, 0/1 label, index
    into ``vocab``); ``classes``: each test video's anomaly classes (empty for normal ones)."""
    tp, fp, fn = (dict.fromkeys(vocab, 0) for _ in range(3))
    present: set[str] = set()
    for name, s in scores.items():
        y = np.asarray(labels[name]) > 0
        flagged = np.asarray(s) >= threshold
        said = np.asarray(pred_class[name])
        truth = [c for c in classes.get(name, ()) if c in tp]
        if y.any():
            present.update(truth)
        for i, c in enumerate(vocab):
            pred_c = flagged & (said == i)
            true_c = y if c in truth else np.zeros_like(y)
            tp[c] += int((pred_c & true_c).sum())
            fp[c] += int((pred_c & ~true_c).sum())
            fn[c] += int((~pred_c & true_c).sum())
    out = {}
    for c in vocab:
        if c not in present:
            continue
        out[c] = 0.0 if tp[c] == 0 else 2 * tp[c] / (2 * tp[c] + fp[c] + fn[c])
    return out


def confusion(snippet_scores: Mapping[str, np.ndarray], snippet_classes: Mapping[str, np.ndarray],
              classes: Mapping[str, Sequence[str]], vocab: list[str], threshold: float
              ) -> tuple[np.ndarray, list[str]]:
    """Video-level confusion matrix ``[K+1, K+1]`` (rows: true, columns: predicted; index 0 =
    normal): a video is predicted normal when no snippet reaches τ, else the most probable class
    of its highest-scoring snippet. Videos with several true classes count under the first.

    Example:
        >>> import numpy as np
        >>> m, names = confusion({"a": np.array([0.2, 0.9]), "n": np.array([0.1, 0.3])},
        ...                      {"a": np.array([[0.9, 0.1], [0.2, 0.8]]),
        ...                       "n": np.array([[0.5, 0.5], [0.5, 0.5]])},
        ...                      {"a": ["fight"], "n": []}, ["fall", "fight"], 0.5)
        >>> names, m.tolist()
        (['normal', 'fall', 'fight'], [[1, 0, 0], [0, 0, 0], [0, 0, 1]])
    """
    names = ["normal", *vocab]
    m = np.zeros((len(names), len(names)), int)
    for video, s in snippet_scores.items():
        truth = [c for c in classes.get(video, ()) if c in vocab]
        row = 1 + vocab.index(truth[0]) if truth else 0
        s = np.asarray(s)
        top = int(s.argmax())
        col = 0 if s[top] < threshold else 1 + int(np.asarray(snippet_classes[video])[top].argmax())
        m[row, col] += 1
    return m, names
