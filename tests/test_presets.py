"""Presets per published source (conf/paper, conf/variant) and the experiments that select them: composition only."""

import functools

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from rnnbench.config_checks import ConfigError
from rnnbench.optim import Optimization, build_optimization
from rnnbench.report import sweeps, tables
from rnnbench.tasks.ptb import PTBCharTask
from rnnbench.train import TrainerConfig

from conftest import CONF, ROOT, compose_config

EXPERIMENTS = sorted(p for p in CONF.glob("experiment/*/*.yaml") if not p.name.endswith(".sweep.yaml"))


def experiment_name(path) -> str:
    return f"{path.parent.name}/{path.stem}"


def sweep_runs(path) -> list[tuple[str, ...]]:
    """Every run of an experiment's sweeps, seeds left at their first value and a search's values at its first
    (they compose alike: one float of a float key)."""
    search = sweeps.search_of(CONF, path.parent.name, path.stem)
    runs = sweeps.runs(CONF, path.parent.name, path.stem, first_seed_only=True)
    if search:
        others = {sweeps.setting(search["key"], value) for value in search["values"][1:]}
        runs = [run for run in runs if not others & set(run)]
    return [tuple(run) for run in runs]


@functools.cache
def composed(run: tuple[str, ...]):
    """``compose_config`` once per run for the whole module (the tests only read it)."""
    return compose_config(list(run))


def run_of(path, *wanted: str) -> tuple[str, ...]:
    """The one sweep combination of ``path`` holding every override in ``wanted``."""
    [run] = [r for r in sweep_runs(path) if set(wanted) <= set(r)]
    return run


def optimization(cfg) -> Optimization:
    return build_optimization(nn.Linear(2, 2), cfg)


def test_bpc_nnrnn_at_tbptt_300_runs_the_readme_settings():
    cfg = composed(run_of(CONF / "experiment/ptb_bpc/paper.yaml", "model=nnrnn", "task.bptt=300"))
    assert cfg.optimizer._target_ == "torch.optim.Adam" and list(cfg.optimizer.betas) == [0.0, 0.9]
    assert (cfg.optimizer.lr, cfg.param_groups.lr_orth) == (2e-3, 2e-4)
    assert cfg.clip.norm == 5 and cfg.param_groups.triangular_decay == 1e-6 and cfg.model.delta == 1e-4
    assert cfg.model.hidden_size == 1024 and cfg.task.bptt == 300
    built = optimization(cfg).optimizer
    assert isinstance(built, torch.optim.Adam) and built.defaults["betas"] == (0.0, 0.9)


def test_accuracy_nnrnn_at_tbptt_300_runs_the_supplement_settings():
    cfg = composed(run_of(CONF / "experiment/ptb_accuracy/paper.yaml", "model=nnrnn", "task.bptt=300"))
    assert cfg.optimizer._target_ == "torch.optim.RMSprop" and cfg.optimizer.alpha == 0.9
    assert (cfg.optimizer.lr, cfg.param_groups.lr_orth) == (8e-4, 6e-5)
    assert cfg.model.delta == 1e-4 and cfg.param_groups.triangular_decay == 1e-4 and cfg.clip.norm is None
    assert isinstance(optimization(cfg).optimizer, torch.optim.RMSprop)


@pytest.mark.parametrize("path", EXPERIMENTS, ids=experiment_name)
def test_every_sweep_run_composes(path):
    for run in sweep_runs(path):
        cfg = composed(run)
        variant = next((arg.split("=")[1] for arg in run if arg.startswith("+variant=")), "")
        for bptt in (150, 300):                      # a variant named for a TBPTT column runs in that column
            if variant.endswith(f"_t{bptt}"):
                assert cfg.task.bptt == bptt, run
        if cfg.task_name == "ptb" and "~paper=null" not in run:   # the authors' language_task.py loop and presets
            assert cfg.trainer.eval_every == "epoch", run
            assert dict(cfg.schedule) == {"_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau",
                                          "_partial_": True, "factor": 0.5, "patience": 0, "threshold": 0}, run


@pytest.mark.parametrize("path", sorted(p for name in ("ptb_bpc", "ptb_accuracy", "psmnist")
                                         for p in CONF.glob(f"experiment/{name}/*.yaml")
                                         if not p.name.endswith(".sweep.yaml")),
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_sweeps_cover_every_cell_of_their_table(path):
    """Every cell of the table at the experiment's scale (its own layout under the spec's ``scales``) is filled
    by a run of that scale's sweeps."""
    spec = tables.load_spec(CONF / "table" / f"{path.parent.name}.yaml", path.stem)
    assert "/records" in OmegaConf.load(path).defaults            # hydra.sweep.dir: conf/records.yaml
    records_dir = ROOT / "results" / "records" / path.parent.name / path.stem
    assert sweeps.records_dir(ROOT, spec["experiment"], path.stem) == records_dir
    records = []
    for run in sweep_runs(path):
        cfg = composed(run)
        records.append({"status": "completed", "model": cfg.model_name, "params": 1, "run_dir": " ".join(run),
                        "config": OmegaConf.to_container(cfg, resolve=True),
                        "best": {"test/bpc": 1.5, "test/accuracy": 0.5}})
    cells, _ = tables.build_table(spec, records)
    assert [(c.row, c.column) for c in cells if c.verdict == "not run"] == []


def test_plateau_schedule_of_the_ptb_presets_halves_the_lr_after_an_epoch_without_a_new_best():
    opt = optimization(compose_config(["model=nnrnn", "task=ptb"]))
    lrs = []
    for val_loss in (2.0, 1.8, 1.9, 1.7, 1.7, 1.6):   # worse, equal: halved; a new best: kept
        opt.after_eval(val_loss)
        lrs.append(opt.optimizer.param_groups[0]["lr"])
    assert lrs == pytest.approx([8e-4, 8e-4, 4e-4, 4e-4, 2e-4, 2e-4])


def test_eval_every_epoch_follows_the_task():
    class Task:
        steps_per_epoch = 262

    assert TrainerConfig(eval_every="epoch").eval_interval(Task()) == 262
    assert TrainerConfig(eval_every=5).eval_interval(Task()) == 5
    with pytest.raises(ConfigError, match="eval_every.*a positive integer or epoch"):
        TrainerConfig(eval_every="weekly")


def test_ptb_embedding_and_decoder_start_as_the_authors(tmp_path):
    for split in ("train", "valid", "test"):
        (tmp_path / f"ptb.{split}.txt").write_text(" the cat sat on the mat \n a dog ran N miles \n" * 20)
    core = nn.GRU(8, 16, batch_first=True)
    core.hidden_size = 16
    torch.manual_seed(0)
    net = PTBCharTask(path=str(tmp_path), batch_size=2, bptt=5, embedding_size=8).network(core)
    for weight in (net.encoder.weight, net.head.weight):
        assert weight.abs().max() <= 0.1 and weight.abs().max() > 0.09
    assert not net.head.bias.any()
    default = PTBCharTask(path=str(tmp_path), batch_size=2, bptt=5, embedding_size=8,
                          embedding_init_range=None).network(core)
    assert default.encoder.weight.abs().max() > 1                  # torch's N(0, 1) embedding
    with pytest.raises(ConfigError, match="embedding_init_range"):
        PTBCharTask(path=str(tmp_path), embedding_init_range=-0.1)
