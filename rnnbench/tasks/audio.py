"""Audio sequence generation (Koutník et al. 2014, Clockwork RNN, section 4.2; the seed README's reproduction).

The network receives no input (one channel of zeros) and must generate ``length`` consecutive samples of a
WAV file (resampled to ``sample_rate`` if set, anti-aliased: 22050 gives the reproduction's rate, so a window of
320 samples spans the same 14.5 ms), starting at sample ``offset``, scaled to [−1, 1]: ``scaling="minmax"`` (the
reproduction's parse_wav.py: target = 2 (a − min a) / (max a − min a) − 1 over the window) or ``"peak"``
(target = a / max|a|).
Output head: y_t = tanh(W_O h_t + b_o) (the paper's generation set-up), W_O ~ N(0, ``head_weight_std``²) and
b_o = 0 (0.1 in the reproduction; null: torch's default init). Loss: MSE over every step. The record's constants
hold ``target_variance`` (MSE / var(target) compares runs across clips) and ``baseline_mse`` (predicting 0).
One sequence, full batch: every training step sees the same sequence (batch of 1; an epoch is one step).
This is a fitting task: "val" and "test" evaluate the same sequence as training (in eval mode).

WAV files are read with scipy.io.wavfile: integer samples are scaled by their type's full range, stereo is
averaged to mono. ``path``: a WAV file, or the bare name of a packaged clip in ``rnnbench/data/`` (see its
README.md for attributions): ``vibe_ace_1s_44k.wav`` (44.1 kHz, the default) or ``vibe_ace_14s_22k.wav``
(22.05 kHz, whose window at offset 21890 is the one closest to the reproduction's bad_taste.wav window).
After training, :meth:`AudioTask.report` saves a plot of target vs generated signal (``generation.png``) in the run
directory.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnnbench.config_checks import ConfigError, positive_float, positive_int, require, require_choice
from rnnbench.tasks.base import Batch, SequenceNetwork, Task

PACKAGED = Path(__file__).resolve().parents[1] / "data"
DEFAULT_WAV = PACKAGED / "vibe_ace_1s_44k.wav"
SCALINGS = ("minmax", "peak")


def load_wav(path: str | Path) -> tuple[int, np.ndarray]:
    """``(sample_rate, mono float64 samples in [−1, 1])``; ConfigError (field ``path``) if not a WAV file."""
    from scipy.io import wavfile

    path = Path(path)
    if not path.is_file():
        raise ConfigError("path", str(path), "an existing WAV file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", wavfile.WavFileWarning)
            rate, data = wavfile.read(path)
    except (ValueError, EOFError, OSError) as error:
        raise ConfigError("path", str(path), f"a readable WAV file ({error})") from None
    if np.issubdtype(data.dtype, np.integer):
        info = np.iinfo(data.dtype)
        middle = (int(info.max) + int(info.min) + 1) / 2            # 128 for uint8, 0 for signed types
        samples = (data.astype(np.float64) - middle) / (int(info.max) + 1 - middle)
    else:
        samples = data.astype(np.float64)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    return rate, samples


def window_statistics(target: np.ndarray, sample_rate: int) -> dict:
    """What makes two clips' windows comparable (recorded in each run's constants): ``target_variance`` (MSE /
    var compares runs across clips), ``zero_crossings`` (sign changes of the mean-removed target) and
    ``spectral_centroid_hz`` (Σ f |X(f)| / Σ |X(f)| over the rfft of the mean-removed target, no window
    function)."""
    target = np.asarray(target, dtype=np.float64)
    centred = target - target.mean()
    magnitude = np.abs(np.fft.rfft(centred))
    frequency = np.fft.rfftfreq(len(target), 1.0 / sample_rate)
    return {"target_variance": float(target.var()),
            "zero_crossings": int(np.count_nonzero(np.signbit(centred[1:]) != np.signbit(centred[:-1]))),
            "spectral_centroid_hz": float((frequency * magnitude).sum() / magnitude.sum())}


def clip_path(path: str | None) -> Path:
    """The WAV file ``path`` names: the default clip for None, a packaged clip for a bare name found in
    rnnbench/data/ (and not in the working directory), else the path itself."""
    if path is None:
        return DEFAULT_WAV
    given = Path(path)
    if given.name == str(path) and not given.exists() and (PACKAGED / given.name).is_file():
        return PACKAGED / given.name
    return given


class AudioTask(Task):
    head_inits = ("default",)             # its own head (head_weight_std)
    name = "audio"
    input_size = 1
    output_size = 1
    readout = "every"

    def __init__(self, path: str | None = None, sample_rate: int | None = None, offset: int = 0, length: int = 320,
                 scaling: str = "minmax", head_weight_std: float | None = 0.1, epochs: int = 1000, **kwargs):
        super().__init__(batch_size=1, epochs=epochs, steps_per_epoch=1, **kwargs)
        positive_int("length", length)
        require(isinstance(offset, int) and offset >= 0, "offset", offset, "a non-negative integer")
        require_choice("scaling", scaling, SCALINGS)
        if head_weight_std is not None:
            positive_float("head_weight_std", head_weight_std)
        self.head_weight_std = head_weight_std
        self.path = clip_path(path)
        self.sample_rate, samples = load_wav(self.path)
        if sample_rate is not None and sample_rate != self.sample_rate:
            positive_int("sample_rate", sample_rate)
            from scipy.signal import resample_poly
            divisor = math.gcd(sample_rate, self.sample_rate)
            samples = resample_poly(samples, sample_rate // divisor, self.sample_rate // divisor)
            self.sample_rate = sample_rate
        require(offset + length <= len(samples), "length", length,
                f"offset + length <= the file's {len(samples)} samples (offset={offset})")
        window = samples[offset:offset + length]
        low, high = window.min(), window.max()
        require(high > low, "offset", offset, "a window that is not constant")
        scaled = 2 * (window - low) / (high - low) - 1 if scaling == "minmax" else window / np.abs(window).max()
        target = torch.tensor(scaled, dtype=torch.float32, device=self.device)
        self.sequence = Batch(torch.zeros(1, length, 1, device=self.device), target.unsqueeze(0))
        self.constants = {"baseline_mse": float(target.square().mean()),   # predicting silence
                          **window_statistics(scaled, self.sample_rate)}

    def network(self, core: nn.Module) -> SequenceNetwork:
        linear = nn.Linear(core.hidden_size, self.output_size)
        if self.head_weight_std is not None:
            nn.init.normal_(linear.weight, 0.0, self.head_weight_std)
            nn.init.zeros_(linear.bias)
        return SequenceNetwork(core, nn.Sequential(linear, nn.Tanh()), self.readout)

    def train_batch(self, step: int) -> Batch:
        return self.sequence

    def eval_batches(self, split: str) -> list[Batch]:
        return [self.sequence]

    def criterion(self, outputs, batch, reduction):
        return F.mse_loss(outputs[..., 0], batch.targets, reduction=reduction)

    def metrics(self, outputs, batch):
        squared_error = self.criterion(outputs, batch, "sum")
        return {"loss": (squared_error, batch.targets.numel()), "mse": (squared_error, batch.targets.numel())}

    @torch.no_grad()
    def generate(self, net: nn.Module) -> np.ndarray:
        """The network's output signal ``[length]`` (eval mode)."""
        was_training = net.training
        net.eval()
        outputs, _ = net(self.sequence)
        net.train(was_training)
        return outputs[0, :, 0].cpu().numpy()

    def report(self, net: nn.Module, run_dir) -> dict[str, str]:
        """Plot target vs generated signal into ``run_dir/generation.png``."""
        from matplotlib.figure import Figure

        generated, target = self.generate(net), self.sequence.targets[0].cpu().numpy()
        mse = float(np.mean((generated - target) ** 2))
        figure = Figure(figsize=(8, 3), layout="tight")
        axes = figure.add_subplot()
        axes.plot(target, label="target", color="black", linewidth=1.5)
        axes.plot(generated, label="generated", color="tab:red", linewidth=1.0)
        axes.set(xlabel="step", ylabel="amplitude", title=f"{self.path.name}: MSE {mse:.3g}")
        axes.legend(loc="upper right")
        path = Path(run_dir) / "generation.png"
        figure.savefig(path, dpi=120)
        return {"generation_plot": str(path)}
