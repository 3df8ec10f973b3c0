"""Phased LSTM (Neil et al. 2016) and the frequency-discrimination task."""

import math

import pytest
import torch

from rnnbench.config_checks import ConfigError
from rnnbench.experiment import build
from rnnbench.models.plstm import PhasedLSTM
from rnnbench.tasks.base import Batch, make_generator
from rnnbench.tasks.frequency import FrequencyTask

from conftest import compose_config

# --- Phased LSTM ------------------------------------------------------------------------------------------

def gate_model(period=10.0, open_ratio=0.2, shift=0.0, leak=1e-3, hidden=2, parametrization="raw",
               dtype=torch.float32):
    model = PhasedLSTM(1, hidden, open_ratio=open_ratio, leak=leak, time_parametrization=parametrization).to(dtype)
    with torch.no_grad():
        if parametrization == "raw":
            model.period.fill_(period)
        else:
            model.log_period.fill_(math.log(period))
        model.shift.fill_(shift)
    return model


def test_plstm_raw_and_log_parametrizations_give_the_same_gate_but_different_steps():
    times = torch.linspace(0.0, 40.0, 97, dtype=torch.float64).unsqueeze(0)
    raw = gate_model(period=7.0, open_ratio=0.05, dtype=torch.float64)
    log = gate_model(period=7.0, open_ratio=0.05, parametrization="log", dtype=torch.float64)
    with torch.no_grad():
        log.log_open_ratio.fill_(math.log(0.05))
    assert [n for n, _ in raw.named_parameters() if n in ("period", "open_ratio")] == ["period", "open_ratio"]
    torch.testing.assert_close(raw.time_gate(times), log.time_gate(times))
    with torch.no_grad():                      # the raw form passes through abs(), as in the authors' code
        raw.period.neg_()
        raw.open_ratio.neg_()
    torch.testing.assert_close(raw.time_gate(times), log.time_gate(times))
    # d k / d log r_on = r_on · d k / d r_on: the log form's gradient is r_on = 0.05 times the raw one
    (raw_grad,) = torch.autograd.grad(raw.time_gate(times).sum(), raw.open_ratio)
    (log_grad,) = torch.autograd.grad(log.time_gate(times).sum(), log.log_open_ratio)
    torch.testing.assert_close(log_grad, -0.05 * raw_grad)


