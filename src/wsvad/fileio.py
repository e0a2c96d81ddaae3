"""Atomic writes: a file appears complete or not at all (write to a temp file, then rename)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then move ``tmp_path`` onto ``path`` in one rename.

    Example:
        >>> import numpy as np, tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = atomic_write(d / "a.npy", lambda p: np.save(p, np.zeros(3)))
        >>> np.load(d / "a.npy").shape
        (3,)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part" + path.suffix,
                               dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the user's usual mode
    try:
        write(tmp_path)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return path


def check_writable(path: str | Path, kind: str = "dir", what: str = "--out") -> Path:
    """Fail early (before any compute) when ``path`` cannot become an output folder
    (``kind="dir"``) or file (``kind="file"``): it exists as the other kind, a parent is a file,
    or the nearest existing parent is not writable.

    Example:
        >>> import tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "f"; _ = f.write_text("x")
        >>> check_writable(f / "sub")
        Traceback (most recent call last):
        ...
        wsvad.errors.WsvadError: --out .../f/sub: .../f is a file, not a folder; choose another path
    """
    from wsvad.errors import WsvadError
    path = Path(path)
    if path.exists():
        if kind == "dir" and not path.is_dir():
            raise WsvadError(f"{what} {path} is a file, not a folder; choose another path")
        if kind == "file" and path.is_dir():
            raise WsvadError(f"{what} {path} is a folder, not a file; name a file")
    parent = path if kind == "dir" else path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise WsvadError(f"{what} {path}: {parent} is a file, not a folder; choose another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise WsvadError(f"{what} {path}: {parent} is not writable by this user")
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text))


def write_json(path: str | Path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
