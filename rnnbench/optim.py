"""Optimiser with parameter groups, gradient clipping and a learning-rate schedule.

Models name parameters that need their own settings through ``parameter_groups()``:

- ``orthogonal``: the skew-symmetric parameters of orthogonal matrices (expRNN, nnRNN's P) → ``lr_orth``;
- ``triangular``: nnRNN's strictly triangular T → weight decay ``triangular_decay`` ("Tdecay");
- everything else → ``lr`` and ``weight_decay``.

The optimiser class is the config's ``_target_`` (torch.optim.RMSprop, Adam, SGD, or
rnnbench.tf_rmsprop.TFRMSprop); its remaining keys (alpha, betas, momentum, nesterov, eps, …) pass through,
checked against the class's signature. Gradient clipping: ``clip_norm`` (global L2 norm) and/or ``clip_value``
(element-wise to [−v, v], ``tf.clip_by_value``), value first.
Schedules: ``none``; ``step`` (× gamma every ``step_size`` training steps); ``exponential`` (continuous decay
lr · decay_rate^(step / decay_steps), ``tf.train.exponential_decay`` with staircase=False); ``plateau``
(× factor after ``patience`` evaluations without a validation loss below the best by more than the relative
``threshold``; factor 0.5, patience 0, threshold 0 is nnRNN's language_task.py: halve after every evaluation
without a new best).
"""

from __future__ import annotations

from typing import Any

import torch
from hydra.utils import get_class
from torch import nn

from rnnbench.validation import (
    ConfigError,
    accepted_keys,
    check_keys,
    non_negative_float,
    positive_float,
    positive_int,
    require,
    require_choice,
)

GROUPS = ("orthogonal", "triangular")
SCHEDULES = ("none", "step", "exponential", "plateau")


def named_parameter_groups(net: nn.Module) -> dict[str, list[tuple[str, nn.Parameter]]]:
    """Split ``net``'s trainable parameters into the groups its modules declare, plus ``main``."""
    tagged: dict[int, str] = {}
    for module in net.modules():
        if hasattr(module, "parameter_groups"):
            for group, params in module.parameter_groups().items():
                require_choice("parameter group", group, GROUPS)
                tagged.update({id(p): group for p in params})
    groups: dict[str, list] = {"main": [], **{g: [] for g in GROUPS}}
    for name, param in net.named_parameters():
        if param.requires_grad:
            groups[tagged.get(id(param), "main")].append((name, param))
    return groups


