"""Clockwork RNN (Koutník et al. 2014) and the audio-generation task it is trained on."""

import json
from functools import partial

import numpy as np
import pytest
import torch
from scipy.io import wavfile

from rnnbench.config_checks import ConfigError
from rnnbench.experiment import build
from rnnbench.models.cwrnn import ClockworkRNN
from rnnbench.optim import Optimization
from rnnbench.tasks.audio import AudioTask, load_wav

from conftest import TINY, compose_config, run_inprocess, run_main


def module_slices(model):
    return [slice(a, b) for a, b in zip(model.module_offsets, model.module_offsets[1:], strict=False)]



# --- Clockwork RNN ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("periods", [[1, 2, 4], [1, 2, 3]])     # prefix schedule; per-step mask fallback
def test_cwrnn_inactive_modules_copy_their_state(periods):
    torch.manual_seed(0)
    model = ClockworkRNN(2, 6, clock_periods=periods)
    outputs, _ = model(torch.randn(3, 13, 2), torch.randn(3, 6))
    for t in range(1, 13):
        for period, rows in zip(periods, module_slices(model), strict=True):
            same = torch.equal(outputs[:, t, rows], outputs[:, t - 1, rows])
            assert same == (t % period != 0), (t, period)


def test_cwrnn_fast_modules_never_reach_slower_ones():
    torch.manual_seed(0)
    model = ClockworkRNN(1, 8, clock_periods=[1, 2, 4, 8], init_std=0.5)
    x, h0 = torch.randn(2, 20, 1), torch.randn(2, 8)
    for module in range(3):
        perturbed = h0.clone()
        perturbed[:, module_slices(model)[module]] += 1.0
        base, changed = model(x, h0)[0], model(x, perturbed)[0]
        slower = slice(model.module_offsets[module + 1], 8)
        assert torch.equal(base[:, :, slower], changed[:, :, slower])
        assert not torch.equal(base[:, :, module_slices(model)[module]], changed[:, :, module_slices(model)[module]])


def test_cwrnn_block_structure_survives_optimiser_steps():
    torch.manual_seed(0)
    model = ClockworkRNN(1, 6, clock_periods=[1, 2, 4])
    optimization = Optimization(model, partial(torch.optim.SGD, lr=0.5, momentum=0.9, weight_decay=0.1))
    x = torch.randn(4, 9, 1)
    for _ in range(5):
        outputs, _ = model(x)
        outputs.square().sum().backward()
        optimization.step(model)
    W = model.recurrent_matrix().detach()
    for i, rows in enumerate(module_slices(model)):
        for j, cols in enumerate(module_slices(model)):
            assert (W[rows, cols].abs().sum() == 0) == (j < i), (i, j)
    # the trained model still keeps slow modules independent of fast ones
    h0 = torch.randn(4, 6)
    perturbed = h0.clone()
    perturbed[:, :2] += 1.0
    assert torch.equal(model(x, h0)[0][:, :, 2:], model(x, perturbed)[0][:, :, 2:])


def dense_reference(model, x, h0):
    """A plain numpy loop with the full W_H, an explicit block mask and per-module activity."""
    blocks = module_slices(model)
    H = model.hidden_size
    W_full = np.zeros((H, H))
    mask = np.zeros((H, H))
    for i, rows in enumerate(blocks):
        W_full[rows, model.module_offsets[i]:] = model.recurrent_blocks[i].detach().double().numpy()
        mask[rows, model.module_offsets[i]:] = 1.0
    W_I = model.input_proj.weight.detach().double().numpy()
    b = model.input_proj.bias.detach().double().numpy()
    h, outputs = h0.double().numpy().copy(), []
    for t in range(x.shape[1]):
        proposal = np.tanh(h @ (W_full * mask).T + x[:, t].double().numpy() @ W_I.T + b)
        for period, rows in zip(model.clock_periods, blocks, strict=True):
            if t % period == 0:
                h[:, rows] = proposal[:, rows]
        outputs.append(h.copy())
    return np.stack(outputs, 1)


@pytest.mark.parametrize("kwargs", [dict(clock_periods=[1, 2, 4]), dict(clock_periods=[1, 3, 5]),
                                    dict(clock_periods=[1, 2, 4], module_sizes=[1, 2, 3])])
def test_cwrnn_matches_dense_reference(kwargs):
    torch.manual_seed(1)
    model = ClockworkRNN(2, 6, init_std=0.5, **kwargs).double()
    with torch.no_grad():
        model.input_proj.bias.normal_()
    x, h0 = torch.randn(3, 11, 2).double(), torch.randn(3, 6).double()
    outputs, final = model(x, h0)
    np.testing.assert_allclose(outputs.detach().numpy(), dense_reference(model, x, h0), atol=1e-12)
    assert torch.equal(final, outputs[:, -1])


def autograd_cwrnn(model, x, h0):
    """The CW-RNN equations with autograd: full W_H (zero blocks below the diagonal), per-module activity."""
    W, u, h, outputs = model.recurrent_matrix(), model.input_proj(x), h0, []
    blocks = module_slices(model)
    for t in range(x.shape[1]):
        proposal = torch.tanh(u[:, t] + h @ W.T)
        active = torch.zeros(model.hidden_size, dtype=torch.bool)
        for period, rows in zip(model.clock_periods, blocks, strict=True):
            active[rows] = t % period == 0
        h = torch.where(active, proposal, h)
        outputs.append(h)
    return torch.stack(outputs, 1), h


@pytest.mark.parametrize("kwargs", [dict(clock_periods=[1, 2, 4]), dict(clock_periods=[1, 3, 5]),
                                    dict(clock_periods=[1, 2, 4], module_sizes=[1, 2, 3])])
