"""Elman RNN with a configurable non-linearity and recurrent initialisation.

    h_t = f(W h_{t−1} + U x_t + b)

``f`` is tanh, relu or modReLU; ``W`` starts from one of :data:`rnnbench.models.initializers.RECURRENT_INITS`.
RNN-orth (Kerg et al. 2019's baseline) is this model with ``recurrent_init=orthogonal``.
``U`` is ``input_init``: ``kaiming`` N(0, 2 / fan_in) or ``xavier`` N(0, 2 / (fan_in + fan_out)) (the nnRNN
scripts' ``--iinit xavier``, torch's ``xavier_normal_``); ``b`` is ``bias_init``: ``zeros`` or ``default``, torch's
``nn.Linear`` bias U(±1/√fan_in) (the nnRNN scripts' RNN cell).

Structured models (expRNN, EURNN, nnRNN) subclass it and override :meth:`recurrent_matrix`, which is
called once per forward pass; the time loop is shared: input projections for all steps in one matmul,
then :class:`rnnbench.models.recurrence.ElmanRecurrence` (one ``addmm`` and an in-place activation per step,
a hand-written backward-through-time).
"""

from __future__ import annotations

import torch
from torch import nn

from rnnbench.config_checks import positive_int, require_choice
from rnnbench.models.activations import ModReLU, make_activation
from rnnbench.models.initializers import recurrent_init as make_recurrent_init
from rnnbench.models.recurrence import ElmanRecurrence

INPUT_INITS = ("kaiming", "xavier")
BIAS_INITS = ("zeros", "default")


class RNN(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh",
                 recurrent_init: str | None = "glorot_normal", bias: bool = True, input_init: str = "kaiming",
                 bias_init: str = "zeros"):
        super().__init__()
        positive_int("input_size", input_size)
        positive_int("hidden_size", hidden_size)
        require_choice("input_init", input_init, INPUT_INITS)
        require_choice("bias_init", bias_init, BIAS_INITS)
        self.hidden_size, self.nonlinearity, self.recurrent_init = hidden_size, nonlinearity, recurrent_init
        self.input_init, self.bias_init = input_init, bias_init
        self.activation = make_activation(nonlinearity, hidden_size)
        self.input_proj = nn.Linear(input_size, hidden_size, bias=bias)
        self.init_input_proj()
        if recurrent_init is not None:  # None: a subclass supplies recurrent_matrix()
            self.recurrent = nn.Parameter(torch.empty(hidden_size, hidden_size))
            self.init_recurrent()

    def init_input_proj(self) -> None:
        weight, bias = self.input_proj.weight, self.input_proj.bias
        if self.input_init == "xavier":
            nn.init.xavier_normal_(weight)
        else:
            nn.init.kaiming_normal_(weight, nonlinearity="relu")
        if bias is not None and self.bias_init == "default":
            bound = 1 / weight.shape[1] ** 0.5
            nn.init.uniform_(bias, -bound, bound)
        elif bias is not None:
            nn.init.zeros_(bias)

    def init_recurrent(self) -> None:
        """The recurrent parameters' initial values; a subclass with its own parametrisation overrides it."""
        with torch.no_grad():
            self.recurrent.copy_(make_recurrent_init(self.recurrent_init, self.hidden_size))

    def reset_parameters(self) -> None:
        """Draw every parameter again from its initial distribution."""
        if isinstance(self.activation, ModReLU):
            self.activation.reset_parameters()
        self.init_input_proj()
        self.init_recurrent()

    def extra_repr(self) -> str:
        init = f", recurrent_init={self.recurrent_init}" if self.recurrent_init is not None else ""
        inputs = f", input_init={self.input_init}" if self.input_init != "kaiming" else ""
        bias = f", bias_init={self.bias_init}" if self.bias_init != "zeros" and self.input_proj.bias is not None else ""
        return f"hidden_size={self.hidden_size}, nonlinearity={self.nonlinearity}{init}{inputs}{bias}"

    def recurrent_matrix(self) -> torch.Tensor:
        """The ``hidden × hidden`` matrix W of h_t = f(W h_{t−1} + U x_t + b)."""
        return self.recurrent

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None, *, times=None):
        """x ``[B, T, I]`` → outputs ``[B, T, H]``, final state ``[B, H]``."""
        h0 = x.new_zeros(x.shape[0], self.hidden_size) if state is None else state
        projected = self.input_proj(x.transpose(0, 1))                      # U x_t + b, time-major [T, B, H]
        return ElmanRecurrence.apply(projected, h0, self.recurrent_matrix(), self.nonlinearity,
                                     getattr(self.activation, "bias", None))
