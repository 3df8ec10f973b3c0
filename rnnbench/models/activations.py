"""Hidden-state non-linearities, including modReLU.

modReLU (Arjovsky et al. 2016; real form as in expRNN/nnRNN): ``f(z) = sign(z) · relu(|z| + b)`` with a
learned bias ``b`` per unit, initialised U(−0.01, 0.01).
"""

from __future__ import annotations

import torch
from torch import nn

from rnnbench.validation import require_choice

NONLINEARITIES = ("tanh", "relu", "modrelu")


class ModReLU(nn.Module):
    def __init__(self, features: int):
        super().__init__()
        self.bias = nn.Parameter(torch.empty(features).uniform_(-0.01, 0.01))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sign(z) * torch.relu(z.abs() + self.bias)


def make_activation(name: str, features: int) -> nn.Module:
    require_choice("nonlinearity", name, NONLINEARITIES)
    if name == "modrelu":
        return ModReLU(features)
    return nn.Tanh() if name == "tanh" else nn.ReLU()
