"""Sizes at a parameter budget (rnnbench.report.sizing)."""

import torch

from rnnbench.experiment import build
from rnnbench.report.sizing import network_count, size_for_budget

from conftest import compose_config


def test_the_width_closest_to_the_budget_among_the_allowed_sizes():
    def count(h):
        return h * h + 10 * h                        # 8: 144, 16: 416, 24: 816, 32: 1344
    assert size_for_budget(count, 800) == (24, 816)
    assert size_for_budget(count, 1000) == (24, 816)          # |816 - 1000| < |1344 - 1000|
    assert size_for_budget(count, 1) == (8, 144)                 # never below the smallest size
    assert size_for_budget(count, 10**9, largest=64) == (64, 4736)
    assert size_for_budget(lambda h: h, 12, multiple_of=8) == (8, 8)   # a tie goes to the smaller size


def test_network_count_is_the_whole_network_on_the_task():
    """RNN on the copy task (10 input symbols, 9 outputs): input projection with bias, recurrent matrix, head."""
    cfg = compose_config(["model=rnn", "task=copy", "~paper"])
    task = build(cfg.task, "task", device=torch.device("cpu"), seed=0)
    hidden = 128
    assert network_count(cfg.model, task, hidden) == 10 * hidden + hidden + hidden * hidden + hidden * 9 + 9
    size, count = size_for_budget(lambda h: network_count(cfg.model, task, h), 18953)
    assert (size, count) == (128, 18953)