def test_cwrnn_backward_matches_autograd(kwargs):
    torch.manual_seed(2)
    model = ClockworkRNN(2, 6, init_std=0.5, **kwargs).double()
    x = torch.randn(3, 11, 2, dtype=torch.float64)
    h0 = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    inputs, weights = [h0, *model.parameters()], torch.randn(3, 11, 6, dtype=torch.float64)
    ours = torch.autograd.grad((model(x, h0)[0] * weights).sum() + model(x, h0)[1].sum(), inputs)
    out, last = autograd_cwrnn(model, x, h0)
    reference = torch.autograd.grad((out * weights).sum() + last.sum(), inputs)
    for name, a, b in zip(["h0", *(n for n, _ in model.named_parameters())], ours, reference, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=f"gradient of {name}")


# --- audio task -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype, channels", [(np.int16, 1), (np.int16, 2), (np.float32, 1), (np.float32, 2)])
def test_audio_loader_scales_to_unit_range(tmp_path, dtype, channels):
    wave = 0.4 * np.sin(np.linspace(0, 20, 400))
    samples = np.stack([wave, 0.5 * wave], 1) if channels == 2 else wave
    data = (samples * 32767).astype(np.int16) if dtype == np.int16 else samples.astype(np.float32)
    path = tmp_path / "tone.wav"
    wavfile.write(path, 8000, data)
    rate, mono = load_wav(path)
    expected = wave * (0.75 if channels == 2 else 1.0)
    assert rate == 8000 and mono.shape == (400,)
    np.testing.assert_allclose(mono, expected, atol=1e-4)
    task = AudioTask(path=str(path), offset=50, length=100, scaling="peak")
    target = task.train_batch(0).targets[0].numpy()
    assert abs(np.abs(target).max() - 1.0) < 1e-6
    np.testing.assert_allclose(target, expected[50:150] / np.abs(expected[50:150]).max(), atol=1e-3)
    window = expected[50:150]                              # the reproduction's parse_wav.py: min–max to [−1, 1]
    minmax = AudioTask(path=str(path), offset=50, length=100).train_batch(0).targets[0].numpy()
    np.testing.assert_allclose(minmax, 2 * (window - window.min()) / (window.max() - window.min()) - 1, atol=1e-3)
    assert minmax.min() == -1.0 and abs(minmax.max() - 1.0) < 1e-6
    assert AudioTask(path=str(path), offset=50, length=100).constants["target_variance"] == \
        pytest.approx(minmax.var(), rel=1e-5)
    slower = AudioTask(path=str(path), sample_rate=4000, length=100)             # half the rate: twice the span
    assert slower.sample_rate == 4000
    np.testing.assert_allclose(slower.train_batch(0).targets[0].numpy()[10:40],
                               AudioTask(path=str(path), length=200, scaling="minmax").train_batch(0)
                               .targets[0].numpy()[20:80:2], atol=0.05)
    assert task.train_batch(3) is task.train_batch(0) and task.eval_batches("test")[0] is task.train_batch(0)
    assert torch.equal(task.train_batch(0).inputs, torch.zeros(1, 100, 1))


def test_audio_run_records_its_plot(tmp_path):
    code, record = run_inprocess(tmp_path, ["model=cwrnn", "task=audio", "task.length=40", "model.hidden_size=9",
                                            *TINY])
    assert code == 0 and record["status"] == "completed", record.get("error")
    assert record["params"] == 9 + 9 + 45 + 10        # W_I, b, 9·10/2 blocks of 1×1, output head
    assert record["config"]["optimizer"]["_target_"] == "rnnbench.tf_rmsprop.TFRMSprop"   # the paper preset applied
    plot = tmp_path / "generation.png"
    assert record["artifacts"] == {"generation_plot": str(plot)} and plot.stat().st_size > 1000


# --- bad input ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("overrides, needle", [
    (["model=cwrnn", "model.hidden_size=10", "model.num_modules=3"], "model.hidden_size=10"),
    (["model=cwrnn", "model.num_modules=null", "model.hidden_size=3", "model.clock_periods=[1,4,2]"],
     "model.clock_periods=[1, 4, 2]"),
])
def test_bad_model_config(overrides, needle):
    cfg = compose_config(overrides)
    with pytest.raises(ConfigError) as error:
        build(cfg.model, "model", input_size=1)
    assert needle in str(error.value) and "\n" not in str(error.value)


def test_bad_audio_files(tmp_path):
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("not a wav file")
    short = tmp_path / "short.wav"
    wavfile.write(short, 8000, np.ones(100, dtype=np.int16))
    for kwargs, needle in [(dict(path=str(tmp_path / "missing.wav")), "an existing WAV file"),
                           (dict(path=str(not_audio)), "a readable WAV file"),
                           (dict(path=str(short), length=101), "length=101"),
                           (dict(path=str(short), offset=50, length=60), "offset=50")]:
        with pytest.raises(ConfigError, match=needle) as error:
            AudioTask(**kwargs)
        assert "\n" not in str(error.value)


@pytest.mark.parametrize("args, needle", [
    (["model=cwrnn", "model.hidden_size=10", "model.num_modules=3"], "model.hidden_size=10 is invalid"),
    (["task=audio", "task.path=/nonexistent/tone.wav"], "task.path='/nonexistent/tone.wav' is invalid"),
])
def test_bad_input_one_line_error_cli(tmp_path, monkeypatch, args, needle):
    result = run_main([*args, *TINY, f"hydra.run.dir={tmp_path}"], monkeypatch)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "failed"
