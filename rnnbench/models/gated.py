"""LSTM and GRU on the vendor kernels (torch.nn.LSTM / torch.nn.GRU, cuDNN or oneDNN).

LSTM (Hochreiter & Schmidhuber 1997, with forget gate):
    i, f, g, o = σ(W_i[x,h]+b_i), σ(W_f[x,h]+b_f), tanh(W_g[x,h]+b_g), σ(W_o[x,h]+b_o)
    c_t = f ⊙ c_{t−1} + i ⊙ g;   h_t = o ⊙ tanh(c_t)
GRU (Cho et al. 2014), as in torch.nn.GRU:
    r, z = σ(W_r[x,h]+b_r), σ(W_z[x,h]+b_z);  n = tanh(W_n x + b_n + r ⊙ (U_n h + b'_n))
    h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}
torch keeps two bias vectors per gate (input and hidden), so parameter counts exceed the
one-bias-per-gate counts some papers report by 4H (LSTM) or 3H (GRU).
State: LSTM ``(h, c)``, GRU ``h``, each ``[1, B, H]`` as in torch.
"""

from __future__ import annotations

import torch
from torch import nn

from rnnbench.validation import positive_int, require_choice

WEIGHT_INITS = ("default", "glorot_normal")


class _VendorRecurrent(nn.Module):
    kernel: type[nn.RNNBase]

    def __init__(self, input_size: int, hidden_size: int, weight_init: str = "default"):
        super().__init__()
        positive_int("input_size", input_size)
        positive_int("hidden_size", hidden_size)
        require_choice("weight_init", weight_init, WEIGHT_INITS)
        self.hidden_size = hidden_size
        self.rnn = self.kernel(input_size, hidden_size, batch_first=True)
        if weight_init == "glorot_normal":
            for name, param in self.rnn.named_parameters():
                if name.startswith("weight"):
                    nn.init.xavier_normal_(param)
                else:
                    nn.init.zeros_(param)

    def forward(self, x: torch.Tensor, state=None, *, times=None):
        return self.rnn(x, state)


class LSTM(_VendorRecurrent):
    kernel = nn.LSTM


class GRU(_VendorRecurrent):
    kernel = nn.GRU
