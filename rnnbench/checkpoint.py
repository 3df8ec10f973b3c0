"""Checkpoints: everything needed to continue a run bit-identically.

``checkpoint.pt`` holds the model, optimiser and scheduler states, the training progress
(:class:`TrainingState`: step, best and last metrics, logged curves, wall time, a carried TBPTT state) and
the RNG states (torch CPU and CUDA, numpy, Python). Task batches are pure functions of (seed, step), so no
data-loader state is needed. The file is written to a temporary name and renamed; its SHA-256 is stored
in ``checkpoint.json`` beside it and checked before loading, so a truncated or corrupted checkpoint is
reported, never loaded.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rnnbench.records import write_atomic

CHECKPOINT = "checkpoint.pt"
MANIFEST = "checkpoint.json"


class CheckpointError(RuntimeError):
    pass


@dataclass
class TrainingState:
    step: int = 0
    wall_s: float = 0.0
    metrics: dict = field(default_factory=dict)
    best: dict = field(default_factory=dict)
    rows: list = field(default_factory=list)
    carried_state: object = None


def rng_states() -> dict:
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": np.random.get_state(), "python": random.getstate()}


def set_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])


def save(run_dir: Path, net: nn.Module, optimization, state: TrainingState) -> Path:
    run_dir = Path(run_dir)
    buffer = io.BytesIO()
    torch.save({"model": net.state_dict(), "optimization": optimization.state_dict(),
                "training": asdict(state), "rng": rng_states()}, buffer)
    payload = buffer.getvalue()
    path = run_dir / CHECKPOINT
    tmp = path.with_suffix(".pt.tmp")
    with open(tmp, "wb") as f:
        f.write(payload)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    write_atomic(run_dir / MANIFEST, json.dumps({"sha256": hashlib.sha256(payload).hexdigest(),
                                                  "bytes": len(payload), "step": state.step}) + "\n")
    return path


def find(location: Path) -> Path | None:
    """The checkpoint file at ``location`` (a run directory or a checkpoint file), if any."""
    location = Path(location)
    path = location / CHECKPOINT if location.is_dir() else location
    return path if path.exists() else None


def load(path: Path, net: nn.Module, optimization) -> TrainingState:
    path = Path(path)
    manifest_path = path.parent / MANIFEST
    if not manifest_path.exists():
        raise CheckpointError(f"{path}: no {MANIFEST} beside it, so its integrity cannot be checked")
    manifest = json.loads(manifest_path.read_text())
    payload = path.read_bytes()
    if hashlib.sha256(payload).hexdigest() != manifest["sha256"]:
        raise CheckpointError(f"{path}: checksum mismatch ({len(payload)} bytes, expected "
                              f"{manifest['bytes']}); the checkpoint is corrupted or truncated")
    data = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=False)
    net.load_state_dict(data["model"])
    optimization.load_state_dict(data["optimization"])
    set_rng_states(data["rng"])
    state = TrainingState(**data["training"])
    device = next(net.parameters()).device
    state.carried_state = _to(state.carried_state, device)
    return state


def _to(state, device):
    if state is None or isinstance(state, torch.Tensor):
        return None if state is None else state.to(device)
    return type(state)(_to(s, device) for s in state)
