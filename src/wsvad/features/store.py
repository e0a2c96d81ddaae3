"""FeatureStore writer: ``<stream>/<name>.npy`` per video and stream, ``meta/<name>.json`` per
finished video (written last, so its presence means the video is complete), ``contract.json``,
and ``manifest.json`` (the contract + every video's metadata) rebuilt at the end of each job.
Every file is written atomically; re-runs skip finished videos; a store refuses features made
with a different contract. Asking an existing store for more streams (``--patches``, ``--maps``,
``--tubes`` …) re-extracts its videos with them; the contract names the new streams once every
video has them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from wsvad.backbones.video_encoder import EncodedVideo
from wsvad.contract import FeatureContract
from wsvad.errors import ContractMismatch, WsvadError
from wsvad.fileio import atomic_write, write_json


class FeatureStoreWriter:
    """Example:
        >>> w = FeatureStoreWriter("store", contract)                 # doctest: +SKIP
        >>> w.write("Test001", encoded); w.finalize()                  # doctest: +SKIP
    """

    def __init__(self, root: str | Path, contract: FeatureContract, layout: str = "store"):
        self.root, self.contract, self.layout = Path(root), contract, layout
        self.root.mkdir(parents=True, exist_ok=True)
        existing = self.root / "contract.json"
        self.stored = contract
        if existing.is_file():
            old = FeatureContract.from_dict(json.loads(existing.read_text()))
            try:
                old.check_compatible(contract, f"existing store {self.root}", "this extraction")
            except ContractMismatch as exc:   # its advice is for runs; a store needs a new --out
                problems = str(exc).split("\n")[1:-1]
                raise ContractMismatch(
                    f"store {self.root} was made differently from this extraction:\n"
                    + "\n".join(problems) + "\nExtract into a new folder (--out), or delete the "
                    "store first; a store holds features made one way only.") from None
            lost = sorted(set(old.stream_names) - set(contract.stream_names))
            if lost:
                raise WsvadError(f"store {self.root} holds streams {', '.join(lost)} that this "
                                 "extraction would not write; ask for them too (--patches, "
                                 "--maps, --maps-trunk, --boxes, --tubes) or use a new --out")
            self.stored = old
        else:
            write_json(existing, contract.to_dict())

    def _meta(self, name: str) -> Path:
        return self.root / "meta" / f"{name}.json"

    def done(self, name: str) -> bool:
        """The video is finished and has every stream this extraction writes."""
        meta = self._meta(name)
        if not meta.is_file():
            return False
        have = json.loads(meta.read_text()).get("streams", {})
        return set(self.contract.stream_names) <= set(have)

    def write(self, name: str, enc: EncodedVideo) -> None:
        streams = {}
        for stream, arr in enc.streams.items():
            rel = f"{name}_i3d.npy" if (self.layout == "rtfm" and stream == "features") \
                else f"{stream}/{name}.npy"
            atomic_write(self.root / rel, lambda p, a=arr: np.save(p, a))
            streams[stream] = rel
        write_json(self._meta(name), {"frames": enc.frames, "fps": enc.fps,
                                      "snippets": enc.snippets, "source": enc.source,
                                      "streams": streams, **enc.meta})

    def finalize(self) -> Path:
        videos = {p.stem: json.loads(p.read_text())
                  for p in sorted((self.root / "meta").glob("*.json"))}
        if self.stored is not self.contract and all(
                set(self.contract.stream_names) <= set(v.get("streams", {}))
                for v in videos.values()):
            write_json(self.root / "contract.json", self.contract.to_dict())  # grown everywhere
            self.stored = self.contract
        return write_json(self.root / "manifest.json",
                          {"contract": self.stored.to_dict(), "videos": videos})
