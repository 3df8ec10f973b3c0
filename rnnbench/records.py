"""Run records: ``result.json`` (one per run) and ``metrics.csv`` (its curves), written atomically.

Record fields (the design page's schema):
``status`` (completed | diverged | failed | interrupted | running), ``model``, ``task``, ``seed``,
``params`` (trainable count), ``metrics`` (final, keyed ``split/metric``), ``best`` (metrics at the best
validation point, with its ``step``), ``steps``, ``wall_s``, ``device``, ``config`` (resolved),
``versions``, ``code`` (the git revision of the code that ran: ``commit`` and ``dirty``, i.e. tracked files
differed from it; null outside a git checkout); plus ``constants`` (task reference values such as baselines),
``exploded`` (the training loss left the useful range, see :func:`rnnbench.train.explosion`) with
``explosion``, ``eval_capped`` (evaluation limited by ``trainer.eval_max_batches``), ``error`` for failed runs and
``diverged_at`` for diverged ones. Files are written to a temporary name and renamed, so a reader sees a complete
file or none, and a failed write (naming the file) keeps the previous one.

An attempt never replaces a result with a non-result: when ``result.json`` holds a completed or diverged run,
an attempt that is running, failed, refused or interrupted is recorded in ``last_attempt.json`` beside it
(removed again when an attempt records a result).
"""

from __future__ import annotations

import csv
import io
import json
import platform
import subprocess
from pathlib import Path

import torch

import rnnbench
from rnnbench.files import write_atomic

RECORD = "result.json"
LAST_ATTEMPT = "last_attempt.json"
CURVES = "metrics.csv"
STATUSES = ("completed", "diverged", "failed", "interrupted", "running")
RESULTS = ("completed", "diverged")      # statuses of a finished run, which only another result replaces


def write_record(run_dir: Path, record: dict, name: str = RECORD) -> None:
    write_atomic(Path(run_dir) / name, json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")


def write_attempt(run_dir: Path, record: dict) -> None:
    """Write an attempt's record as ``result.json``, or as ``last_attempt.json`` when ``result.json`` holds a
    result and this attempt has none."""
    previous = read_record(run_dir)
    if record["status"] not in RESULTS and previous is not None and previous.get("status") in RESULTS:
        write_record(run_dir, record, LAST_ATTEMPT)
        return
    write_record(run_dir, record)
    (Path(run_dir) / LAST_ATTEMPT).unlink(missing_ok=True)


def read_record(run_dir: Path) -> dict | None:
    path = Path(run_dir) / RECORD
    return json.loads(path.read_text()) if path.exists() else None


def write_curves(run_dir: Path, rows: list[dict]) -> None:
    """Write all logged rows (a union of their keys as columns, in first-seen order)."""
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns))
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(Path(run_dir) / CURVES, buffer.getvalue())


def versions() -> dict[str, str]:
    return {"rnnbench": rnnbench.__version__, "torch": torch.__version__, "python": platform.python_version()}


def code_revision() -> dict[str, str | bool | None]:
    """The git commit of the checkout holding this package, and whether tracked files differ from it."""
    root = Path(rnnbench.__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def scan(root: Path) -> list[dict]:
    """Every record below ``root``, each with its ``run_dir``."""
    records = []
    for path in sorted(Path(root).rglob(RECORD)):
        record = json.loads(path.read_text())
        record["run_dir"] = str(path.parent)
        records.append(record)
    return records
