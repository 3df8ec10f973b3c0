"""One process per run directory: an advisory lock on ``<run_dir>/run.lock``, held for the whole run.

``fcntl.flock`` locks belong to the open file, so the kernel releases them when the holder exits in any way,
SIGKILL included: a lock is never stale. The file itself stays (deleting it would let two processes lock two
different files); it names its last holder (pid, host, start time), which a second process reports.

On NFS, Linux emulates ``flock`` with byte-range locks that hold across clients only when the server's lock
service works and the mount does not use ``nolock`` or ``local_lock``; otherwise the lock is local to each
host. A filesystem that refuses locks (ENOLCK, EOPNOTSUPP) gets a one-line warning and the run goes on unlocked.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = "run.lock"
UNSUPPORTED = (errno.ENOLCK, errno.EOPNOTSUPP)


class RunLocked(RuntimeError):
    """Another process holds the run directory's lock; ``str()`` names the directory and the holder."""


@contextmanager
def hold(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir``'s lock until the block ends; :class:`RunLocked` at once if another process holds it."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "a process not yet named"
            raise RunLocked(f"{run_dir} is locked by another run ({holder})") from None
        except OSError as error:
            if error.errno not in UNSUPPORTED:
                raise
            print(f"warning: cannot lock {path} ({error.strerror}); running without the run-directory lock",
                  file=sys.stderr)
        else:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since "
                          f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
