"""The runner end to end: composition, records, seeding, sweeps, divergence and bad input."""

import json
from pathlib import Path

import pytest
import torch

from rnnbench.preflight import group_options

from conftest import CONF, TINY, compose_config, run_cli, run_inprocess, run_main

MODELS = group_options(CONF, "model")
TASKS = ["copy", "adding"]


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("model", MODELS)
def test_every_model_trains_on_every_task(tmp_path, model, task):
    code, record = run_inprocess(tmp_path, [f"model={model}", f"task={task}", "model.hidden_size=8",
                                            "task.T=6", "task.eval_size=20", *TINY])
    assert code == 0 and record["status"] == "completed", record.get("error")
    assert record["model"] == model and record["task"] == task and record["steps"] == 4
    assert record["params"] > 0 and record["best"]["step"] in (2, 4)
    assert {"val/loss", "test/loss"} <= set(record["metrics"])
    assert all(isinstance(v, float) for v in record["metrics"].values())
    for key in ("seed", "wall_s", "device", "config", "versions"):
        assert key in record
    curves = (tmp_path / "metrics.csv").read_text().splitlines()
    assert curves[0].startswith("step,train/loss") and [c.split(",")[0] for c in curves[1:]] == ["1", "2", "4"]


def _metrics(tmp_path, name, seed):
    code, record = run_inprocess(tmp_path / name, ["model=rnn", "model.hidden_size=8", "task.T=5",
                                                   "task.eval_size=20", f"seed={seed}", *TINY])
    assert code == 0
    return record


def test_same_seed_same_metrics_other_seed_different(tmp_path):
    a, b, c = _metrics(tmp_path, "a", 0), _metrics(tmp_path, "b", 0), _metrics(tmp_path, "c", 1)
    assert a["metrics"] == b["metrics"]
    assert a["metrics"] != c["metrics"]


def test_seed_zero_is_honoured(tmp_path):
    """Seed 0 must seed torch with 0 (not be skipped as falsy): the model's init must equal a manual one."""
    from rnnbench.experiment import build, seed_everything
    cfg = compose_config(["model=rnn", "model.hidden_size=8", "seed=0"])
    seed_everything(0)
    first = build(cfg.model, "model", input_size=10).recurrent.detach().clone()
    torch.manual_seed(123)                        # disturb the global stream
    seed_everything(cfg.seed)
    second = build(cfg.model, "model", input_size=10).recurrent.detach()
    torch.manual_seed(0)
    manual = build(cfg.model, "model", input_size=10).recurrent.detach()
    assert torch.equal(first, second) and torch.equal(first, manual)


def test_diverged_run_is_recorded_at_its_step(tmp_path, monkeypatch):
    from rnnbench.tasks.copy import CopyTask
    original = CopyTask.loss
    calls = {"n": 0}

    def loss_with_nan(self, outputs, batch):
        calls["n"] += 1
        loss = original(self, outputs, batch)
        return loss * float("nan") if calls["n"] == 3 else loss

    monkeypatch.setattr(CopyTask, "loss", loss_with_nan)
    code, record = run_inprocess(tmp_path, ["model=rnn", "model.hidden_size=8", "task.T=5", "task.eval_size=20",
                                            *TINY])
    assert code == 0 and record["status"] == "diverged" and record["diverged_at"] == 3
    assert record["best"]["step"] == 2                 # the last finite evaluation is kept
    curves = (tmp_path / "metrics.csv").read_text().splitlines()   # the curves up to the divergence are written
    assert curves[0].startswith("step,") and [line.split(",")[0] for line in curves[1:]] == ["1", "2"]


