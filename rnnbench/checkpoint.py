"""Checkpoints: everything needed to continue a run bit-identically.

``checkpoint.pt`` holds the model, optimiser and scheduler states, the training progress
(:class:`TrainingState`: step, best and last metrics, logged curves, wall time, a carried TBPTT state) and
the RNG states (torch CPU and CUDA, numpy, Python). Task batches are pure functions of (seed, step), so no
data-loader state is needed. ``checkpoint.json`` beside it holds its SHA-256, checked before loading (a
truncated or corrupted checkpoint is reported, never loaded), its step and the resolved config it was trained
with. Both files are written in full to temporary names, then renamed: a failed write (a full disk, an
unwritable directory) keeps the previous pair.

A run resumes only from a checkpoint trained with the same config, up to :data:`MAY_DIFFER_ON_RESUME`;
otherwise :class:`ConfigMismatch` names the keys that differ. A checkpoint saved before configs were stored is
resumed with a one-line warning.
"""

from __future__ import annotations

import io
import json
import random
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rnnbench.files import manifest, verify, write_together

CHECKPOINT = "checkpoint.pt"
MANIFEST = "checkpoint.json"

# Config keys that may differ between a checkpoint and the run resuming from it, because they extend the run
# (a larger budget), only observe it (logging, evaluation, checkpoint cadence, progress, wandb), choose how
# rather than what is computed (device, threads, denormals, allocator, compilation, anomaly detection), or
# steer the runner (resume, skip_completed, the experiment's sweep list). A key ending in a group name covers
# the group. Every other key changes training, so a checkpoint trained with another value is refused.
MAY_DIFFER_ON_RESUME = (
    "trainer.max_steps", "trainer.epochs", "task.epochs", "trainer.eval_every", "trainer.log_every",
    "trainer.checkpoint_every", "trainer.eval_test", "trainer.progress", "trainer.compile", "trainer.detect_anomaly",
    "trainer.train_metrics", "trainer.timing_steps",
    "logger",
    "device", "threads", "flush_denormal", "reuse_freed_memory", "resume", "skip_completed", "reproduce",
)
# ...except the evaluation cadence under a plateau schedule, which it paces (one schedule step per evaluation).
PACES_PLATEAU, PLATEAU = "trainer.eval_every", "torch.optim.lr_scheduler.ReduceLROnPlateau"


class CheckpointError(RuntimeError):
    pass


class ConfigMismatch(CheckpointError):
    """The checkpoint was trained with another value of a key that changes training."""


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


def save(run_dir: Path, net: nn.Module, optimization, state: TrainingState, config: dict | None = None) -> Path:
    """Write ``checkpoint.pt`` and its manifest (with ``config``, the resolved run config); CheckpointError
    naming the file if either cannot be written, the previous pair then being kept."""
    run_dir = Path(run_dir)
    buffer = io.BytesIO()
    torch.save({"model": net.state_dict(), "optimization": optimization.state_dict(),
                "training": asdict(state), "rng": rng_states()}, buffer)
    payload = buffer.getvalue()
    described = json.dumps(manifest(payload, step=state.step, config=config), default=str) + "\n"
    try:
        write_together({run_dir / CHECKPOINT: payload, run_dir / MANIFEST: described})
    except OSError as error:
        raise CheckpointError(f"{error.filename}: not written ({error.strerror or error}); the previous checkpoint "
                              "is kept") from error
    return run_dir / CHECKPOINT


def find(location: Path) -> Path | None:
    """The checkpoint file at ``location`` (a run directory or a checkpoint file), if any."""
    location = Path(location)
    path = location / CHECKPOINT if location.is_dir() else location
    return path if path.exists() else None


def read_manifest(path: Path) -> dict:
    """The manifest beside the checkpoint file ``path``."""
    manifest_path = Path(path).parent / MANIFEST
    if not manifest_path.exists():
        raise CheckpointError(f"{path}: no {MANIFEST} beside it, so its integrity cannot be checked")
    return json.loads(manifest_path.read_text())


def flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def training_differences(saved: dict, current: dict) -> dict[str, tuple]:
    """``{key: (saved value, current value)}`` for the keys of two resolved configs that differ and change
    training (keys absent on one side are None there)."""
    saved, current = flatten(saved), flatten(json.loads(json.dumps(current, default=str)))
    may_differ = set(MAY_DIFFER_ON_RESUME)
    if current.get("schedule._target_") == PLATEAU:
        may_differ.discard(PACES_PLATEAU)
    return {key: (saved.get(key), current.get(key)) for key in sorted(saved.keys() | current.keys())
            if saved.get(key) != current.get(key)
            and not any(key == name or key.startswith(f"{name}.") for name in may_differ)}


def check_config(path: Path, config: dict) -> None:
    """ConfigMismatch on one line naming every key that differs from the config ``path`` was trained with."""
    saved = read_manifest(path).get("config")
    if saved is None:
        print(f"warning: {path} stores no config (saved by an older rnnbench), so a changed config cannot be "
              "detected; resuming", file=sys.stderr)
        return
    differences = training_differences(saved, config)
    if differences:
        listed = ", ".join(f"{key}={old!r} (now {new!r})" for key, (old, new) in differences.items())
        raise ConfigMismatch(f"{path} was trained with another config: {listed}; resume with the same values "
                             "or choose a new run directory")


def load(path: Path, net: nn.Module, optimization) -> TrainingState:
    path = Path(path)
    expected = read_manifest(path)
    payload = path.read_bytes()
    mismatch = verify(payload, expected)
    if mismatch:
        raise CheckpointError(f"{path}: {mismatch}; the checkpoint is corrupted or truncated")
    data = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=False)
    net.load_state_dict(data["model"])
    optimization.load_state_dict(data["optimization"])
    set_rng_states(data["rng"])
    state = TrainingState(**data["training"])
    device = next(net.parameters()).device
    state.carried_state = map_state(lambda t: t.to(device), state.carried_state)
    return state


def map_state(fn, state):
    """``fn`` applied to every tensor of a recurrent state (a tensor, a tuple of tensors, nested, or None)."""
    if state is None or isinstance(state, torch.Tensor):
        return None if state is None else fn(state)
    return type(state)(map_state(fn, s) for s in state)
