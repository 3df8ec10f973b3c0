"""Frequency discrimination (Neil et al. 2016, Phased LSTM, section 3.1, "Frequency discrimination task").

Each example is a sine wave x(t) = sin(2π t / p − shift) observed over a duration d ~ U(``min_duration``,
``max_duration``) = U(15, 125) ms from a start time t₀, with shift ~ U(0, 2π) (any phase) and period p in ms:
half of every batch (the first ⌈n/2⌉ examples) draws p ~ exp(U(ln 1, ln 100)), the other half p ~ U(5, 6).
Label: 1 iff 5 ≤ p ≤ 6 (two classes, cross-entropy, read out at the last real step). Samplings (``sampling``):

- ``standard``: t = t₀, t₀ + 1, t₀ + 2, … ms (⌈d⌉ steps);
- ``high_res``: t = t₀, t₀ + 0.1, … ms (⌈10 d⌉ steps, up to 1250);
- ``async``: n times drawn uniformly in [t₀, t₀ + d) and sorted; ``async_points="independent"`` (the authors'
  code) draws n = ⌊U(15, 125)⌋ independently of d, ``"duration"`` uses n = ⌈d⌉ (the expected rate of standard).

``start_time="random"`` (the authors' freq_task.py) draws t₀ ~ U(0, ``max_duration`` − d), so every example
ends by ``max_duration``; ``"zero"`` starts every example at t₀ = 0. The authors draw the phase shift from
U(0, d) radians; U(0, 2π) gives the same phase distribution up to the wrap-around.
Sequences are padded at the END to the longest possible length (x = 0; padded steps repeat the last real
timestamp); ``Batch.lengths`` holds the real lengths and the readout takes the last real step, so padding
(which only follows it) cannot change a prediction (the authors pad at the front and mask: the same outputs).
``Batch.times`` [B, T] holds the timestamps in ms for time-aware models; ``time_input=true`` also appends
t · ``time_input_scale`` as a second input channel, for models that ignore timestamps (the paper's LSTM
baseline; the authors feed the raw t, scale 1). ``head="authors"``: the readout is the authors' dense layer
with a leaky ReLU (slope 0.01, Glorot-uniform weights, zero bias) before the softmax; ``"linear"``: a plain
linear readout.
One epoch = ``examples_per_epoch`` (5000) fresh examples; the val and test sets (``eval_size`` = 500 each)
are fixed.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import nn

from rnnbench.config_checks import positive_float, positive_int, require, require_choice
from rnnbench.tasks.base import Batch, GeneratedTask, SequenceClassification, SequenceNetwork

SAMPLINGS = {"standard": 1.0, "high_res": 10.0, "async": 1.0}   # samples per ms
PERIOD_RANGE = (1.0, 100.0)                                      # ms, log-uniform
TARGET_BAND = (5.0, 6.0)                                         # ms: label 1
ASYNC_POINTS = {"independent": (15, 125), "duration": None}     # n ~ ⌊U(15, 125)⌋, or ⌈d⌉
START_TIMES = ("random", "zero")
HEADS = ("authors", "linear")


class FrequencyTask(SequenceClassification, GeneratedTask):
    name = "frequency"
    output_size = 2

    def __init__(self, sampling: str = "standard", time_input: bool = False, time_input_scale: float = 1.0,
                 start_time: str = "random", async_points: str = "independent", head: str = "authors",
                 min_duration: float = 15.0, max_duration: float = 125.0, examples_per_epoch: int = 5000,
                 epochs: int = 70, batch_size: int = 32, **kwargs):
        require_choice("sampling", sampling, SAMPLINGS)
        require(isinstance(time_input, bool), "time_input", time_input, "true or false")
        positive_float("time_input_scale", time_input_scale)
        require_choice("start_time", start_time, START_TIMES)
        require_choice("async_points", async_points, ASYNC_POINTS)
        require_choice("head", head, HEADS)
        positive_float("min_duration", min_duration)
        require(isinstance(max_duration, (int, float)) and max_duration >= min_duration, "max_duration",
                max_duration, f"a number >= min_duration={min_duration}")
        positive_int("examples_per_epoch", examples_per_epoch)
        positive_int("batch_size", batch_size)
        super().__init__(batch_size=batch_size, epochs=epochs,
                         steps_per_epoch=math.ceil(examples_per_epoch / batch_size), **kwargs)
        self.sampling, self.time_input, self.time_input_scale = sampling, time_input, time_input_scale
        self.start_time, self.async_points, self.head = start_time, ASYNC_POINTS[async_points], head
        require(head == "linear" or self.head_init == "default", "head_init", self.head_init,
                "default with head=authors (its dense layer has its own init)")
        self.min_duration, self.max_duration = float(min_duration), float(max_duration)
        self.rate = SAMPLINGS[sampling]
        self.max_length = math.ceil(self.max_duration * self.rate)
        if sampling == "async" and self.async_points is not None:
            self.max_length = self.async_points[1]
        self.input_size = 2 if time_input else 1
        self.constants = {"baseline_accuracy": 0.5}

    def network(self, core: nn.Module) -> SequenceNetwork:
        if self.head == "linear":
            return super().network(core)
        dense = nn.Linear(core.hidden_size, self.output_size)
        nn.init.xavier_uniform_(dense.weight)
        nn.init.zeros_(dense.bias)
        return SequenceNetwork(core, nn.Sequential(dense, nn.LeakyReLU(0.01)), self.readout)

    def generate(self, n: int, generator: torch.Generator) -> Batch:
        return self.render(*self.draw(n, generator), generator)

    def draw(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        """Period (ms), phase shift, duration (ms) and start time (ms) of ``n`` examples, the in-band half last."""
        uniform = functools.partial(torch.rand, generator=generator, device=self.device)
        in_band = torch.arange(n, device=self.device) >= n - n // 2
        log_low, log_high = math.log(PERIOD_RANGE[0]), math.log(PERIOD_RANGE[1])
        wide = torch.exp(log_low + (log_high - log_low) * uniform(n))
        band = TARGET_BAND[0] + (TARGET_BAND[1] - TARGET_BAND[0]) * uniform(n)
        shift = 2 * math.pi * uniform(n)
        duration = self.min_duration + (self.max_duration - self.min_duration) * uniform(n)
        start = (self.max_duration - duration) * (uniform(n) if self.start_time == "random" else 0.0)
        return torch.where(in_band, band, wide), shift, duration, start

    def render(self, period: torch.Tensor, shift: torch.Tensor, duration: torch.Tensor, start: torch.Tensor,
               generator: torch.Generator) -> Batch:
        """The padded batch of sampled sines (``generator`` draws the asynchronous sampling times)."""
        n, L, device = period.shape[0], self.max_length, self.device
        labels = ((period >= TARGET_BAND[0]) & (period <= TARGET_BAND[1])).long()
        if self.sampling == "async" and self.async_points is not None:
            low, high = self.async_points
            lengths = (low + (high - low) * torch.rand(n, generator=generator, device=device)).long()
        else:
            lengths = torch.ceil(duration * self.rate).long()
        lengths = lengths.clamp(1, L)
        real = torch.arange(L, device=device) < lengths.unsqueeze(1)
        if self.sampling == "async":
            draws = torch.where(real, torch.rand(n, L, generator=generator, device=device),
                                torch.ones(n, L, device=device))
            offsets = draws.sort(1).values * duration.unsqueeze(1)       # padded steps: t₀ + d
        else:
            grid = torch.arange(L, device=device, dtype=torch.float32) / self.rate
            offsets = torch.minimum(grid, ((lengths - 1) / self.rate).unsqueeze(1))   # padded steps: last real t
        times = start.unsqueeze(1) + offsets
        signal = torch.sin(2 * math.pi * times / period.unsqueeze(1) - shift.unsqueeze(1))
        channels = [torch.where(real, signal, torch.zeros_like(signal))]
        if self.time_input:
            channels.append(times * self.time_input_scale)
        return Batch(torch.stack(channels, -1), labels, times=times, lengths=lengths)
