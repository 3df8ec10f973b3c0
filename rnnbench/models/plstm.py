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

Per unit, τ, s and r_on are trainable. ``time_parametrization`` keeps them positive in one of two ways:
``raw`` (default, the authors' code): τ = |τ_raw|, r_on = |r_raw|, the raw values being the parameters;
``log``: τ = exp(log τ), r_on = min(exp(log r_on), 1). The forms give the same gate for the same τ and r_on but
different training dynamics: under Adam, log r_on moves by ~lr per step, i.e. r_on by ~lr·r_on, about 20×
slower than the raw form at r_on = 0.05 (reference: frequency task, REFERENCES.md#phased-lstm).
Initialisation (the paper's frequency task): τ ~ exp(U(``period_init_low``, ``period_init_high``)) = exp(U(1, 3)),
s ~ U(0, ``shift_max``) = U(0, 100) (``shift_max: period``: s_i ~ U(0, τ_i), each unit's own initial period),
r_on = ``open_ratio`` = 0.05. ``weight_init: normal``: gate weights, recurrent weights and peepholes
~ N(0, ``weight_std``²) (0.1, Lasagne's default in the authors' code; null: torch's U(−1/√H, 1/√H));
``tf_glorot_uniform``: TensorFlow's default for the joint kernel [I + H, 4H], U(±√(6 / (I + 5H))), and for the
peephole vectors [H], U(±√(3 / H)). Biases 0 except the input gate's, ``input_gate_bias`` (−0.1 in the authors'
code). ``initial_state_std`` > 0: with no state given, (h, c) start from a fresh N(0, std²) draw per call.
``grad_clip`` (10 in the authors' code; null: off): in the backward pass, the gradient of every gate
pre-activation W x_t + U h_{t−1} + b is clipped element-wise to [−clip, clip] before it reaches W, U, b and
h_{t−1} (Lasagne's ``grad_clipping``); the forward pass is unchanged. ``time_gate=false`` fixes k = 1: a
peephole LSTM with the same initialisation and clipping (the authors' LSTM baseline).

Compute: k for all steps in one vectorised op (one row for timestamps shared by the batch) and the input
projection for all steps in one matmul, both before the loop. On the CPU the recurrence runs in a native
kernel (``rnnbench/native/phased_lstm.cpp``, compiled on first use): each step is one matrix product and one
vectorised pass over the units, forward and backward. Elsewhere (GPU, other dtypes, or ``RNNBENCH_NATIVE=0``)
it is ``PhasedLSTMRecurrence``, an autograd Function with the same hand-written backward-through-time in
torch ops: the loop records no autograd graph and writes into preallocated buffers, and every factor of the
backward that does not depend on the carried gradient (σ′, tanh′, c̃ − c, …) is computed for all steps at once.
State: ``(h, c)``, each ``[B, H]``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rnnbench import native
from rnnbench.config_checks import non_negative_float, positive_float, positive_int, require, require_choice
from rnnbench.models.initializers import initial_state, tf_glorot_uniform_bound

PARAMETRIZATIONS = ("raw", "log")
WEIGHT_INITS = ("normal", "tf_glorot_uniform")


class PhasedLSTM(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, peepholes: bool = True, open_ratio: float = 0.05,
                 leak: float = 1e-3, period_init_low: float = 1.0, period_init_high: float = 3.0,
                 shift_max: float | str = 100.0, time_parametrization: str = "raw", weight_std: float | None = 0.1,
                 input_gate_bias: float = -0.1, grad_clip: float | None = 10.0, time_gate: bool = True,
                 weight_init: str = "normal", initial_state_std: float = 0.0):
        super().__init__()
        positive_int("input_size", input_size)
        positive_int("hidden_size", hidden_size)
        require(isinstance(open_ratio, (int, float)) and 0 < open_ratio <= 1, "open_ratio", open_ratio,
                "a number in (0, 1]")
        non_negative_float("leak", leak)
        require(isinstance(period_init_low, (int, float)) and isinstance(period_init_high, (int, float))
                and period_init_low <= period_init_high, "period_init_high", period_init_high,
                f"a number >= period_init_low={period_init_low}")
        if shift_max != "period":
            require(isinstance(shift_max, (int, float)) and shift_max >= 0, "shift_max", shift_max,
                    "a non-negative number or period")
        require_choice("time_parametrization", time_parametrization, PARAMETRIZATIONS)
        if weight_std is not None:
            positive_float("weight_std", weight_std)
        require(isinstance(input_gate_bias, (int, float)), "input_gate_bias", input_gate_bias, "a number")
        if grad_clip is not None:
            positive_float("grad_clip", grad_clip)
        require(isinstance(time_gate, bool), "time_gate", time_gate, "true or false")
        require_choice("weight_init", weight_init, WEIGHT_INITS)
        non_negative_float("initial_state_std", initial_state_std)
        self.hidden_size, self.leak, self.grad_clip = hidden_size, leak, grad_clip
        self.initial_state_std = initial_state_std
        self.time_parametrization, self.has_time_gate = time_parametrization, time_gate
        self.input_proj = nn.Linear(input_size, 4 * hidden_size)
        self.recurrent = nn.Linear(hidden_size, 4 * hidden_size, bias=False)
        self.peepholes = nn.Parameter(torch.empty(3, hidden_size)) if peepholes else None
        self.init_settings = {"weight_init": weight_init, "weight_std": weight_std, "input_gate_bias": input_gate_bias,
                              "open_ratio": open_ratio, "period_range": (period_init_low, period_init_high),
                              "shift_max": shift_max}
        if time_gate:
            names = ("period", "open_ratio") if time_parametrization == "raw" else ("log_period", "log_open_ratio")
            for name in ("shift", *names):
                setattr(self, name, nn.Parameter(torch.empty(hidden_size)))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Weights and peepholes ~ N(0, weight_std²) (null: U(±1/√H)) or TF's Glorot uniform; biases 0 but the
        input gate's; time gate: log τ ~ U(period_init_low, period_init_high), s ~ U(0, shift_max) or U(0, τ),
        r_on = open_ratio."""
        init, hidden = self.init_settings, self.hidden_size
        matrices = [self.input_proj.weight, self.recurrent.weight]
        peepholes = [self.peepholes] if self.peepholes is not None else []
        if init["weight_init"] == "tf_glorot_uniform":
            bound = tf_glorot_uniform_bound(self.input_proj.in_features, hidden, 4)
            for weight in matrices:
                nn.init.uniform_(weight, -bound, bound)
            for weight in peepholes:                              # TF's fans of a vector [H]: fan_in = fan_out = H
                nn.init.uniform_(weight, -math.sqrt(3 / hidden), math.sqrt(3 / hidden))
        elif init["weight_std"] is None:
            for weight in matrices + peepholes:
                nn.init.uniform_(weight, -1 / math.sqrt(hidden), 1 / math.sqrt(hidden))
        else:
            for weight in matrices + peepholes:
                nn.init.normal_(weight, 0.0, init["weight_std"])
        self.input_proj.bias.zero_()[:hidden] = init["input_gate_bias"]
        if not self.has_time_gate:
            return
        periods = torch.empty(hidden).uniform_(*init["period_range"])
        if init["shift_max"] == "period":
            nn.init.uniform_(self.shift, 0.0, 1.0).mul_(periods.exp())
        else:
            nn.init.uniform_(self.shift, 0.0, init["shift_max"])
        if self.time_parametrization == "raw":
            self.period.copy_(periods.exp())
            self.open_ratio.fill_(float(init["open_ratio"]))
        else:
            self.log_period.copy_(periods)
            self.log_open_ratio.fill_(math.log(init["open_ratio"]))

    def extra_repr(self) -> str:
        gate = f"time_parametrization={self.time_parametrization}, leak={self.leak:g}" if self.has_time_gate \
            else "time_gate=False"
        return (f"hidden_size={self.hidden_size}, peepholes={self.peepholes is not None}, {gate}, "
                f"grad_clip={self.grad_clip}, weight_init={self.init_settings['weight_init']}"
                + (f", initial_state_std={self.initial_state_std:g}" if self.initial_state_std else ""))

    def periods_and_open_ratios(self) -> tuple[torch.Tensor, torch.Tensor]:
        """τ and r_on ``[H]``, positive, from the parameters of the chosen parametrisation."""
        if self.time_parametrization == "raw":
            return self.period.abs(), self.open_ratio.abs()
        return self.log_period.exp(), self.log_open_ratio.exp().clamp(max=1.0)

    def time_gate(self, times: torch.Tensor) -> torch.Tensor:
        """k ``[B, T, H]`` for timestamps ``[B, T]`` (leak only in training mode)."""
        period, open_ratio = self.periods_and_open_ratios()
        phase = torch.remainder(times.unsqueeze(-1) - self.shift, period) / period
        leak = self.leak if self.training else 0.0
        tent = 1 - (2 * phase / open_ratio - 1).abs()           # 2φ/r_on rising, then 2 − 2φ/r_on falling
        return torch.where(phase < open_ratio, tent, leak * phase)

    def forward(self, x: torch.Tensor, state=None, *, times: torch.Tensor | None = None):
        """x ``[B, T, I]``, times ``[B, T]`` → outputs ``[B, T, H]``, final state ``(h, c)``.

        Timestamps shared by the whole batch (``times`` ``[1, T]``, or None: the step index) give one row of
        gates, broadcast over the batch. On the CPU (float32/float64) the recurrence runs in the native kernel
        (``rnnbench/native/phased_lstm.cpp``) when it can be built, else in :class:`PhasedLSTMRecurrence`."""
        steps = x.shape[1]
        if times is None:
            times = torch.arange(steps, device=x.device, dtype=x.dtype).unsqueeze(0)
        if self.has_time_gate:
            gates = self.time_gate(times.to(x.dtype))                               # [B or 1, T, H]
        else:
            gates = x.new_ones(1, steps, self.hidden_size)
        if state is None:
            state = initial_state(x, self.hidden_size, 2, self.initial_state_std)
        kernel = native_kernel(x)
        if kernel is not None:
            projected = self.input_proj(x.transpose(0, 1))                         # W x_t + b: [T, B, 4H]
            outputs, h, c = native_recurrence(kernel, projected, gates.transpose(0, 1).contiguous(), *state,
                                              self.recurrent.weight, self.peepholes, self.grad_clip)
            return outputs, (h, c)
        projected = torch.baddbmm(self.input_proj.bias.view(1, -1, 1),               # W x_t + b: [T, 4H, B]
                                  self.input_proj.weight.expand(steps, -1, -1), x.permute(1, 2, 0))
        outputs, h, c = PhasedLSTMRecurrence.apply(projected, gates.permute(1, 2, 0).contiguous(), *state,
                                                   self.recurrent.weight, self.peepholes, self.grad_clip)
        return outputs, (h, c)


@torch.compiler.disable
def native_kernel(x: torch.Tensor):
    """The compiled CPU recurrence for ``x``'s device and dtype, or None (then the pure-torch path runs)."""
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return None
    return native.load("phased_lstm")


@torch.compiler.disable
def native_recurrence(kernel, *inputs):
    """``NativePhasedLSTMRecurrence.apply``, kept out of torch.compile's graphs (the C++ loop is opaque to it)."""
    return NativePhasedLSTMRecurrence.apply(kernel, *inputs)


class NativePhasedLSTMRecurrence(torch.autograd.Function):
    """:class:`PhasedLSTMRecurrence`'s equations, with both time loops in C++ (``rnnbench/native/phased_lstm.cpp``):
    per step one matrix product and one fused pass over the units. Batch-major layout: ``projected``
    ``[T, B, 4H]``, ``gates`` ``[T, B or 1, H]``; returns outputs ``[B, T, H]`` and the final ``(h, c)``."""

    @staticmethod
    def forward(ctx, kernel, projected, gates, h0, c0, weight, peepholes, grad_clip):
        peephole_values = peepholes if peepholes is not None else weight.new_zeros(3, weight.shape[1])
        h, c, *saved = kernel.forward(projected, gates, h0.contiguous(), c0.contiguous(), weight.contiguous(),
                                      peephole_values.contiguous())
        ctx.kernel, ctx.has_peepholes, ctx.grad_clip = kernel, peepholes is not None, grad_clip or 0.0
        ctx.save_for_backward(gates, weight, peephole_values, h, c, *saved)
        return h[1:].transpose(0, 1), h[-1], c[-1]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_outputs, grad_h, grad_c):
        gates, weight, peepholes, *saved = ctx.saved_tensors
        grads = ctx.kernel.backward(None if grad_outputs is None else grad_outputs.transpose(0, 1), grad_h, grad_c,
                                    gates, weight, peepholes, *saved, ctx.grad_clip)
        d_projected, d_gates, d_h0, d_c0, d_weight, d_peepholes = grads
        return None, d_projected, d_gates, d_h0, d_c0, d_weight, d_peepholes if ctx.has_peepholes else None, None


class PhasedLSTMRecurrence(torch.autograd.Function):
    """The Phased LSTM recurrence over all steps, with a hand-written backward-through-time.

    Inputs: ``projected`` ``[T, 4H, B]`` (W x_t + b, gate order i, f, g, o), ``gates`` k ``[T, H, B]`` (or
    ``[T, H, 1]``, shared by the batch), ``h0``, ``c0`` ``[B, H]``, ``weight`` U ``[4H, H]``, ``peepholes``
    ``[3, H]`` (p_i, p_f, p_o) or None, ``grad_clip`` (clip of δa where it leaves through U, h and the input
    projection; the peephole terms use the unclipped δa) or None. Returns outputs ``[B, T, H]`` and the final
    ``h``, ``c`` ``[B, H]``.

    Layout, chosen so that a step is ~10 tensor ops on contiguous memory: the loops run feature-major (batch
    last), so a step's pre-activations are one ``addmm(u_t, U, h_t)`` into a ``[4H, B]`` block whose gate rows
    i, f, g, o are contiguous ``[H, B]`` slices; h and c sit one after the other in a ``[T + 1, 2, H, B]`` state
    buffer (h̃ and c̃ likewise in a candidate buffer), so one ``lerp`` applies the time gate to both and one
    ``addcmul`` carries both gradients back. Per-step views are made once, with ``unbind``, before each loop.

    Backward, per step, for incoming δh_t (with ∂L/∂h_t, added for all steps up front) and δc_t:
        δc̃ = k ⊙ δc_t + δh_t ⊙ k ⊙ (o ⊙ tanh′(c̃) + p_o ⊙ tanh(c̃) ⊙ σ′_o)
        δa_o = δh_t ⊙ k ⊙ tanh(c̃) ⊙ σ′_o;   δa_i = δc̃ ⊙ g ⊙ σ′_i;   δa_f = δc̃ ⊙ c ⊙ σ′_f;   δa_g = δc̃ ⊙ i ⊙ tanh′_g
        δc_{t−1} += (1 − k) ⊙ δc_t + δc̃ ⊙ (f + p_i ⊙ g ⊙ σ′_i + p_f ⊙ c ⊙ σ′_f)
        δh_{t−1} += (1 − k) ⊙ δh_t + Uᵀ δa;   δU += δa h_{t−1}ᵀ
    with σ′ = σ(1 − σ) and tanh′ = 1 − tanh². Every factor that does not depend on the carried gradient is
    computed for all steps before the loop; δp and δk = δc_t ⊙ (c̃ − c_{t−1}) + δh_t ⊙ (h̃ − h_{t−1}) after it.
    """

    @staticmethod
    def forward(ctx, projected, gates, h0, c0, weight, peepholes, grad_clip):
        steps, (batch, H) = projected.shape[0], h0.shape
        acts = projected.new_empty(steps, 4 * H, batch)            # i, f, g, o after their non-linearities
        states = projected.new_empty(steps + 1, 2, H, batch)       # (h, c) before each step and after the last
        candidates = projected.new_empty(steps, 2, H, batch)       # (h̃, c̃)
        cell_tanh = projected.new_empty(steps, H, batch)
        states[0, 0], states[0, 1] = h0.t(), c0.t()
        h, c = states[:, 0].unbind(0), states[:, 1].unbind(0)
        i, f, g, o = (part.unbind(0) for part in acts.split(H, 1))
        input_forget = acts[:, :2 * H].unbind(0)
        input_forget_pairs = acts[:, :2 * H].unflatten(1, (2, H)).unbind(0)
        h_cand, c_cand = candidates[:, 0].unbind(0), candidates[:, 1].unbind(0)
        if peepholes is not None:
            peep_input_forget, peep_output = peepholes[:2].unsqueeze(-1), peepholes[2].unsqueeze(-1)
        k = gates.unsqueeze(1).unbind(0)                          # [1, H, B], broadcast over (h, c)
        state = states.unbind(0)
        step_views = zip(projected.unbind(0), acts.unbind(0), candidates.unbind(0), cell_tanh.unbind(0), strict=True)
        for t, (u, act, candidate, tanh_c) in enumerate(step_views):
            torch.addmm(u, weight, h[t], out=act)
            if peepholes is not None:
                input_forget_pairs[t].addcmul_(c[t], peep_input_forget)
            input_forget[t].sigmoid_()
            g[t].tanh_()
            torch.mul(f[t], c[t], out=c_cand[t]).addcmul_(i[t], g[t])
            if peepholes is not None:
                o[t].addcmul_(c_cand[t], peep_output)
            o[t].sigmoid_()
            torch.mul(o[t], torch.tanh(c_cand[t], out=tanh_c), out=h_cand[t])
            torch.lerp(state[t], candidate, k[t], out=state[t + 1])   # k ⊙ new + (1 − k) ⊙ old
        ctx.save_for_backward(gates, weight, peepholes, acts, states, candidates, cell_tanh)
        ctx.grad_clip = grad_clip
        return states[1:, 0].permute(2, 0, 1), states[-1, 0].t(), states[-1, 1].t()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_outputs, grad_h, grad_c):
        k, weight, peepholes, acts, states, candidates, cell_tanh = ctx.saved_tensors
        steps, _, H, batch = candidates.shape
        i, f, g, o = acts.split(H, 1)
        previous_h, previous_c = states[:-1, 0], states[:-1, 1]
        # Factors of the backward for all steps, written into few buffers (σ′ = σ − σ², tanh′ = 1 − tanh²).
        out_factor = torch.addcmul(o, o, o, value=-1).mul_(cell_tanh)                 # ∂h̃/∂a_o
        cell_factor = torch.addcmul(o, o * cell_tanh, cell_tanh, value=-1)            # ∂h̃/∂c̃ through tanh
        gate_factors = acts.new_empty(steps, 3, H, batch)                             # ∂c̃/∂(a_i, a_f, a_g)
        torch.addcmul(i, i, i, value=-1, out=gate_factors[:, 0]).mul_(g)
        torch.addcmul(f, f, f, value=-1, out=gate_factors[:, 1]).mul_(previous_c)
        torch.mul(g, g, out=gate_factors[:, 2]).sub_(1).mul_(i).neg_()
        carry_factor = f.clone()                                                       # ∂c̃/∂c_{t−1}
        if peepholes is not None:
            cell_factor.addcmul_(out_factor, peepholes[2].unsqueeze(-1))
            carry_factor.addcmul_(gate_factors[:, 0], peepholes[0].unsqueeze(-1))
            carry_factor.addcmul_(gate_factors[:, 1], peepholes[1].unsqueeze(-1))
        out_factor.mul_(k)
        cell_factor.mul_(k)
        keep = (1 - k).unsqueeze(1)                                                    # [T, 1, H, B or 1]
        d_pre = acts.new_empty(steps, 4 * H, batch)
        d_states = acts.new_zeros(steps + 1, 2, H, batch)                              # (δh_t, δc_t)
        if grad_outputs is not None:
            d_states[1:, 0] = grad_outputs.permute(1, 2, 0)
        if grad_h is not None:
            d_states[steps, 0] += grad_h.t()
        if grad_c is not None:
            d_states[steps, 1] += grad_c.t()
        d_weight = torch.zeros_like(weight)
        weight_t = weight.t()
        d_h, d_c = d_states[:, 0].unbind(0), d_states[:, 1].unbind(0)
        d_output_gate = d_pre[:, 3 * H:].unbind(0)
        d_gate_inputs = d_pre[:, :3 * H].unflatten(1, (3, H)).unbind(0)
        h_t = previous_h.transpose(1, 2).unbind(0)
        d_clipped = d_pre if ctx.grad_clip is None else torch.empty_like(d_pre)        # δa through U, h, W x + b
        k, keep, d_state, d_act = k.unbind(0), keep.unbind(0), d_states.unbind(0), d_clipped.unbind(0)
        cell_factor, out_factor, gate_factors, carry_factor = (
            x.unbind(0) for x in (cell_factor, out_factor, gate_factors, carry_factor))
        for t in reversed(range(steps)):
            d_cell = torch.mul(d_c[t + 1], k[t]).addcmul_(d_h[t + 1], cell_factor[t])
            torch.mul(d_h[t + 1], out_factor[t], out=d_output_gate[t])
            torch.mul(d_cell, gate_factors[t], out=d_gate_inputs[t])
            if ctx.grad_clip is not None:
                torch.clamp(d_pre[t], -ctx.grad_clip, ctx.grad_clip, out=d_act[t])
            d_state[t].addcmul_(d_state[t + 1], keep[t])
            d_h[t].addmm_(weight_t, d_act[t])
            d_c[t].addcmul_(d_cell, carry_factor[t])
            d_weight.addmm_(d_act[t], h_t[t])
        d_gates = (d_states[1:] * (candidates - states[:-1])).sum(1)
        if d_gates.shape[-1] != k[0].shape[-1]:                                        # gates shared by the batch
            d_gates = d_gates.sum(-1, keepdim=True)
        d_peepholes = None
        if peepholes is not None:
            d_peepholes = torch.stack(((d_pre[:, :H] * previous_c).sum((0, 2)),
                                       (d_pre[:, H:2 * H] * previous_c).sum((0, 2)),
                                       (d_pre[:, 3 * H:] * candidates[:, 1]).sum((0, 2))))
        return d_clipped, d_gates, d_states[0, 0].t(), d_states[0, 1].t(), d_weight, d_peepholes, None
