"""Phased LSTM (Neil, Pfeiffer & Liu, NIPS 2016, arXiv 1610.09513).

An LSTM cell (with peepholes by default, as in the authors' code) whose updates pass through a time gate
k_t per unit, driven by the real timestamp t of every sample and step (``times`` ``[B, T]``; the step index
0..T−1 when ``times`` is None):

    φ_t = ((t − s) mod τ) / τ                         (we use t − s, as in the paper's equation)
    k_t = 2 φ_t / r_on        if φ_t < r_on / 2
          2 − 2 φ_t / r_on    if r_on / 2 ≤ φ_t < r_on
          α φ_t               otherwise               (leak α in training only; α = 0 under ``eval()``)
    c̃_t, h̃_t = LSTM(x_t, h_{t−1}, c_{t−1})
    c_t = k_t ⊙ c̃_t + (1 − k_t) ⊙ c_{t−1};   h_t = k_t ⊙ h̃_t + (1 − k_t) ⊙ h_{t−1}

LSTM update with peepholes p (Gers & Schmidhuber 2000):
    i = σ(W_i x + U_i h + p_i ⊙ c + b_i);  f = σ(W_f x + U_f h + p_f ⊙ c + b_f)
    c̃ = f ⊙ c + i ⊙ tanh(W_g x + U_g h + b_g);  o = σ(W_o x + U_o h + p_o ⊙ c̃ + b_o);  h̃ = o ⊙ tanh(c̃)

Per unit, τ, s and r_on are trainable. Positivity: τ = exp(log τ) (always > 0); r_on = min(exp(log r_on), 1)
(always in (0, 1]). Initialisation (the paper's frequency task): log τ ~ U(``period_init_low``,
``period_init_high``) = U(1, 3), s ~ U(0, ``shift_max``) = U(0, 100), r_on = ``open_ratio`` = 0.05.
Weights and peepholes ~ U(−1/√H, 1/√H) (torch's LSTM default), biases 0.

Compute: k for all steps in one vectorised op and the input projection for all steps in one matmul, both
before the loop; the loop runs over ``unbind``-ed steps. State: ``(h, c)``, each ``[B, H]``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rnnbench.validation import non_negative_float, positive_int, require


class PhasedLSTM(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, peepholes: bool = True, open_ratio: float = 0.05,
                 leak: float = 1e-3, period_init_low: float = 1.0, period_init_high: float = 3.0,
                 shift_max: float = 100.0):
        super().__init__()
        positive_int("input_size", input_size)
        positive_int("hidden_size", hidden_size)
        require(isinstance(open_ratio, (int, float)) and 0 < open_ratio <= 1, "open_ratio", open_ratio,
                "a number in (0, 1]")
        non_negative_float("leak", leak)
        require(isinstance(period_init_low, (int, float)) and isinstance(period_init_high, (int, float))
                and period_init_low <= period_init_high, "period_init_high", period_init_high,
                f"a number >= period_init_low={period_init_low}")
        non_negative_float("shift_max", shift_max)
        self.hidden_size, self.leak = hidden_size, leak
        self.input_proj = nn.Linear(input_size, 4 * hidden_size)
        self.recurrent = nn.Linear(hidden_size, 4 * hidden_size, bias=False)
        bound = 1 / math.sqrt(hidden_size)
        for weight in (self.input_proj.weight, self.recurrent.weight):
            nn.init.uniform_(weight, -bound, bound)
        nn.init.zeros_(self.input_proj.bias)
        self.peepholes = nn.Parameter(torch.empty(3, hidden_size).uniform_(-bound, bound)) if peepholes else None
        self.log_period = nn.Parameter(torch.empty(hidden_size).uniform_(period_init_low, period_init_high))
        self.shift = nn.Parameter(torch.empty(hidden_size).uniform_(0.0, shift_max))
        self.log_open_ratio = nn.Parameter(torch.full((hidden_size,), math.log(open_ratio)))

    def time_gate(self, times: torch.Tensor) -> torch.Tensor:
        """k ``[B, T, H]`` for timestamps ``[B, T]`` (leak only in training mode)."""
        period = self.log_period.exp()
        open_ratio = self.log_open_ratio.exp().clamp(max=1.0)
        phase = torch.remainder(times.unsqueeze(-1) - self.shift, period) / period
        leak = self.leak if self.training else 0.0
        rising, falling = 2 * phase / open_ratio, 2 - 2 * phase / open_ratio
        return torch.where(phase < open_ratio / 2, rising, torch.where(phase < open_ratio, falling, leak * phase))

    def forward(self, x: torch.Tensor, state=None, *, times: torch.Tensor | None = None):
        """x ``[B, T, I]``, times ``[B, T]`` → outputs ``[B, T, H]``, final state ``(h, c)``."""
        batch, steps, H = x.shape[0], x.shape[1], self.hidden_size
        if times is None:
            times = torch.arange(steps, device=x.device, dtype=x.dtype).expand(batch, steps)
        gates = self.time_gate(times.to(x.dtype))
        if state is None:
            h = c = x.new_zeros(batch, H)
        else:
            h, c = state
        W_t = self.recurrent.weight.t()
        if self.peepholes is not None:
            peep_input_forget, peep_output = self.peepholes[:2].reshape(-1), self.peepholes[2]
        outputs = []
        for u, k in zip(self.input_proj(x).unbind(1), gates.unbind(1), strict=True):
            pre = torch.addmm(u, h, W_t)
            input_forget, candidate, output = pre[:, :2 * H], pre[:, 2 * H:3 * H], pre[:, 3 * H:]
            if self.peepholes is not None:
                input_forget = torch.addcmul(input_forget, torch.cat((c, c), 1), peep_input_forget)
            i, f = torch.sigmoid(input_forget).chunk(2, 1)
            c_new = torch.addcmul(f * c, i, torch.tanh(candidate))
            if self.peepholes is not None:
                output = torch.addcmul(output, c_new, peep_output)
            h_new = torch.sigmoid(output) * torch.tanh(c_new)
            c = torch.lerp(c, c_new, k)          # k ⊙ c̃ + (1 − k) ⊙ c, exactly c where k = 0
            h = torch.lerp(h, h_new, k)
            outputs.append(h)
        return torch.stack(outputs, 1), (h, c)
