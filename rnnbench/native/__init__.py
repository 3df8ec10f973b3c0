"""Native CPU kernels, compiled on first use with torch's C++ extension builder and cached.

``load(name)`` builds ``rnnbench/native/<name>.cpp`` (once per machine and source version, ~30 s, into
``$RNNBENCH_NATIVE_DIR`` or ``~/.cache/rnnbench/native/<cpu>``, keyed by the CPU's instruction sets because the
code is built with ``-march=native``) and returns the module, or None when native kernels are switched off
(``RNNBENCH_NATIVE=0``) or cannot be built here (no compiler or ninja); the caller then uses its pure-torch
path, which computes the same thing. A failed build is reported once, as a warning.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import warnings
from pathlib import Path

SOURCES = Path(__file__).parent
# -ffast-math lets GCC divide by a reciprocal estimate: on AVX2 (no AVX-512's 14-bit vrcp14ps) it emits vrcpps and
# one Newton step, so 1 / (1 + e^-x) is 1 - 2^-24 at best, a saturated gate's σ(1 - σ) is 6e-8 instead of 0, and
# summed over hundreds of steps the peephole and input gradients drifted by 2-100 % from the torch path.
EXACT_DIVISION = ["-mno-recip"] if platform.machine() in ("x86_64", "AMD64") else []


def enabled() -> bool:
    return os.environ.get("RNNBENCH_NATIVE", "1") != "0"


def _cpu_key() -> str:
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        flags = platform.processor()
    return f"{platform.machine()}-{hashlib.sha256(flags.encode()).hexdigest()[:10]}"


@functools.cache
def _build(name: str):
    from torch.utils.cpp_extension import load as load_extension
    directory = Path(os.environ.get("RNNBENCH_NATIVE_DIR", Path.home() / ".cache" / "rnnbench" / "native"))
    directory = directory / _cpu_key() / name
    directory.mkdir(parents=True, exist_ok=True)
    try:
        return load_extension(f"rnnbench_{name}", [str(SOURCES / f"{name}.cpp")], build_directory=str(directory),
                              extra_cflags=["-O3", "-march=native", "-ffast-math", "-fopenmp-simd", *EXACT_DIVISION])
    except Exception as error:  # noqa: BLE001 — any build failure means: use the torch path
        message = str(error).strip().splitlines()
        warnings.warn(f"native kernel {name!r} unavailable, using the pure-torch path: "
                      f"{message[-1] if message else type(error).__name__}", stacklevel=3)
        return None


def load(name: str):
    """The compiled module for ``rnnbench/native/<name>.cpp``, or None (see the module docstring)."""
    return _build(name) if enabled() else None
