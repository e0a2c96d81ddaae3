"""Frame-level ground truth: builders for the published annotations and snippet↔frame alignment.

Alignment rules (16-frame snippets, ``clip`` in general):

* snippet t covers frames ``[clip·t, clip·(t+1))``; a snippet's score is repeated ``clip`` times
  (as the RTFM / Sultani evaluation codes do);
* when the frame labels are shorter than ``clip·T`` (labels truncated to whole snippets, e.g. the
  UCF-Crime/XD label files) the frame scores are cut to the labels' length;
* when they are longer (a last partial snippet that the feature release dropped), the last
  snippet's score is carried over the remaining frames, so every labelled frame is scored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wsvad.errors import DataError


def snippet_to_frame(scores: np.ndarray, n_frames: int | None = None, clip: int = 16) -> np.ndarray:
    """Expand ``[T]`` snippet scores to frames (rules in the module docstring).

    Example:
        >>> snippet_to_frame(np.array([0.1, 0.9]), 5, clip=2).tolist()
        [0.1, 0.1, 0.9, 0.9, 0.9]
    """
    frames = np.repeat(np.asarray(scores, dtype=np.float64), clip)
    if n_frames is None or n_frames == len(frames):
        return frames
    if n_frames < len(frames):
        return frames[:n_frames]
    return np.concatenate([frames, np.full(n_frames - len(frames), frames[-1])])


def parse_ucf_annotation(path: str | Path) -> dict[str, tuple[str, list[tuple[int, int]]]]:
    """``Temporal_Anomaly_Annotation.txt`` → ``{name: (class, [(start, end), …])}``.

    Lines are ``name.mp4 class s1 e1 s2 e2`` with ``-1`` for no second event. Also reads the
    variant with a frame count after the name (``UCF_Annotation_with_nframes.txt``).
    """
    out: dict[str, tuple[str, list[tuple[int, int]]]] = {}
    for i, line in enumerate(Path(path).read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        name = Path(parts[0]).name.removesuffix(".mp4")
        rest = parts[1:]
        if rest and rest[0].lstrip("-").isdigit():  # with_nframes variant
            rest = rest[1:]
        if len(rest) < 5:
            raise DataError(f"{path}, line {i}: expected 'name class s1 e1 s2 e2', got {line!r}")
        nums = [int(x) for x in rest[1:5]]
        events = [(s, e) for s, e in zip(nums[::2], nums[1::2], strict=True) if s >= 0 and e >= 0]
        out[name] = (rest[0], events)
    return out


def parse_ucf_frame_counts(path: str | Path) -> dict[str, int]:
    """``UCF_Annotation_with_nframes.txt`` → ``{name: frame count}``."""
    out = {}
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if parts:
            out[Path(parts[0]).name.removesuffix(".mp4")] = int(parts[1])
    return out


def ucf_crime_frame_labels(annotation: str | Path,
                           frame_counts: dict[str, int]) -> dict[str, np.ndarray]:
    """Per-video frame labels from the UCF-Crime temporal annotation.

    An event ``(s, e)`` marks frames ``s … e-1`` (0-based, end exclusive) — the convention that
    reproduces the published per-frame label files.
    """
    labels = {}
    for name, (_cls, events) in parse_ucf_annotation(annotation).items():
        if name not in frame_counts:
            raise DataError(f"no frame count for UCF-Crime video '{name}'")
        lab = np.zeros(frame_counts[name], dtype=np.uint8)
        for s, e in events:
            lab[s:e] = 1
        labels[name] = lab
    return labels


def rtfm_pad(labels: np.ndarray, clip: int = 16, snippets: int | None = None) -> np.ndarray:
    """Pad frame labels to whole snippets the way RTFM's ``gt-*.npy`` files are built.

    Without ``snippets``: up to ``clip·ceil(n/clip)`` repeating the last label. With it: to exactly
    ``clip·snippets`` (padding with the last label, or cutting).
    """
    n = len(labels)
    target = clip * (snippets if snippets is not None else -(-n // clip))
    if target <= n:
        return np.asarray(labels[:target])
    return np.concatenate([labels, np.full(target - n, labels[-1], dtype=labels.dtype)])


def concat_gt(labels: dict[str, np.ndarray], names: list[str]) -> np.ndarray:
    """Concatenate per-video frame labels in list order (RTFM ``gt-*.npy`` layout)."""
    missing = [n for n in names if n not in labels]
    if missing:
        raise DataError(f"no frame labels for {len(missing)} videos, e.g. {missing[:3]}")
    return np.concatenate([labels[n] for n in names])


def split_concatenated_gt(gt: np.ndarray, names: list[str], snippets: list[int], clip: int,
                          source: str = "gt") -> dict[str, np.ndarray]:
    """Cut an RTFM concatenated ``gt`` into per-video labels of ``clip·T`` frames each."""
    lengths = [clip * t for t in snippets]
    if sum(lengths) != len(gt):
        raise DataError(
            f"{source} holds {len(gt)} frame labels but the test list's features have "
            f"{sum(snippets)} snippets × {clip} = {sum(lengths)} frames; the gt file must be the "
            "one made for this test list and feature release (frame labels concatenated in "
            "test-list order, each video padded to whole snippets)")
    out, pos = {}, 0
    for name, n in zip(names, lengths, strict=True):
        out[name] = np.asarray(gt[pos:pos + n]).astype(np.uint8)
        pos += n
    return out


def read_boxes(path: str | Path) -> dict[str, dict[int, list[tuple[float, ...]]]]:
    """Spatial ground truth ``{name: {frame: [(x1, y1, x2, y2), …]}}`` from a JSON file of rows
    ``[frame, x1, y1, x2, y2, …]`` per video — the plaza generator's ``boxes.json``, Ped2's
    ``test_mask_boxes.json`` and the UCF-Crime Liu & Ma files (these two keep the mapping under a
    ``"boxes"`` key).

    Example:
        >>> import json, tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "b.json"
        >>> _ = p.write_text(json.dumps({"boxes": {"v": [[3, 1, 2, 5, 6, 99]]}}))
        >>> read_boxes(p)
        {'v': {3: [(1.0, 2.0, 5.0, 6.0)]}}
    """
    import json
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise DataError(f"boxes file not found: {path}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a JSON file of boxes ({exc})") from exc
    if isinstance(raw, dict) and isinstance(raw.get("boxes"), dict):
        raw = raw["boxes"]
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected {{video: [[frame, x1, y1, x2, y2], …]}}")
    out: dict[str, dict[int, list[tuple[float, ...]]]] = {}
    for name, rows in raw.items():
        per: dict[int, list[tuple[float, ...]]] = {}
        try:
            for r in rows:
                if len(r) < 5:
                    raise ValueError(f"row {r!r} is too short")
                per.setdefault(int(r[0]), []).append(tuple(float(v) for v in r[1:5]))
        except (TypeError, ValueError, IndexError) as exc:
            raise DataError(f"{path}: video '{name}': rows must be [frame, x1, y1, x2, y2, …] "
                            f"({exc})") from exc
        out[name] = per
    return out
