"""The native CPU kernels against the pure-torch paths they replace, and the allocator setting."""

import pytest
import torch

from rnnbench import native
from rnnbench.allocator import reuse_freed_memory
from rnnbench.models.plstm import PhasedLSTM

pytestmark = pytest.mark.xdist_group("native")      # one worker builds the kernel (tests/conftest.py)


def test_phased_lstm_kernel_builds(monkeypatch):
    monkeypatch.setenv("RNNBENCH_NATIVE", "1")
    assert native.load("phased_lstm") is not None            # a broken build would silently fall back


def run_both_paths(model, x, times, state, monkeypatch):
    """Outputs, final state and every gradient, from the native kernel and from the pure-torch recurrence."""
    weights = None
    results = []
    for enabled in ("1", "0"):
        monkeypatch.setenv("RNNBENCH_NATIVE", enabled)
        model.zero_grad()
        h0, c0 = (s.clone().requires_grad_() for s in state)
        outputs, (h, c) = model(x, (h0, c0), times=times)
        if weights is None:
            weights = [torch.randn_like(t) for t in (outputs, h, c)]
        loss = sum((w * t).sum() for w, t in zip(weights, (outputs, h, c), strict=True))
        loss.backward()
        results.append([outputs.detach(), h.detach(), c.detach(), h0.grad, c0.grad,
                        *(p.grad for p in model.parameters())])
    return results


@pytest.mark.parametrize("peepholes", [True, False])
@pytest.mark.parametrize("shared_times", [True, False])
def test_native_phased_lstm_matches_torch_path(peepholes, shared_times, monkeypatch):
    torch.manual_seed(0)
    model = PhasedLSTM(3, 6, peepholes=peepholes, open_ratio=0.4, leak=0.05, period_init_low=0.5,
                       period_init_high=1.5, shift_max=3.0).double()
    x = torch.randn(4, 11, 3, dtype=torch.float64)
    times = torch.cumsum(torch.rand(4, 11, dtype=torch.float64), 1)
    times = times[:1].expand(4, 11) if shared_times else times
    state = (torch.randn(4, 6, dtype=torch.float64), torch.randn(4, 6, dtype=torch.float64))
    native_results, torch_results = run_both_paths(model, x, times, state, monkeypatch)
    names = ["outputs", "h", "c", "grad h0", "grad c0", *(f"grad {n}" for n, _ in model.named_parameters())]
    for name, a, b in zip(names, native_results, torch_results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-12, msg=name)


def test_native_phased_lstm_float32_is_close(monkeypatch):
    """float32 runs the vectorised exp/tanh (built with -ffast-math): close to torch's, not bit-equal."""
    torch.manual_seed(1)
    model = PhasedLSTM(2, 16)
    x = torch.randn(5, 40, 2)
    state = (torch.zeros(5, 16), torch.zeros(5, 16))
    native_results, torch_results = run_both_paths(model, x, None, state, monkeypatch)
    for a, b in zip(native_results, torch_results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_native_phased_lstm_float32_survives_saturated_gates(monkeypatch):
    """A peephole LSTM fed a large constant input for 600 steps: the cell grows by ~1 per step, so the peephole
    terms p·c drive gate pre-activations far past float32's exp overflow (|x| > 88). σ must saturate to 0 or 1,
    as in the torch path, not turn NaN (the frequency task's high-resolution sampling: 1250 steps, raw t input)."""
    torch.manual_seed(2)
    model = PhasedLSTM(1, 8, time_gate=False)
    with torch.no_grad():
        model.peepholes.fill_(0.5)
        model.peepholes[1].fill_(5.0)                               # forget gate stays open: c accumulates
    x = torch.full((3, 600, 1), 50.0)
    state = (torch.zeros(3, 8), torch.zeros(3, 8))
    native_results, torch_results = run_both_paths(model, x, None, state, monkeypatch)
    assert native_results[2].abs().max() > 200                     # c grew: p·c is far beyond ±88
    for a, b in zip(native_results, torch_results, strict=True):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_reuse_freed_memory_takes_effect_on_glibc():
    import platform
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's")
    assert reuse_freed_memory()
