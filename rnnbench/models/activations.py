"""Hidden-state non-linearities, including modReLU.

modReLU (Arjovsky et al. 2016; real form as in expRNN/nnRNN): ``f(z) = sign(z) · relu(|z| + b)`` with a
learned bias ``b`` per unit, initialised U(−0.01, 0.01).

Besides the modules (used where autograd records each step), the fused recurrences need two things per
non-linearity: :func:`activate_`, applied in place to a pre-activation buffer, and :func:`slope`, the derivative
∂h/∂z written as a function of the output h alone (so the backward needs no stored pre-activations):
    tanh: 1 − h²;   relu: 1[h > 0];   modReLU: 1[h ≠ 0]  (and ∂h/∂b = sign(h) on the updated units).
"""

from __future__ import annotations

import torch
from torch import nn

from rnnbench.config_checks import require_choice

NONLINEARITIES = ("tanh", "relu", "modrelu")


class ModReLU(nn.Module):
    def __init__(self, features: int):
        super().__init__()
        self.bias = nn.Parameter(torch.empty(features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.uniform_(self.bias, -0.01, 0.01)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sign(z) * torch.relu(z.abs() + self.bias)


def make_activation(name: str, features: int) -> nn.Module:
    require_choice("nonlinearity", name, NONLINEARITIES)
    if name == "modrelu":
        return ModReLU(features)
    return nn.Tanh() if name == "tanh" else nn.ReLU()


def activate_(z: torch.Tensor, name: str, bias: torch.Tensor | None = None) -> torch.Tensor:
    """h = f(z), overwriting z (no autograd); ``bias`` is modReLU's b."""
    if name == "tanh":
        return z.tanh_()
    if name == "relu":
        return z.relu_()
    sign = torch.sign(z)
    return z.abs_().add_(bias).relu_().mul_(sign)


def slope(h: torch.Tensor, name: str) -> torch.Tensor:
    """∂h/∂z from the output h = f(z), as one new tensor (no further temporaries: these span all steps)."""
    if name == "tanh":
        return torch.addcmul(h.new_ones(()), h, h, value=-1)
    derivative = torch.sign(h)                                   # relu: h ≥ 0, so sign(h) is 1[h > 0]
    return derivative if name == "relu" else derivative.abs_()
