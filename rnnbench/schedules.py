"""Learning-rate schedules that ``torch.optim.lr_scheduler`` lacks (conf/schedule/*.yaml names them)."""

from __future__ import annotations

import torch

from rnnbench.config_checks import positive_float, require


class ContinuousExponentialLR(torch.optim.lr_scheduler.ExponentialLR):
    """lr_t = lr · decay_rate^(t / decay_steps), stepped once per training step: TensorFlow's
    ``tf.train.exponential_decay(..., staircase=False)``, i.e. ``ExponentialLR`` with γ = decay_rate^(1/decay_steps)."""

    def __init__(self, optimizer: torch.optim.Optimizer, decay_rate: float = 0.9, decay_steps: float = 1,
                 last_epoch: int = -1):
        require(isinstance(decay_rate, (int, float)) and 0 < decay_rate <= 1, "decay_rate", decay_rate,
                "a number in (0, 1]")
        positive_float("decay_steps", decay_steps)
        super().__init__(optimizer, decay_rate ** (1 / decay_steps), last_epoch)