def test_evaluation_cap_is_recorded_and_timing_projected(tmp_path, capsys):
    overrides = ["model=rnn", "model.hidden_size=8", "task.T=5", "task.eval_size=40", "task.eval_batch_size=10",
                 *TINY, "trainer.max_steps=6", "trainer.timing_steps=2"]
    code, full = run_inprocess(tmp_path / "full", overrides)
    assert code == 0 and full["eval_capped"] is False
    code, capped = run_inprocess(tmp_path / "capped", [*overrides, "trainer.eval_max_batches=1"])
    assert code == 0 and capped["eval_capped"] is True and capped["status"] == "completed"
    # the same weights (same seed), evaluated on the first of four batches only
    assert capped["metrics"]["val/loss"] != full["metrics"]["val/loss"]
    out = capsys.readouterr().out
    assert "timing: " in out and "ms/step, one evaluation ≈" in out and "3 steps and 2 evaluations to go" in out
    assert "projected time to finish" in out


def test_single_run_cli_and_skip_completed(tmp_path):
    args = ["model=rnn", "model.hidden_size=8", "task.T=5", "task.eval_size=20", *TINY,
            f"hydra.run.dir={tmp_path}"]
    first = run_cli(args)
    assert first.returncode == 0, first.stderr
    record = json.loads((tmp_path / "result.json").read_text())
    assert record["status"] == "completed"
    second = run_cli(args)
    assert second.returncode == 0 and "already completed" in second.stdout


def test_sweep(tmp_path):
    result = run_cli(["-m", "model=rnn,lstm", "seed=0,1", "model.hidden_size=8", "task.T=5", "task.eval_size=20",
                      *TINY, f"hydra.sweep.dir={tmp_path}"])
    assert result.returncode == 0, result.stderr
    records = [json.loads(p.read_text()) for p in Path(tmp_path).rglob("result.json")]
    assert sorted((r["model"], r["seed"]) for r in records) == [("lstm", 0), ("lstm", 1), ("rnn", 0), ("rnn", 1)]
    assert all(r["status"] == "completed" for r in records)


def test_cfg_job_prints_composed_config(monkeypatch):
    result = run_main(["model=lstm", "task=copy", "task.T=100", "optimizer.lr=1e-3", "--cfg", "job"], monkeypatch)
    assert result.returncode == 0
    assert "T: 100" in result.stdout and "rnnbench.models.gated.LSTM" in result.stdout


@pytest.mark.parametrize("args, needle", [
    (["model=transformer"], "valid model names: " + ", ".join(MODELS)),
    (["task=imagenet"], "valid task names: " + ", ".join(group_options(CONF, "task"))),
    (["optimizer.lr=-0.1"], "optimizer.lr=-0.1"),
    (["model=rnn", "model.hidden_size=0"], "model.hidden_size=0"),
    (["task.T=0"], "task.T=0"),
    (["model=rnn", "model.nonlinearity=sigmoid"], "model.nonlinearity='sigmoid' is invalid: expected one of tanh"),
    (["model=rnn", "model.recurrent_init=zeros"], "model.recurrent_init='zeros' is invalid: expected one of"),
    (["+model.hiden_size=3"], "did you mean hidden_size"),
])
def test_bad_input_one_line_error(tmp_path, monkeypatch, args, needle):
    result = run_main([*args, *TINY, f"hydra.run.dir={tmp_path}"], monkeypatch)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], result.stderr
    record = tmp_path / "result.json"
    assert not record.exists() or json.loads(record.read_text())["status"] == "failed"


def test_bad_input_from_a_fresh_interpreter(tmp_path):
    """The cases above run run.py in-process (run_main); one of them end to end, as a user's shell sees it."""
    result = run_cli(["model=rnn", "model.hidden_size=0", *TINY, f"hydra.run.dir={tmp_path}"])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and lines == ["error: model.hidden_size=0 is invalid: expected a positive integer"]
    result_file = tmp_path / "result.json"
    assert not result_file.exists() or json.loads(result_file.read_text())["status"] == "failed"


@pytest.mark.parametrize("launcher, target", [("local", "JoblibLauncher"), ("slurm", "SlurmLauncher")])
def test_launcher_configs_compose(monkeypatch, launcher, target):
    result = run_main([f"hydra/launcher={launcher}", "model=rnn", "--cfg", "hydra"], monkeypatch)
    assert result.returncode == 0, result.stderr
    assert target in result.stdout
