"""Files written whole or not at all, and payloads checked against a manifest when read back.

Every file the package writes (run records, curves, checkpoints, the data cache) goes through
:func:`write_atomic` or :func:`write_together`: the bytes go to a temporary name beside the target, are flushed
to the disk, and only then renamed over it, so a failed write (a full disk, an unwritable directory) leaves the
previous complete file in place. A payload stored with a manifest (the checkpoint, a cached data set) has its
SHA-256 and size in a JSON file beside it (:func:`manifest`), checked by :func:`verify` before it is used.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def _stage(path: Path, data: bytes) -> Path:
    """``data`` in a temporary file beside ``path``, flushed to the disk (removed again if writing fails)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def write_together(files: dict[Path, bytes | str]) -> None:
    """Write every file, then rename them all into place: an OSError while writing any of them leaves every
    previous file as it was (text is written as UTF-8)."""
    staged: dict[Path, Path] = {}
    path = None
    try:
        for path, data in files.items():
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            staged[path] = _stage(path, data.encode() if isinstance(data, str) else data)
    except BaseException as error:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
        if isinstance(error, OSError) and error.filename is None:
            error.filename = str(path)
        raise
    for path, tmp in staged.items():
        os.replace(tmp, path)


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write one file whole or not at all."""
    write_together({Path(path): data})


def manifest(payload: bytes, **fields) -> dict:
    """The manifest of ``payload``: its SHA-256 and size, plus ``fields``."""
    return {"sha256": hashlib.sha256(payload).hexdigest(), "bytes": len(payload), **fields}


def verify(payload: bytes, expected: dict) -> str | None:
    """None when ``payload`` matches the ``expected`` manifest, else what differs, in words."""
    actual = manifest(payload)
    if actual["sha256"] == expected.get("sha256"):
        return None
    return (f"checksum mismatch ({actual['bytes']} bytes, expected {expected.get('bytes')}; SHA-256 "
            f"{actual['sha256'][:12]}…, expected {str(expected.get('sha256'))[:12]}…)")
