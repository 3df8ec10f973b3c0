"""The two contracts the trainer relies on, as structural types: a recurrent model and a task.

Any class with these members works (no base class needed); ``tests/test_contracts.py`` checks every model in
``conf/model/`` and every task in ``conf/task/`` against them. :class:`rnnbench.tasks.base.Task` provides
defaults for most task members.

Recurrent model, ``forward(x, state=None, *, times=None) -> (outputs, state)``:
    x ``[B, T, input_size]`` (batch first), outputs ``[B, T, hidden_size]``. ``state``: a tensor ``[B, H]`` or a
    tuple of them (an LSTM's ``(h, c)``), whose meaning only the model knows: ``None`` starts from zeros, and the
    state a call returns, passed to the next call, continues the sequence (TBPTT). ``times``: real timestamps,
    ``[B, T]``, or ``[1, T]`` when every sequence of the batch shares them; read by time-aware models, ignored by
    others.
    Optional: ``parameter_groups() -> {"orthogonal": [...], "triangular": [...]}`` (parameters with their own
    optimiser settings) and ``regularizer() -> tensor`` (an extra loss term, logged apart from the task loss).

Task: ``train_batch(step)`` (deterministic in (seed, step)), ``eval_batches(split)`` for ``val`` and ``test``,
``loss(outputs, batch)`` (the scalar training loss), ``metrics(outputs, batch) -> {name: (sum, count)}``, which
must include ``loss`` (:data:`REQUIRED_METRICS`: the trainer selects the best evaluation by ``val/loss``),
``network(core)`` and ``report(net, run_dir)``; attributes ``input_size``, ``output_size``, ``readout``,
``carries_state``, ``steps_per_epoch``, ``epochs`` (the default budget: the trainer runs ``epochs ×
steps_per_epoch`` steps unless ``trainer.max_steps`` or ``trainer.epochs`` say otherwise) and ``constants``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

REQUIRED_METRICS = ("loss",)


@dataclass
class Batch:
    inputs: torch.Tensor                 # [B, T, I] floats, or [B, T] token ids for tasks with an embedding
    targets: torch.Tensor                # [B, T] (every-step readout) or [B] / [B, O] (last-step readout)
    times: torch.Tensor | None = None    # [B, T] real timestamps (time-aware models)
    lengths: torch.Tensor | None = None  # [B] number of real steps; padding comes after them

    @property
    def size(self) -> int:
        return self.inputs.shape[0]


@runtime_checkable
class RecurrentModel(Protocol):
    hidden_size: int

    def forward(self, x: torch.Tensor, state: Any = None, *, times: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, Any]: ...


@runtime_checkable
class TaskContract(Protocol):
    input_size: int
    output_size: int
    readout: str
    carries_state: bool
    steps_per_epoch: int
    epochs: int
    constants: dict[str, float]

    def train_batch(self, step: int) -> Batch: ...

    def eval_batches(self, split: str) -> Iterable[Batch]: ...

    def loss(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor: ...

    def metrics(self, outputs: torch.Tensor, batch: Batch) -> dict[str, tuple[torch.Tensor, int]]: ...

    def network(self, core: nn.Module) -> nn.Module: ...

    def report(self, net: nn.Module, run_dir: Path) -> dict[str, str]: ...


def missing_metrics(names: Iterable[str]) -> list[str]:
    """The required metric names absent from ``names``."""
    return [name for name in REQUIRED_METRICS if name not in set(names)]
