"""One run's optimiser, with parameter groups, gradient clipping and a learning-rate schedule.

The optimiser and the schedule are Hydra partials: ``conf/optimizer/*.yaml`` is a ``torch.optim`` class (or
:class:`rnnbench.tf_rmsprop.TFRMSprop`) with ``_partial_: true``, called here with the parameter groups;
``conf/schedule/*.yaml`` is a ``torch.optim.lr_scheduler`` class (or one of :mod:`rnnbench.schedules`), called with
the optimiser; ``conf/schedule/none.yaml`` (empty) is no schedule. Keys a file does not set, or sets to null, are the
class's defaults.

Models name parameters that need their own settings through ``parameter_groups()`` (config ``param_groups``):

- ``orthogonal``: the skew-symmetric parameters of orthogonal matrices (expRNN, nnRNN's P) → ``lr_orth``
  (null: the optimiser's lr), no weight decay;
- ``triangular``: nnRNN's strictly triangular T → weight decay ``triangular_decay`` ("Tdecay");
- everything else → the optimiser's ``lr`` and ``weight_decay``.

Gradient clipping (config ``clip``): ``value`` (element-wise to [−v, v], ``tf.clip_by_value``) then ``norm``
(global L2 norm). A ``ReduceLROnPlateau`` schedule steps after each evaluation on the validation loss (factor 0.5,
patience 0, threshold 0 is nnRNN's language_task.py: halve after every evaluation without a new best); any other
schedule steps after each training step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from rnnbench.config_checks import ConfigError, build, check_keys, non_negative_float, positive_float, require_choice

GROUPS = ("orthogonal", "triangular")
OptimizerFactory = Callable[[list[dict]], torch.optim.Optimizer]
ScheduleFactory = Callable[[torch.optim.Optimizer], Any]


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

    def __init__(self, net: nn.Module, optimizer: OptimizerFactory, schedule: ScheduleFactory | None = None, *,
                 lr_orth: float | None = None, triangular_decay: float = 0.0, clip_norm: float | None = None,
                 clip_value: float | None = None):
        self.groups = named_parameter_groups(net)
        settings = {"main": {}, "orthogonal": {"weight_decay": 0.0, **({} if lr_orth is None else {"lr": lr_orth})},
                    "triangular": {"weight_decay": triangular_decay}}
        self.optimizer = optimizer([{"params": [p for _, p in named], "name": group, **settings[group]}
                                    for group, named in self.groups.items() if named])
        self.scheduler = None if schedule is None else schedule(self.optimizer)
        self.per_evaluation = isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
        self.clip_norm, self.clip_value = clip_norm, clip_value

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
        if self.scheduler is not None and not self.per_evaluation:
            self.scheduler.step()
        return norm

    def after_eval(self, val_loss: float) -> None:
        if self.per_evaluation:
            self.scheduler.step(val_loss)

    def describe(self) -> str:
        schedule = "none" if self.scheduler is None else type(self.scheduler).__name__
        lines = [f"optimizer {type(self.optimizer).__name__}, clip_norm={self.clip_norm}, "
                 f"clip_value={self.clip_value}, schedule={schedule}"]
        for group in self.optimizer.param_groups:
            count = sum(p.numel() for p in group["params"])
            lines.append(f"  group {group['name']:<10} {count:>9,d} params  lr={group['lr']:g}  "
                         f"weight_decay={group.get('weight_decay', 0):g}")
        return "\n".join(lines)

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(),
                "scheduler": None if self.scheduler is None else self.scheduler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])


def reported(group: str, node: Mapping, factory: Callable) -> Callable:
    """``factory`` (a Hydra partial) whose errors on its config values are one-line ConfigErrors naming ``group``."""
    def call(argument):
        try:
            return factory(argument)
        except ConfigError as error:
            raise error.prefixed(f"{group}.") from None
        except (ValueError, TypeError) as error:
            options = {k: v for k, v in node.items() if not k.startswith("_")}
            raise ConfigError(group, options, f"valid arguments of {node['_target_']} ({error})") from None
    return call


def build_optimization(net: nn.Module, cfg: Mapping) -> Optimization:
    """The run's :class:`Optimization` from its config's ``optimizer``, ``schedule``, ``param_groups`` and ``clip``."""
    # null unsets a key (the class's default applies): a preset that switches another preset's optimiser class
    # unsets that class's keys, since a config merge cannot delete them
    optimizer = {k: v for k, v in cfg["optimizer"].items() if v is not None}
    schedule = cfg.get("schedule")
    if "lr" in optimizer:
        positive_float("optimizer.lr", optimizer["lr"])
    groups, clip = cfg["param_groups"], cfg["clip"]
    check_keys("param_groups", groups, {"lr_orth", "triangular_decay"})
    check_keys("clip", clip, {"norm", "value"})
    for field, value in (("param_groups.lr_orth", groups.get("lr_orth")), ("clip.norm", clip.get("norm")),
                         ("clip.value", clip.get("value"))):
        if value is not None:
            positive_float(field, value)
    non_negative_float("param_groups.triangular_decay", groups.get("triangular_decay", 0.0))
    return Optimization(
        net, reported("optimizer", optimizer, build(optimizer, "optimizer", _convert_="all")),
        reported("schedule", schedule, build(schedule, "schedule")) if schedule else None,
        lr_orth=groups.get("lr_orth"), triangular_decay=groups.get("triangular_decay", 0.0),
        clip_norm=clip.get("norm"), clip_value=clip.get("value"))
