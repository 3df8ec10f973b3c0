"""Adding problem (Hochreiter & Schmidhuber 1997; as in Arjovsky et al. 2016).

Input ``[B, T, 2]``: channel 0 holds values U(0, 1); channel 1 marks two steps, one drawn uniformly from
[0, T/2) and one from [T/2, T). Target: the sum of the two marked values, read out at the last step; MSE.
Predicting the constant 1 gives the baseline MSE Var(u₁ + u₂) = 1/6 ≈ 0.167.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rnnbench.config_checks import require
from rnnbench.tasks.base import Batch, GeneratedTask

BASELINE_MSE = 1.0 / 6.0


class AddingTask(GeneratedTask):
    name = "adding"
    input_size = 2
    output_size = 1
    readout = "last"

    def __init__(self, T: int = 200, **kwargs):
        super().__init__(**kwargs)
        require(isinstance(T, int) and T >= 2, "T", T, "an integer >= 2")
        self.T = T
        self.constants = {"baseline_mse": BASELINE_MSE}

    def generate(self, n: int, generator: torch.Generator) -> Batch:
        T, half = self.T, self.T // 2
        values = torch.rand(n, T, generator=generator, device=self.device)
        first = torch.randint(0, half, (n,), generator=generator, device=self.device)
        second = torch.randint(half, T, (n,), generator=generator, device=self.device)
        markers = torch.zeros(n, T, device=self.device)
        rows = torch.arange(n, device=self.device)
        markers[rows, first] = 1.0
        markers[rows, second] = 1.0
        targets = values[rows, first] + values[rows, second]
        return Batch(torch.stack([values, markers], -1), targets.unsqueeze(-1))

    def criterion(self, outputs, batch, reduction):
        return F.mse_loss(outputs, batch.targets, reduction=reduction)

    def metrics(self, outputs, batch):
        squared_error = self.criterion(outputs, batch, "sum")
        return {"loss": (squared_error, batch.size), "mse": (squared_error, batch.size)}
