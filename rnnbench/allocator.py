"""CPU memory allocator setting for training loops (``reuse_freed_memory`` in the config).

Every training step allocates and frees the same large activation buffers. glibc's malloc, by default, serves
blocks above a threshold with fresh ``mmap`` pages and returns freed memory at the top of the heap to the
system, so each step page-faults its buffers in again: on a 128-unit LSTM at T=880 that made a step ~30%
slower, and the cost per step grew faster than T. :func:`reuse_freed_memory` raises the mmap threshold to
glibc's 32 MiB maximum, stops trimming the heap, and grows it 512 MiB of address space at a time (untouched pages
cost no memory), so freed blocks stay in the heap for the next step. Memory held is then the run's peak.
Returns False (and changes nothing) where the C library has no ``mallopt``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3   # mallopt parameters (glibc malloc.h)
MMAP_THRESHOLD_MAX = 32 * 2**20                               # glibc's upper bound on 64-bit systems
TOP_PAD = 512 * 2**20                                         # address space only: untouched pages cost nothing


@functools.cache
def reuse_freed_memory() -> bool:
    """Keep freed memory in the heap for reuse; True when the allocator took the setting."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    settings = ((M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX), (M_TRIM_THRESHOLD, 2**31 - 1), (M_TOP_PAD, TOP_PAD))
    return all(mallopt(parameter, value) == 1 for parameter, value in settings)
