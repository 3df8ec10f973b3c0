"""LSTM and GRU on the vendor kernels (torch.nn.LSTM / torch.nn.GRU, cuDNN or oneDNN).

LSTM (Hochreiter & Schmidhuber 1997, with forget gate):
    i, f, g, o = σ(W_i[x,h]+b_i), σ(W_f[x,h]+b_f), tanh(W_g[x,h]+b_g), σ(W_o[x,h]+b_o)
    c_t = f ⊙ c_{t−1} + i ⊙ g;   h_t = o ⊙ tanh(c_t)
GRU (Cho et al. 2014), as in torch.nn.GRU:
    r, z = σ(W_r[x,h]+b_r), σ(W_z[x,h]+b_z);  n = tanh(W_n x + b_n + r ⊙ (U_n h + b'_n))
    h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}
torch keeps two bias vectors per gate (input and hidden), so parameter counts exceed the
one-bias-per-gate counts some papers report by 4H (LSTM) or 3H (GRU); ``hidden_bias=false`` fixes the hidden
one at 0 (not trained): one bias per gate, as in TensorFlow's cells (and half the bias learning rate of two).
``weight_init``: ``default`` (torch's U(±1/√H)), ``glorot_normal`` (each matrix), ``tf_glorot_uniform`` (the
Glorot-uniform init of TF's one [I + H, 4H] kernel: U(±√(6 / (I + 5H))) for both matrices); biases 0 except
with ``default`` and ``gate_glorot_normal``: each gate one linear layer on [x, h], as the nnRNN authors' LSTM
(LSTM.py: four nn.Linear(I + H, H), xavier_normal_): per gate W and U drawn N(0, 2 / (I + 2H)), the bias
torch's nn.Linear default U(±1/√(I + H)) (put in the input bias; the hidden bias starts at 0).
``forget_bias`` (LSTM) initialises the forget gate's bias: with a trainable bias this equals TF BasicLSTMCell's
constant ``forget_bias`` added to a zero-initialised bias (the same pre-activation and the same gradients).
State: LSTM ``(h, c)``, GRU ``h``, each ``[B, H]`` (the model contract; torch's kernels take ``[1, B, H]``);
with no state given, zeros, or with ``initial_state_std`` > 0 a fresh N(0, std²) draw per call (a script that
feeds ``tf.random_normal`` as the initial state).
"""

from __future__ import annotations

import torch
from torch import nn

from rnnbench.config_checks import non_negative_float, positive_int, require, require_choice
from rnnbench.models.initializers import initial_state, tf_glorot_uniform_bound

WEIGHT_INITS = ("default", "glorot_normal", "tf_glorot_uniform", "gate_glorot_normal")


class _VendorRecurrent(nn.Module):
    kernel: type[nn.RNNBase]
    state_parts: int

    def __init__(self, input_size: int, hidden_size: int, weight_init: str = "default", hidden_bias: bool = True,
                 initial_state_std: float = 0.0):
        super().__init__()
        positive_int("input_size", input_size)
        positive_int("hidden_size", hidden_size)
        require_choice("weight_init", weight_init, WEIGHT_INITS)
        require(isinstance(hidden_bias, bool), "hidden_bias", hidden_bias, "true or false")
        non_negative_float("initial_state_std", initial_state_std)
        self.hidden_size, self.weight_init, self.hidden_bias = hidden_size, weight_init, hidden_bias
        self.initial_state_std = initial_state_std
        self.rnn = self.kernel(input_size, hidden_size, batch_first=True)     # torch's init, then ours
        self.init_weights()
        if not hidden_bias:
            self.rnn.bias_hh_l0.requires_grad_(False)

    def init_weights(self) -> None:
        if self.weight_init == "gate_glorot_normal":
            self.init_gate_layers()
        elif self.weight_init != "default":
            rnn = self.rnn
            gates = rnn.weight_ih_l0.shape[0] // self.hidden_size
            bound = tf_glorot_uniform_bound(rnn.input_size, self.hidden_size, gates)
            for name, param in rnn.named_parameters():
                if not name.startswith("weight"):
                    nn.init.zeros_(param)
                elif self.weight_init == "glorot_normal":
                    nn.init.xavier_normal_(param)
                else:
                    nn.init.uniform_(param, -bound, bound)
        if not self.hidden_bias:
            nn.init.zeros_(self.rnn.bias_hh_l0)

    @torch.no_grad()
    def init_gate_layers(self) -> None:
        """Each gate's [W | U] as one ``xavier_normal_`` [H, I + H] matrix, its bias U(±1/√(I + H))."""
        rnn, hidden = self.rnn, self.hidden_size
        fan_in = rnn.input_size + hidden
        for gate in range(rnn.weight_ih_l0.shape[0] // hidden):
            rows = slice(gate * hidden, (gate + 1) * hidden)
            joint = nn.init.xavier_normal_(torch.empty(hidden, fan_in))
            rnn.weight_ih_l0[rows], rnn.weight_hh_l0[rows] = joint[:, :rnn.input_size], joint[:, rnn.input_size:]
        nn.init.uniform_(rnn.bias_ih_l0, -fan_in ** -0.5, fan_in ** -0.5)
        nn.init.zeros_(rnn.bias_hh_l0)

    def reset_parameters(self) -> None:
        """Draw every parameter again from its initial distribution."""
        self.rnn.reset_parameters()
        self.init_weights()

    def extra_repr(self) -> str:
        return (f"weight_init={self.weight_init}, hidden_bias={self.hidden_bias}"
                + (f", initial_state_std={self.initial_state_std:g}" if self.initial_state_std else ""))

    def forward(self, x: torch.Tensor, state=None, *, times=None):
        if state is None and self.initial_state_std:
            parts = initial_state(x, self.hidden_size, self.state_parts, self.initial_state_std)
            state = parts if self.state_parts > 1 else parts[0]
        if state is not None:
            state = tuple(s.unsqueeze(0) for s in state) if isinstance(state, tuple) else state.unsqueeze(0)
        outputs, state = self.rnn(x, state)
        return outputs, tuple(s.squeeze(0) for s in state) if isinstance(state, tuple) else state.squeeze(0)


class LSTM(_VendorRecurrent):
    kernel, state_parts = nn.LSTM, 2

    def __init__(self, input_size: int, hidden_size: int, weight_init: str = "default", hidden_bias: bool = True,
                 forget_bias: float | None = None, initial_state_std: float = 0.0):
        super().__init__(input_size, hidden_size, weight_init, hidden_bias, initial_state_std)
        require(forget_bias is None or isinstance(forget_bias, (int, float)), "forget_bias", forget_bias,
                "a number or null")
        self.forget_bias = forget_bias
        self.init_forget_bias()

    @torch.no_grad()
    def init_forget_bias(self) -> None:
        if self.forget_bias is not None:
            hidden = self.hidden_size
            self.rnn.bias_ih_l0[hidden:2 * hidden] = self.forget_bias
            self.rnn.bias_hh_l0[hidden:2 * hidden] = 0.0

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.init_forget_bias()

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, forget_bias={self.forget_bias}"


class GRU(_VendorRecurrent):
    kernel, state_parts = nn.GRU, 1
