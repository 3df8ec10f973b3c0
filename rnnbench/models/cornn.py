"""Coupled oscillatory RNN, coRNN (Rusch & Mishra, ICLR 2021, arXiv 2010.00951).

Eq. 3 of the paper: the IMEX discretisation, with step Δt, of the coupled oscillators
y″ = σ(W y + 𝒲 y′ + V u + b) − γ y − ε y′ (z = y′), updating z first and y with the new z:

    z_n = z_{n−1} + Δt (σ(W y_{n−1} + 𝒲 z_{n−1} + V u_n + b) − γ y_{n−1} − ε z_{n−1})
    y_n = y_{n−1} + Δt z_n

σ = tanh. The state is ``(y, z)``, each ``[B, H]``; the output at step n is y_n. Δt (``dt``), γ (``gamma``) and
ε (``epsilon``) are fixed hyper-parameters, not trained; with W, 𝒲, V and b at 0 the update is the linear damped
oscillator (y, z) ← ((1 − Δt²γ) y + Δt (1 − Δtε) z, (1 − Δtε) z − Δtγ y).

As in the authors' code (github.com/tk-rusch/coRNN at afd8174, ``psMNIST/network.py``; the same cell in sMNIST,
adding and HAR-2): W, 𝒲 and V are one ``nn.Linear(I + 2H, H)`` on [u, z, y] with its bias b (the only bias), so
torch's default init draws every weight and b from U(±1/√(I + 2H)). Their noisy-CIFAR-10 and IMDB scripts split
that layer into an input layer with the bias and bias-free recurrent layers, whose smaller fan-ins give a wider
init; not reproduced here. ``times`` is ignored.

Compute: V u_n + b for all steps in one matmul before the loop; per step two ``addmm`` and element-wise updates,
differentiated by autograd.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rnnbench.config_checks import non_negative_float, positive_float, positive_int


class CoRNN(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, dt: float = 0.076, gamma: float = 0.4,
                 epsilon: float = 8.0):
        super().__init__()
        positive_int("input_size", input_size)
        positive_int("hidden_size", hidden_size)
        positive_float("dt", dt)
        non_negative_float("gamma", gamma)
        non_negative_float("epsilon", epsilon)
        self.hidden_size, self.dt, self.gamma, self.epsilon = hidden_size, dt, gamma, epsilon
        self.input_proj = nn.Linear(input_size, hidden_size)                # V, b
        self.weight_y = nn.Parameter(torch.empty(hidden_size, hidden_size))  # W
        self.weight_z = nn.Parameter(torch.empty(hidden_size, hidden_size))  # 𝒲
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and the bias ~ U(±1/√(I + 2H)): torch's init of the authors' one joint layer."""
        bound = 1 / math.sqrt(self.input_proj.in_features + 2 * self.hidden_size)
        for param in (self.input_proj.weight, self.input_proj.bias, self.weight_y, self.weight_z):
            nn.init.uniform_(param, -bound, bound)

    def extra_repr(self) -> str:
        return f"hidden_size={self.hidden_size}, dt={self.dt}, gamma={self.gamma}, epsilon={self.epsilon}"

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None, *, times=None):
        """x ``[B, T, I]`` → outputs y_1 … y_T ``[B, T, H]``, final state ``(y_T, z_T)``."""
        if state is None:
            state = (x.new_zeros(x.shape[0], self.hidden_size), x.new_zeros(x.shape[0], self.hidden_size))
        y, z = state
        dt, gamma, epsilon = self.dt, self.gamma, self.epsilon
        weight_y, weight_z = self.weight_y.t(), self.weight_z.t()
        outputs = []
        for u in self.input_proj(x).unbind(1):                               # V u_n + b, [B, H] each
            z = z + dt * (torch.tanh(torch.addmm(torch.addmm(u, y, weight_y), z, weight_z)) - gamma * y - epsilon * z)
            y = y + dt * z
            outputs.append(y)
        return torch.stack(outputs, 1), (y, z)
