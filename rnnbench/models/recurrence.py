"""The Elman recurrence h_t = f(u_t + W h_{t−1}) over a whole sequence, with a hand-written backward.

Shared by every model built on :class:`rnnbench.models.rnn.RNN` (RNN, RNN-orth, expRNN, EURNN, nnRNN) and by the
Clockwork RNN. ``u_t`` (the input projection for all steps) and ``W`` (the recurrent matrix, built once per
forward by the model) come in as tensors, so autograd carries their gradients on to the model's parameters
(e.g. through expm or the rotation product); only the time loop is hand-written:

    forward:   z_t = u_t + W h_{t−1};  h_t = f(z_t)                      (addmm + in-place f, no autograd graph)
    backward:  δz_t = δh_t ⊙ f′_t;  δh_{t−1} = ∂L/∂h_{t−1} + Wᵀ δz_t   (mul + addmm per step, δh in two [B, H])
               δW = Σ_t δz_t h_{t−1}ᵀ,  δu_t = δz_t,  δb = Σ_t δz_t ⊙ sign(h_t)   (modReLU bias; after the loop)

f′_t comes from the outputs alone (:func:`rnnbench.models.activations.slope`), computed for all steps at once
(with a schedule: per step, on the computed rows only).

An optional ``schedule`` (one ``(n, mask)`` per step) updates only the first n units, and among them only
those where ``mask`` (``[n]`` bool, or None for all) is set; the others are copied from h_{t−1} and carry their
gradient straight through (the Clockwork RNN's active modules); δW then accumulates per step over the computed
rows only, so the backward, like the forward, costs in proportion to the active units.
"""

from __future__ import annotations

import torch

from rnnbench.models.activations import activate_, slope


class ElmanRecurrence(torch.autograd.Function):
    """``apply(projected [T, B, H], h0 [B, H], weight [H, H], nonlinearity, modrelu_bias [H] or None,
    schedule=None)`` → outputs ``[B, T, H]``, final state ``[B, H]``.

    ``projected`` is time-major (``input_proj(x.transpose(0, 1))``), like the loop's buffers, so neither u nor
    its gradient δz is ever transposed in memory."""

    @staticmethod
    def forward(ctx, projected, h0, weight, nonlinearity, modrelu_bias, schedule=None):
        steps, (batch, hidden) = projected.shape[0], h0.shape
        schedule = schedule or [(hidden, None)] * steps
        states = projected.new_empty(steps + 1, batch, hidden)            # h_0 … h_T, time-major
        states[0] = h0
        weight_t = weight.t().contiguous()                                # h Wᵀ as a plain product: faster GEMM
        h = states.unbind(0)
        for t, (u, (n, mask)) in enumerate(zip(projected.unbind(0), schedule, strict=True)):
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
        if full:                                                          # ∂h_t/∂z_t for all steps at once
            gain_buffer = slope(states[1:], ctx.nonlinearity)
            gains = gain_buffer.unbind(0)
            d_pre = states.new_empty(steps, batch, hidden)               # δz_t
        else:                                                             # only the computed rows, per step
            d_pre = states.new_zeros(steps, batch, hidden)               # δz_t = 0 where a unit was copied
            carries = (1 - update_indicator(schedule, hidden, states)).unbind(0)
            weight_rows = {n: weight[:n] for n, _ in schedule}
            d_weight = weight.new_zeros(hidden, hidden)
            d_weight_rows = {n: d_weight[:n] for n in weight_rows}
            h = states.unbind(0)
        grad_outputs = grad_outputs.unbind(1) if grad_outputs is not None else None   # ∂L/∂h_{t+1}, [B, H] each
        d_h = states.new_zeros(batch, hidden) if grad_h is None else grad_h.clone()  # δh_T, then δh_t, …
        if grad_outputs is not None:
            d_h += grad_outputs[-1]
        d_previous = torch.empty_like(d_h)                               # δh_{t−1} = ∂L/∂h_{t−1} + δz_t W
        d_z = d_pre.unbind(0)
        for t in reversed(range(steps)):
            n, mask = schedule[t]
            if full:
                d_step, rows = torch.mul(d_h, gains[t], out=d_z[t]), weight
            else:
                d_step, rows = d_z[t][:, :n], weight_rows[n]
                torch.mul(d_h[:, :n], slope(h[t + 1][:, :n], ctx.nonlinearity), out=d_step)
                if mask is not None:
                    d_step.mul_(mask)
            if grad_outputs is not None and t > 0:
                torch.addmm(grad_outputs[t - 1], d_step, rows, out=d_previous)
            else:
                torch.mm(d_step, rows, out=d_previous)
            if not full:                                                  # copied units pass δh straight back
                d_weight_rows[n].addmm_(d_step.t(), h[t])                 # δW[:n] += δz_t[:n] h_{t−1}ᵀ
                d_previous.addcmul_(d_h, carries[t])
            d_h, d_previous = d_previous, d_h
        if full:                                                          # δW = Σ_t δz_t h_{t−1}ᵀ in one matmul
            d_weight = d_pre.reshape(-1, hidden).t() @ states[:-1].reshape(-1, hidden)
        d_bias = None
        if modrelu_bias is not None and ctx.needs_input_grad[4]:
            signs = torch.sign(states[1:], out=gain_buffer) if full else torch.sign(states[1:])  # reuse the storage
            d_bias = signs.mul_(d_pre).sum((0, 1))
        return d_pre, d_h, d_weight, None, d_bias, None


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
