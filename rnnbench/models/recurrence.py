"""The Elman recurrence h_t = f(u_t + W h_{t−1}) over a whole sequence, with a hand-written backward.

Shared by every model built on :class:`rnnbench.models.rnn.RNN` (RNN, RNN-orth, expRNN, EURNN, nnRNN) and by the
Clockwork RNN. ``u_t`` (the input projection for all steps) and ``W`` (the recurrent matrix, built once per
forward by the model) come in as tensors, so autograd carries their gradients on to the model's parameters
(e.g. through expm or the rotation product); only the time loop is hand-written:

    forward:   z_t = u_t + W h_{t−1};  h_t = f(z_t)                      (addmm + in-place f, no autograd graph)
    backward:  δz_t = δh_t ⊙ f′_t;  δh_{t−1} = ∂L/∂h_{t−1} + Wᵀ δz_t            (2 ops per step)
               δW = Σ_t δz_t h_{t−1}ᵀ,  δu_t = δz_t,  δb = Σ_t δz_t ⊙ sign(h_t)   (modReLU bias; after the loop)

f′_t comes from the outputs alone (:func:`rnnbench.models.activations.slope`), computed for all steps at once.

An optional ``schedule`` (one ``(n, mask)`` per step) updates only the first n units, and among them only
those where ``mask`` (``[n]`` bool, or None for all) is set; the others are copied from h_{t−1} and carry their
gradient straight through (the Clockwork RNN's active modules); δW then accumulates per step over the computed
rows only, so the backward, like the forward, costs in proportion to the active units.
"""

from __future__ import annotations

import torch

from rnnbench.models.activations import activate_, slope


class ElmanRecurrence(torch.autograd.Function):
    """``apply(projected [B, T, H], h0 [B, H], weight [H, H], nonlinearity, modrelu_bias [H] or None,
    schedule=None)`` → outputs ``[B, T, H]``, final state ``[B, H]``."""

    @staticmethod
    def forward(ctx, projected, h0, weight, nonlinearity, modrelu_bias, schedule=None):
        steps, (batch, hidden) = projected.shape[1], h0.shape
        schedule = schedule or [(hidden, None)] * steps
        states = projected.new_empty(steps + 1, batch, hidden)            # h_0 … h_T, time-major
        states[0] = h0
        weight_t = weight.t().contiguous()                                # h Wᵀ as a plain product: faster GEMM
        h = states.unbind(0)
        for t, (u, (n, mask)) in enumerate(zip(projected.unbind(1), schedule, strict=True)):
            if n == hidden:
                updated = activate_(torch.addmm(u, h[t], weight_t, out=h[t + 1]), nonlinearity, modrelu_bias)
            else:
                updated = h[t + 1][:, :n]
                activate_(torch.addmm(u[:, :n], h[t], weight_t[:, :n], out=updated), nonlinearity, modrelu_bias)
                h[t + 1][:, n:] = h[t][:, n:]
            if mask is not None:
                updated.copy_(torch.where(mask, updated, h[t][:, :n]))
        ctx.nonlinearity, ctx.schedule = nonlinearity, schedule
        ctx.save_for_backward(weight, modrelu_bias, states)
        return states[1:].transpose(0, 1), states[-1]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_outputs, grad_h):
        weight, modrelu_bias, states = ctx.saved_tensors
        steps, batch, hidden = states.shape[0] - 1, states.shape[1], states.shape[2]
        schedule = ctx.schedule
        full = all(n == hidden and mask is None for n, mask in schedule)
        gain_buffer = slope(states[1:], ctx.nonlinearity)                # ∂h_t/∂z_t, 0 where a unit was copied
        if not full:
            updated = update_indicator(schedule, hidden, states)          # [T, H]
            gain_buffer.mul_(updated.unsqueeze(1))
            carries = (1 - updated).unbind(0)
            weight_rows = {n: weight[:n] for n, _ in schedule}
            d_weight = weight.new_zeros(hidden, hidden)
            d_weight_rows = {n: d_weight[:n] for n in weight_rows}
            h = states.unbind(0)
        gains = gain_buffer.unbind(0)
        d_states = states.new_zeros(steps + 1, batch, hidden)            # δh_t; ∂L/∂h_t added for all steps up front
        if grad_outputs is not None:
            d_states[1:] = grad_outputs.transpose(0, 1)
        if grad_h is not None:
            d_states[steps] += grad_h
        d_pre = states.new_empty(steps, batch, hidden)                   # δz_t
        d_h, d_z = d_states.unbind(0), d_pre.unbind(0)
        for t in reversed(range(steps)):
            torch.mul(d_h[t + 1], gains[t], out=d_z[t])
            if full:
                d_h[t].addmm_(d_z[t], weight)
            else:                                                         # copied units pass δh straight back
                n, _ = schedule[t]
                d_weight_rows[n].addmm_(d_z[t][:, :n].t(), h[t])          # δW[:n] += δz_t[:n] h_{t−1}ᵀ
                d_h[t].addmm_(d_z[t][:, :n], weight_rows[n]).addcmul_(d_h[t + 1], carries[t])
        if full:                                                          # δW = Σ_t δz_t h_{t−1}ᵀ in one matmul
            d_weight = d_pre.reshape(-1, hidden).t() @ states[:-1].reshape(-1, hidden)
        d_bias = None
        if modrelu_bias is not None and ctx.needs_input_grad[4]:                # reuse the gains' storage
            d_bias = torch.sign(states[1:], out=gain_buffer).mul_(d_pre).sum((0, 1))
        return d_pre.transpose(0, 1), d_states[0], d_weight, None, d_bias, None


def update_indicator(schedule, hidden: int, like: torch.Tensor) -> torch.Tensor:
    """``[T, H]``: 1 where unit j is computed (not copied) at step t, built from the schedule's few patterns."""
    patterns, rows, index = {}, [], []
    for n, mask in schedule:
        key = (n, None if mask is None else id(mask))
        if key not in patterns:
            row = like.new_zeros(hidden)
            row[:n] = 1 if mask is None else mask
            patterns[key] = len(rows)
            rows.append(row)
        index.append(patterns[key])
    return torch.stack(rows)[torch.tensor(index, device=like.device)]