class Optimization:
    """Everything one training step needs after backward: clip, step, schedule."""

    def __init__(self, net: nn.Module, *, _target_: str = "torch.optim.RMSprop", lr: float = 1e-3,
                 lr_orth: float | None = None, weight_decay: float = 0.0, triangular_decay: float = 0.0,
                 clip_norm: float | None = None, clip_value: float | None = None, schedule: dict | None = None,
                 **options: Any):
        positive_float("lr", lr)
        if lr_orth is not None:
            positive_float("lr_orth", lr_orth)
        non_negative_float("weight_decay", weight_decay)
        non_negative_float("triangular_decay", triangular_decay)
        for name, clip in (("clip_norm", clip_norm), ("clip_value", clip_value)):
            if clip is not None:
                positive_float(name, clip)
        try:
            optimizer_class = get_class(_target_)
        except Exception as error:
            raise ConfigError("_target_", _target_, "an importable optimiser class, e.g. torch.optim.Adam") \
                from error
        options = {k: v for k, v in options.items() if v is not None}  # null unsets a key of the group default
        valid = accepted_keys(optimizer_class)
        check_keys("", options, None if valid is None else valid - {"params", "lr", "weight_decay"})

        self.groups = named_parameter_groups(net)
        settings = {
            "main": {"lr": lr, "weight_decay": weight_decay},
            "orthogonal": {"lr": lr if lr_orth is None else lr_orth, "weight_decay": 0.0},
            "triangular": {"lr": lr, "weight_decay": triangular_decay},
        }
        param_groups = [{"params": [p for _, p in named], "name": group, **settings[group]}
                        for group, named in self.groups.items() if named]
        options = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
        try:
            self.optimizer = optimizer_class(param_groups, lr=lr, **options)
        except (ValueError, TypeError) as error:
            raise ConfigError(_target_, options, f"valid options ({error})") from error
        self.clip_norm, self.clip_value = clip_norm, clip_value
        self.schedule_name, self.scheduler = self._build_schedule(dict(schedule or {"name": "none"}))

    def _build_schedule(self, schedule: dict):
        name = schedule.pop("name", "none")
        require_choice("schedule.name", name, SCHEDULES)
        if name == "none":
            check_keys("schedule", schedule, set())
            return name, None
        if name == "step":
            check_keys("schedule", schedule, {"step_size", "gamma"})
            positive_int("schedule.step_size", schedule.get("step_size", 1000))
            positive_float("schedule.gamma", schedule.get("gamma", 0.1))
            return name, torch.optim.lr_scheduler.StepLR(self.optimizer, schedule.get("step_size", 1000),
                                                         schedule.get("gamma", 0.1))
        if name == "exponential":
            check_keys("schedule", schedule, {"decay_rate", "decay_steps"})
            rate, steps = schedule.get("decay_rate", 0.9), schedule.get("decay_steps", 1)
            require(isinstance(rate, (int, float)) and 0 < rate <= 1, "schedule.decay_rate", rate, "a number in (0, 1]")
            positive_float("schedule.decay_steps", steps)
            return name, torch.optim.lr_scheduler.ExponentialLR(self.optimizer, rate ** (1 / steps))
        check_keys("schedule", schedule, {"factor", "patience", "threshold"})
        factor, threshold = schedule.get("factor", 0.1), schedule.get("threshold", 1e-4)
        require(0 < factor < 1, "schedule.factor", factor, "a number in (0, 1)")
        require(isinstance(threshold, (int, float)) and threshold >= 0, "schedule.threshold", threshold,
                "a number >= 0")
        return name, torch.optim.lr_scheduler.ReduceLROnPlateau(self.optimizer, factor=factor,
                                                                patience=schedule.get("patience", 5),
                                                                threshold=threshold)

    def step(self, net: nn.Module) -> torch.Tensor:
        """Clip (if configured), step, advance a per-step schedule. Returns the gradient norm before any clip."""
        params = [p for p in net.parameters() if p.grad is not None]
        # accumulated in float64: finite float32 gradients of ~1e21 (an LSTM at init with forget bias 5, before
        # clip_value) must not read as an infinite norm, i.e. as a diverged run
        norms = [torch.linalg.vector_norm(p.grad, dtype=torch.float64) for p in params]
        norm = torch.linalg.vector_norm(torch.stack(norms)) if norms else torch.zeros((), dtype=torch.float64)
        if self.clip_value is not None:
            nn.utils.clip_grad_value_(params, self.clip_value)
        if self.clip_norm is not None:
            nn.utils.clip_grad_norm_(params, self.clip_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.schedule_name in ("step", "exponential"):
            self.scheduler.step()
        return norm

    def after_eval(self, val_loss: float) -> None:
        if self.schedule_name == "plateau":
            self.scheduler.step(val_loss)

    def describe(self) -> str:
        lines = [f"optimizer {type(self.optimizer).__name__}, clip_norm={self.clip_norm}, "
                 f"clip_value={self.clip_value}, schedule={self.schedule_name}"]
        for group in self.optimizer.param_groups:
            count = sum(p.numel() for p in group["params"])
            lines.append(f"  group {group['name']:<10} {count:>9,d} params  lr={group['lr']:g}  "
                         f"weight_decay={group['weight_decay']:g}")
        return "\n".join(lines)

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(),
                "scheduler": None if self.scheduler is None else self.scheduler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
