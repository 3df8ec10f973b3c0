"""expRNN (Lezcano-Casado & Martínez-Rubio, ICML 2019): an RNN whose recurrent matrix is orthogonal by construction.

    h_t = modReLU(B h_{t−1} + U x_t),    B = expm(A),    A = S − Sᵀ

``S`` is strictly upper triangular and holds the ``n(n−1)/2`` free parameters, so ``A`` is skew-symmetric and
``B`` is orthogonal for any parameter value. ``A`` starts from the Henaff or Cayley block init
(:func:`rnnbench.models.initializers.skew_init`); ``U`` (``input_init``: Kaiming, or Xavier) has no bias (the
modReLU bias is the only bias). The skew parameter forms the ``orthogonal`` group, trained at ``lr_orth``. ``expm`` is
evaluated once per forward pass; the time loop is :class:`rnnbench.models.rnn.RNN`'s.
"""

from __future__ import annotations

import torch
from torch import nn

from rnnbench.models.initializers import skew_init
from rnnbench.models.rnn import RNN


class SkewExponential(nn.Module):
    """The orthogonal matrix ``expm(S − Sᵀ)``, ``S`` strictly upper triangular with entries ``upper``."""

    def __init__(self, n: int, init: str):
        super().__init__()
        rows, cols = torch.triu_indices(n, n, offset=1)
        self.n, self.init = n, init
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)
        self.upper = nn.Parameter(torch.empty(len(rows)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.upper.copy_(skew_init(self.init, self.n)[self.rows, self.cols])

    def extra_repr(self) -> str:
        return f"n={self.n}, init={self.init}"

    def skew(self) -> torch.Tensor:
        S = self.upper.new_zeros(self.n, self.n).index_put((self.rows, self.cols), self.upper)
        return S - S.t()

    def forward(self) -> torch.Tensor:
        return torch.linalg.matrix_exp(self.skew())


class ExpRNN(RNN):
    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "modrelu",
                 recurrent_init: str = "henaff", input_init: str = "kaiming"):
        super().__init__(input_size, hidden_size, nonlinearity, recurrent_init=None, bias=False, input_init=input_init)
        self.orthogonal = SkewExponential(hidden_size, recurrent_init)

    def init_recurrent(self) -> None:
        self.orthogonal.reset_parameters()

    def recurrent_matrix(self) -> torch.Tensor:
        return self.orthogonal()

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"orthogonal": [self.orthogonal.upper]}
