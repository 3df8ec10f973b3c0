"""nnRNN (Kerg et al., NeurIPS 2019): a non-normal recurrent matrix in real Schur form.

    h_t = modReLU(V h_{t−1} + U x_t),    V = P (Λ + T) Pᵀ

- ``P = expm(A)`` orthogonal, ``A`` skew-symmetric from the Henaff or Cayley init (the ``orthogonal`` group,
  trained at ``lr_orth``);
- ``Λ`` block-diagonal with 2×2 blocks γ_i [[cos θ_i, −sin θ_i], [sin θ_i, cos θ_i]], so with ``T = 0`` the
  eigenvalues of ``V`` are γ_i e^{±iθ_i}; init θ_i ~ U(0, 2π), γ_i = 1;
- ``T`` strictly lower triangular, init 0, its ``n(n−1)/2`` entries the only parameters (so it stays strictly
  triangular through training); the ``triangular`` group, weight decay ``triangular_decay`` ("Tdecay").

``regularizer()`` is δ·Σ(γ_i − 1)² (δ = ``delta``, the authors' "alam"). ``V`` is built once per forward pass;
the time loop is :class:`rnnbench.models.rnn.RNN`'s. ``U`` (``input_init``: Kaiming, or Xavier) has no bias.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rnnbench.config_checks import non_negative_float, require
from rnnbench.models.exprnn import SkewExponential
from rnnbench.models.rnn import RNN


class NNRNN(RNN):
    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "modrelu",
                 recurrent_init: str = "henaff", delta: float = 1e-4, input_init: str = "kaiming"):
        super().__init__(input_size, hidden_size, nonlinearity, recurrent_init=None, bias=False, input_init=input_init)
        require(hidden_size % 2 == 0, "hidden_size", hidden_size, "an even number (Λ has 2×2 blocks)")
        non_negative_float("delta", delta)
        self.delta = delta
        blocks = hidden_size // 2
        self.orthogonal = SkewExponential(hidden_size, recurrent_init)
        self.theta = nn.Parameter(torch.empty(blocks))
        self.gamma = nn.Parameter(torch.empty(blocks))
        rows, cols = torch.tril_indices(hidden_size, hidden_size, offset=-1)
        self.register_buffer("lower_rows", rows, persistent=False)
        self.register_buffer("lower_cols", cols, persistent=False)
        self.lower = nn.Parameter(torch.empty(len(rows)))
        self.init_rotations()
        # Λ's entries, block i: (2i, 2i) = γc, (2i, 2i+1) = −γs, (2i+1, 2i) = γs, (2i+1, 2i+1) = γc.
        first = torch.arange(0, hidden_size, 2)
        self.register_buffer("block_rows", torch.cat([first, first, first + 1, first + 1]), persistent=False)
        self.register_buffer("block_cols", torch.cat([first, first + 1, first, first + 1]), persistent=False)

    def init_rotations(self) -> None:
        """θ ~ U(0, 2π), γ = 1, T = 0: Λ starts orthogonal."""
        nn.init.uniform_(self.theta, 0.0, 2 * math.pi)
        nn.init.ones_(self.gamma)
        nn.init.zeros_(self.lower)

    def init_recurrent(self) -> None:
        self.orthogonal.reset_parameters()
        self.init_rotations()

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, delta={self.delta:g}"

    def rotation_blocks(self) -> torch.Tensor:
        """Λ: block-diagonal, block i = γ_i [[cos θ_i, −sin θ_i], [sin θ_i, cos θ_i]]."""
        cos, sin = self.gamma * torch.cos(self.theta), self.gamma * torch.sin(self.theta)
        values = torch.cat([cos, -sin, sin, cos])
        n = self.hidden_size
        return values.new_zeros(n, n).index_put((self.block_rows, self.block_cols), values)

    def triangular(self) -> torch.Tensor:
        """T: strictly lower triangular, entries ``lower`` in ``torch.tril_indices(n, n, -1)`` order."""
        n = self.hidden_size
        return self.lower.new_zeros(n, n).index_put((self.lower_rows, self.lower_cols), self.lower)

    def recurrent_matrix(self) -> torch.Tensor:
        P = self.orthogonal()
        return P @ (self.rotation_blocks() + self.triangular()) @ P.t()

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"orthogonal": [self.orthogonal.upper], "triangular": [self.lower]}

    def regularizer(self) -> torch.Tensor:
        return self.delta * (self.gamma - 1).pow(2).sum()
