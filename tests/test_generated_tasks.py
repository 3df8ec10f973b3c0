"""Copy and adding generators against their definitions."""

import math

import pytest
import torch
import torch.nn.functional as F

from rnnbench.tasks.adding import BASELINE_MSE, AddingTask
from rnnbench.tasks.copy import CUE, CopyTask, copy_baseline


def test_copy_layout():
    T = 7
    task = CopyTask(T=T, batch_size=5)
    batch = task.train_batch(0)
    ids = batch.inputs.argmax(-1)
    assert batch.inputs.shape == (5, T + 20, 10) and batch.targets.shape == (5, T + 20)
    assert torch.all(batch.inputs.sum(-1) == 1)                 # one-hot
    symbols = ids[:, :10]
    assert symbols.min() >= 1 and symbols.max() <= 8
    assert torch.all(ids[:, 10:T + 9] == 0)                      # T - 1 blanks
    assert torch.all(ids[:, T + 9] == CUE)                       # the cue
    assert torch.all(ids[:, T + 10:] == 0)                       # 10 blanks while recalling
    assert torch.all(batch.targets[:, :T + 10] == 0)
    assert torch.equal(batch.targets[:, T + 10:], symbols)


def test_copy_baseline_matches_empirical_memoryless_predictor():
    """The best input-independent predictor (per-position class frequencies) scores 10 ln 8 / (T + 20)."""
    T = 30
    task = CopyTask(T=T, eval_size=20000)
    targets = torch.cat([b.targets for b in task.eval_batches("val")])
    freq = F.one_hot(targets, 9).float().mean(0)                 # [T+20, 9] empirical per-position
    empirical = -(freq * torch.log(freq.clamp_min(1e-12))).sum(-1).mean().item()
    assert empirical == pytest.approx(copy_baseline(T), rel=2e-3)
    assert copy_baseline(T) == pytest.approx(10 * math.log(8) / (T + 20))


def test_copy_metrics_on_perfect_prediction():
    task = CopyTask(T=5, batch_size=4)
    batch = task.train_batch(3)
    logits = F.one_hot(batch.targets, 9).float() * 50
    metrics = task.metrics(logits, batch)
    assert metrics["accuracy"][0].item() == metrics["accuracy"][1] == 40
    assert metrics["loss"][0].item() / metrics["loss"][1] < 1e-6


def test_adding_layout_and_baseline():
    T = 50
    task = AddingTask(T=T, eval_size=20000)
    batch = task.eval_batches("test")[0]
    values, markers = batch.inputs[..., 0], batch.inputs[..., 1]
    assert batch.inputs.shape == (1000, T, 2)
    assert torch.all(markers.sum(1) == 2)
    assert torch.all(markers[:, : T // 2].sum(1) == 1) and torch.all(markers[:, T // 2:].sum(1) == 1)
    assert torch.allclose((values * markers).sum(1, keepdim=True), batch.targets)
    assert values.min() >= 0 and values.max() < 1
    targets = torch.cat([b.targets for b in task.eval_batches("test")])
    empirical = ((targets - 1) ** 2).mean().item()
    assert empirical == pytest.approx(BASELINE_MSE, rel=0.03)


@pytest.mark.parametrize("task_class", [CopyTask, AddingTask])
def test_batches_are_seeded_and_splits_differ(task_class):
    a, b, other = task_class(T=10, seed=0), task_class(T=10, seed=0), task_class(T=10, seed=1)
    assert torch.equal(a.train_batch(5).inputs, b.train_batch(5).inputs)
    assert not torch.equal(a.train_batch(5).inputs, a.train_batch(6).inputs)
    assert not torch.equal(a.train_batch(5).inputs, other.train_batch(5).inputs)
    val, test = a.eval_batches("val")[0].inputs, a.eval_batches("test")[0].inputs
    assert not torch.equal(val, test)
    assert torch.equal(val, other.eval_batches("val")[0].inputs)   # fixed across run seeds
    train = a.train_batch(0).inputs
    assert not any(torch.equal(train[i], val[j]) for i in range(len(train)) for j in range(50))