def test_plstm_gate_matches_piecewise_formula():
    model = gate_model(period=10.0, open_ratio=0.2, shift=1.0)
    # t − s = 10 n + 10 φ: phases 0.05 (rising), 0.1 (peak), 0.15 (falling), 0.5 and 0.9 (closed, leak)
    phases = torch.tensor([0.05, 0.1, 0.15, 0.5, 0.9])
    times = (1.0 + 10 * (3 + phases)).unsqueeze(0)
    expected = torch.tensor([0.5, 1.0, 0.5, 1e-3 * 0.5, 1e-3 * 0.9])
    k = model.time_gate(times)
    torch.testing.assert_close(k[0, :, 0], expected, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(k[..., 0], k[..., 1])
    model.eval()                                              # no leak at evaluation
    torch.testing.assert_close(model.time_gate(times)[0, :, 0], torch.tensor([0.5, 1.0, 0.5, 0.0, 0.0]),
                               rtol=1e-4, atol=0.0)


def test_plstm_closed_gate_carries_state_exactly():
    torch.manual_seed(0)
    model = gate_model(period=10.0, open_ratio=0.1).eval()
    times = (10 * torch.arange(6.0) + 5.0).expand(2, 6)      # φ = 0.5 at every step: k = 0
    h0, c0 = torch.randn(2, 2), torch.randn(2, 2)
    outputs, (h, c) = model(torch.randn(2, 6, 1), (h0, c0), times=times)
    assert torch.equal(h, h0) and torch.equal(c, c0)
    assert torch.equal(outputs, h0.unsqueeze(1).expand(2, 6, 2))
    model.train()                                             # the leak lets a little through in training
    assert not torch.equal(model(torch.randn(2, 6, 1), (h0, c0), times=times)[1][1], c0)


def test_plstm_respects_per_sample_timestamps():
    torch.manual_seed(0)
    model = PhasedLSTM(1, 4, open_ratio=0.3, period_init_low=1.0, period_init_high=2.0, shift_max=5.0,
                       weight_std=0.5)
    x = torch.randn(2, 7, 1)
    times = torch.stack([torch.arange(7.0), torch.arange(7.0) * 0.37 + 2.1])
    gates = model.time_gate(times)
    assert not torch.allclose(gates[0], gates[1])
    together, _ = model(x, times=times)
    for b in range(2):
        alone, _ = model(x[b:b + 1], times=times[b:b + 1])
        torch.testing.assert_close(together[b], alone[0])
    same_times, _ = model(x, times=times[:1])                 # [1, T]: shared by the batch
    assert not torch.allclose(together[1], same_times[1])
    default, _ = model(x)                                     # no times: the step index 0..T−1
    torch.testing.assert_close(default[0], together[0])


class ClipGradient(torch.autograd.Function):
    """Identity forward; the backward clips the gradient element-wise (Theano's grad_clip)."""

    @staticmethod
    def forward(ctx, x, bound):
        ctx.bound = bound
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad.clamp(-ctx.bound, ctx.bound), None


def plstm_reference(model, x, times, h, c):
    """The paper's equations, one autograd op at a time (no fused recurrence); the authors' gradient clip
    on the gate pre-activations W x + U h + b, before the peepholes are added."""
    k, H = model.time_gate(times), model.hidden_size
    W, U, b = model.input_proj.weight, model.recurrent.weight, model.input_proj.bias
    p = model.peepholes if model.peepholes is not None else torch.zeros(3, H, dtype=x.dtype)
    outputs = []
    for t in range(x.shape[1]):
        a = x[:, t] @ W.T + b + h @ U.T
        a_i, a_f, a_g, a_o = (a if model.grad_clip is None else ClipGradient.apply(a, model.grad_clip)).split(H, 1)
        i, f = torch.sigmoid(a_i + p[0] * c), torch.sigmoid(a_f + p[1] * c)
        c_cand = f * c + i * torch.tanh(a_g)
        h_cand = torch.sigmoid(a_o + p[2] * c_cand) * torch.tanh(c_cand)
        c = k[:, t] * c_cand + (1 - k[:, t]) * c
        h = k[:, t] * h_cand + (1 - k[:, t]) * h
        outputs.append(h)
    return torch.stack(outputs, 1), h, c


@pytest.mark.xdist_group("native")
@pytest.mark.parametrize("native", ["1", "0"])
@pytest.mark.parametrize("peepholes, grad_clip", [(True, None), (False, None), (True, 0.02), (False, 0.02)])
def test_plstm_recurrence_and_its_backward_match_the_equations(peepholes, grad_clip, native, monkeypatch):
    monkeypatch.setenv("RNNBENCH_NATIVE", native)                             # the C++ kernel and the torch path
    torch.manual_seed(0)
    model = PhasedLSTM(2, 5, peepholes=peepholes, open_ratio=0.4, leak=0.05, period_init_low=0.5,
                       period_init_high=1.5, shift_max=3.0, weight_std=0.5, grad_clip=grad_clip).double()
    x = torch.randn(3, 9, 2, dtype=torch.float64)
    times = torch.cumsum(torch.rand(3, 9, dtype=torch.float64), 1)
    h0, c0 = (torch.randn(3, 5, dtype=torch.float64, requires_grad=True) for _ in range(2))
    outputs, (h, c) = model(x, (h0, c0), times=times)
    expected = plstm_reference(model, x, times, h0, c0)
    for ours, reference in zip((outputs, h, c), expected, strict=True):
        torch.testing.assert_close(ours, reference, rtol=1e-12, atol=1e-12)
    k = model.time_gate(times)
    assert (k > 0.1).any() and (k < 0.05).any()                               # open and closed (leaky) steps
    weights = [torch.randn_like(t) for t in expected]                        # a loss touching every output
    inputs = [h0, c0, *model.parameters()]
    def weighted_sum(tensors):
        return sum((w * t).sum() for w, t in zip(weights, tensors, strict=True))
    ours = torch.autograd.grad(weighted_sum((outputs, h, c)), inputs, retain_graph=True)
    reference = torch.autograd.grad(weighted_sum(expected), inputs, retain_graph=True)
    for name, a, b in zip(["h0", "c0", *(n for n, _ in model.named_parameters())], ours, reference, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=f"gradient of {name}")
    outputs_only = torch.autograd.grad(outputs.sum(), inputs)                # no gradient into the final state
    for a, b in zip(outputs_only, torch.autograd.grad(expected[0].sum(), inputs), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    if grad_clip is not None:                                                 # the clip was active
        model.grad_clip = None
        unclipped = torch.autograd.grad(weighted_sum(plstm_reference(model, x, times, h0, c0)), inputs)
        assert not torch.allclose(unclipped[0], ours[0])


# --- frequency task -------------------------------------------------------------------------------------

@pytest.mark.parametrize("sampling, rate, start_time, async_points", [
    ("standard", 1.0, "random", "independent"), ("high_res", 10.0, "random", "independent"),
    ("async", 1.0, "random", "independent"), ("async", 1.0, "zero", "duration"), ("standard", 1.0, "zero", "duration")])
def test_frequency_labels_lengths_and_signal(sampling, rate, start_time, async_points):
    task = FrequencyTask(sampling=sampling, batch_size=8, start_time=start_time, async_points=async_points)
    period, shift, duration, start = task.draw(256, make_generator("cpu", "test", 0))
    batch = task.render(period, shift, duration, start, make_generator("cpu", "render", 0))
    assert torch.equal(batch.targets, ((period >= 5) & (period <= 6)).long())
    assert batch.targets[128:].all() and batch.targets.float().mean() > 0.5
    if sampling == "async" and async_points == "independent":        # n ~ ⌊U(15, 125)⌋, whatever the duration
        assert batch.lengths.min() >= 15 and batch.lengths.max() < 125
        assert abs(torch.corrcoef(torch.stack([batch.lengths.float(), duration]))[0, 1]) < 0.2
    else:
        assert torch.equal(batch.lengths, torch.ceil(duration * rate).long())
    assert batch.inputs.shape == (256, math.ceil(125 * rate), 1) and batch.times.shape == batch.inputs.shape[:2]
    real = torch.arange(batch.inputs.shape[1]) < batch.lengths.unsqueeze(1)
    expected = torch.sin(2 * math.pi * batch.times / period.unsqueeze(1) - shift.unsqueeze(1))
    torch.testing.assert_close(batch.inputs[..., 0][real], expected[real])
    assert (batch.inputs[..., 0][~real] == 0).all()
    assert (batch.times.diff(dim=1) >= 0).all()                       # padding repeats or follows the last time
    first = batch.times[:, 0]
    last = batch.times.gather(1, (batch.lengths - 1).unsqueeze(1))[:, 0]
    assert (first >= start).all() and (last < start + duration + 1e-4).all() and (last <= 125.0 + 1e-4).all()
    if start_time == "zero":
        assert (start == 0).all()
    else:                                                             # t₀ ~ U(0, 125 − d)
        assert (start <= 125.0 - duration).all() and start.max() > 50
    if sampling != "async":
        torch.testing.assert_close(batch.times[:, 1] - first, torch.full_like(first, 1 / rate))
    assert task.steps_per_epoch == 625 and task.epochs == 70


def test_frequency_time_channel_and_authors_head():
    task = FrequencyTask(time_input=True, eval_size=8)
    batch = task.eval_batches("val")[0]
    torch.testing.assert_close(batch.inputs[..., 1], batch.times)     # the raw t, as in the authors' code
    scaled = FrequencyTask(time_input=True, time_input_scale=1 / 125, eval_size=8).eval_batches("val")[0]
    torch.testing.assert_close(scaled.inputs[..., 1], batch.times / 125)
    head = task.network(PhasedLSTM(2, 4)).head
    assert isinstance(head[1], torch.nn.LeakyReLU) and head[1].negative_slope == 0.01
    assert (head[0].bias == 0).all()
    assert isinstance(FrequencyTask(head="linear").network(PhasedLSTM(1, 4)).head, torch.nn.Linear)


@pytest.mark.parametrize("model_name", ["plstm", "lstm"])
def test_frequency_padding_never_changes_the_prediction(model_name):
    torch.manual_seed(0)
    task = FrequencyTask(sampling="async", time_input=model_name == "lstm", max_duration=30.0, eval_size=16)
    core = PhasedLSTM(task.input_size, 8) if model_name == "plstm" else build(
        compose_config(["model=lstm", "model.hidden_size=8"]).model, "model", input_size=task.input_size)
    net = task.network(core).eval()
    batch = task.eval_batches("val")[0]
    extra = 17
    padded = Batch(torch.cat([batch.inputs, torch.randn(16, extra, task.input_size)], 1), batch.targets,
                   torch.cat([batch.times, batch.times[:, -1:] + torch.rand(16, extra)], 1), batch.lengths)
    with torch.no_grad():
        torch.testing.assert_close(net(batch)[0], net(padded)[0])


# --- bad input ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("overrides, needle", [
    (["model=plstm", "model.open_ratio=0"], "model.open_ratio=0"),
    (["model=plstm", "model.open_ratio=1.5"], "model.open_ratio=1.5"),
])
def test_bad_model_config(overrides, needle):
    cfg = compose_config(overrides)
    with pytest.raises(ConfigError) as error:
        build(cfg.model, "model", input_size=1)
    assert needle in str(error.value) and "\n" not in str(error.value)
