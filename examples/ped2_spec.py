"""Write a wsvad dataset spec for UCSD Ped2's weakly-supervised split over an extracted store.

    python examples/ped2_spec.py path/to/ucsd_ped2 store ped2
    # → ped2/spec.yaml, train.txt, test.txt, labels.csv, frame_labels.npz (a copy)

``path/to/ucsd_ped2`` holds ``videos/``, ``index.json``, ``frame_labels.npz`` and, if present,
``test_mask_boxes.json`` (per-frame boxes of the anomalies, for the localisation metrics).

Train = 6 abnormal + 4 normal videos (the RTFM-line re-split in ``index.json``), test = the
other 18; video labels are video-level only (weak supervision).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path


def main(ped2: str, store: str, out: str) -> Path:
    ped2_dir, out_dir = Path(ped2), Path(out)
    index = json.loads((ped2_dir / "index.json").read_text())
    split = index["splits"]["weak"]
    out_dir.mkdir(parents=True, exist_ok=True)
    for part in ("train", "test"):
        (out_dir / f"{part}.txt").write_text("\n".join(split[part]) + "\n")
    rows = [f"{n},{v['video_label']}" for n, v in sorted(index["videos"].items())]
    (out_dir / "labels.csv").write_text("name,label\n" + "\n".join(rows) + "\n")
    shutil.copy(ped2_dir / "frame_labels.npz", out_dir / "frame_labels.npz")
    spec = out_dir / "spec.yaml"
    text = (f"name: ucsd_ped2_weak\nformat: store\nfeature_dir: {Path(store).resolve()}\n"
            "train_list: train.txt\ntest_list: test.txt\nlabels: labels.csv\n"
            f"gt: frame_labels.npz\nvideos: {(ped2_dir / 'videos').resolve()}\n")
    if (ped2_dir / "test_mask_boxes.json").is_file():
        text += f"boxes: {(ped2_dir / 'test_mask_boxes.json').resolve()}\n"
    spec.write_text(text)
    return spec


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    print(main(*sys.argv[1:]))
