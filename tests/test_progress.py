"""The projected wall time counts the evaluations, changes nothing in the run, and says how to shorten a long one."""

import torch

from rnnbench.progress import LONG_RUN_S, WallTimeProjection, long_run_advice
from rnnbench.train import Trainer, TrainerConfig

from conftest import compose_config


def test_long_cpu_runs_and_evaluation_bound_smoke_runs_get_one_line_of_advice():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    advice = long_run_advice(2 * LONG_RUN_S, 60.0, 2 * LONG_RUN_S - 60, cpu)
    assert advice.startswith("note: ≈ 120 min on this CPU") and "\n" not in advice
    for choice in ("trainer.max_steps", "+experiment=<table>/cpu", "trainer.eval_max_batches", "device=cuda",
                   "hydra/launcher=slurm"):
        assert choice in advice
    assert "outweigh training" in long_run_advice(700.0, 660.0, 40.0, cpu)
    assert long_run_advice(600.0, 60.0, 540.0, cpu) is None and long_run_advice(1e6, 0, 1e6, cuda) is None


def test_the_projection_includes_the_estimated_evaluations(capsys):
    projection = WallTimeProjection(0, 1000, 100, 2, torch.device("cpu"), lambda: 30.0)
    for step in range(1, 4):
        projection.after_step(step)
    line = capsys.readouterr().out
    assert "one evaluation ≈ 30.0 s" in line and "997 steps and 10 evaluations to go" in line


def test_the_evaluation_estimate_leaves_the_random_generators_as_they_were():
    """A model drawing its initial state at random (the MNIST script's) consumes the global generator while it
    evaluates; the estimate restores it, so a run's training is the same with or without the projection."""
    from hydra.utils import instantiate
    cfg = compose_config(["model=lstm", "task=copy", "task.T=5", "task.eval_size=20", "task.eval_batch_size=10",
                          "model.hidden_size=4", "model.initial_state_std=0.1", "~paper"])
    task = instantiate(cfg.task)
    net = task.network(instantiate(cfg.model, input_size=task.input_size))
    trainer = Trainer(TrainerConfig(), "unused")
    before = torch.get_rng_state()
    assert trainer._evaluation_estimate(net, task, torch.device("cpu")) > 0
    assert torch.equal(torch.get_rng_state(), before)
