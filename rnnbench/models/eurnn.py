"""EURNN (Jing et al., ICML 2017), real orthogonal variant: the recurrent matrix is a product of rotation layers.

    h_t = modReLU(W h_{t−1} + U x_t),    W = R_L ⋯ R_2 R_1

Each layer R_ℓ rotates disjoint pairs of units (i, j) by an angle θ:
x_i ← cos θ · x_i − sin θ · x_j,  x_j ← sin θ · x_i + cos θ · x_j; units in no pair pass unchanged.

- tunable style, capacity L: layers alternate between the pairs (2k, 2k+1) and (2k+1, 2k+2);
- FFT style: log2 N layers, layer j pairs units at distance N / 2^(j+1) (i with i & d = 0 and i + d); N a
  power of two.

Angles start U(−π, π). W is materialised once per forward pass by applying the layers to the identity, each
layer vectorised as ``R x = c ⊙ x + s ⊙ x[partner]`` (``partner`` swaps paired units); the time loop is
:class:`rnnbench.models.rnn.RNN`'s. ``U`` (``input_init``) has no bias. The complex (unitary) variant
with its extra phases is not implemented.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rnnbench.config_checks import positive_int, require, require_choice
from rnnbench.models.rnn import RNN

STYLES = ("tunable", "fft")


def rotation_pairs(style: str, n: int, capacity: int = 2) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per layer, the paired units as (first, second) index tensors (first < second), in rotation order."""
    require_choice("style", style, STYLES)
    require(n >= 2, "hidden_size", n, "at least 2 (rotations act on pairs of units)")
    units = torch.arange(n)
    if style == "tunable":
        positive_int("capacity", capacity)
        even, odd = torch.arange(0, n - 1, 2), torch.arange(1, n - 1, 2)
        return [(even, even + 1) if layer % 2 == 0 else (odd, odd + 1) for layer in range(capacity)]
    require(n & (n - 1) == 0, "hidden_size", n, "a power of two for style=fft")
    layers = []
    for j in range(int(math.log2(n))):
        distance = n >> (j + 1)
        first = units[(units & distance) == 0]
        layers.append((first, first + distance))
    return layers


class EURNN(RNN):
    def __init__(self, input_size: int, hidden_size: int, style: str = "tunable", capacity: int = 2,
                 nonlinearity: str = "modrelu", input_init: str = "kaiming"):
        super().__init__(input_size, hidden_size, nonlinearity, recurrent_init=None, bias=False, input_init=input_init)
        layers = rotation_pairs(style, hidden_size, capacity)
        self.style, self.layers = style, len(layers)
        # Per layer and unit: the partner unit, the index of the unit's angle, and the sign of sin θ in its row
        # (−1 for the first of a pair, +1 for the second, 0 for an unpaired unit).
        partner = torch.arange(hidden_size).repeat(len(layers), 1)
        angle_index = torch.zeros(len(layers), hidden_size, dtype=torch.long)
        sin_sign = torch.zeros(len(layers), hidden_size)
        offset = 0
        for layer, (first, second) in enumerate(layers):
            angles = torch.arange(offset, offset + len(first))
            partner[layer, first], partner[layer, second] = second, first
            angle_index[layer, first], angle_index[layer, second] = angles, angles
            sin_sign[layer, first], sin_sign[layer, second] = -1.0, 1.0
            offset += len(first)
        self.register_buffer("partner", partner, persistent=False)
        self.register_buffer("angle_index", angle_index, persistent=False)
        self.register_buffer("sin_sign", sin_sign, persistent=False)
        self.angles = nn.Parameter(torch.empty(offset))
        self.init_recurrent()

    def init_recurrent(self) -> None:
        nn.init.uniform_(self.angles, -math.pi, math.pi)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, style={self.style}, layers={self.layers}"

    def recurrent_matrix(self) -> torch.Tensor:
        theta = self.angles[self.angle_index]                         # [L, n]
        paired = self.sin_sign != 0
        cos = torch.where(paired, torch.cos(theta), torch.ones_like(theta))
        sin = self.sin_sign * torch.sin(theta)
        W = torch.eye(self.hidden_size, dtype=self.angles.dtype, device=self.angles.device)
        for c, s, partner in zip(cos.unsqueeze(-1).unbind(0), sin.unsqueeze(-1).unbind(0), self.partner, strict=True):
            W = c * W + s * W[partner]
        return W
