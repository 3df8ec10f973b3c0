"""An experiment's sweep lines, its search stage and the run directories (rnnbench.report.sweeps)."""

from omegaconf import OmegaConf

from rnnbench.report import sweeps

from conftest import CONF, ROOT, TINY, run_main

SEARCH = {"key": "optimizer.lr", "values": [3.0e-4, 1.0e-3], "by": "best.val/loss", "goal": "min",
          "seeds": [0], "final_seeds": [1, 2]}


def test_run_dir_is_hydras_override_dirname_of_a_committed_record():
    run = ("+experiment=psmnist/cpu", "seed=2", "task.permute=False", "model=lstm", "device=cpu", "threads=1")
    path = sweeps.run_dir(ROOT, "psmnist", "cpu", run)      # excluded keys (experiment, device, threads) left out
    assert path == ROOT / "results/records/psmnist/cpu/model=lstm,seed=2,task.permute=False"
    assert (path / "result.json").exists()
    deletion = sweeps.run_dir(ROOT, "x", "cpu", ("~paper", "model=a", "+variant=v"))
    assert deletion.name == "+variant=v,model=a,~paper=null"


def test_a_matrix_gives_one_line_per_column_and_row_with_cell_replacements():
    matrix = {"common": "~paper", "columns": {"c1": "task=a", "c2": "task=b"},
              "rows": {"r1": "model=x model.hidden_size=8", "r2": "model=y"},
              "cells": {"c2": {"r1": "model=x model.hidden_size=4"}}}
    assert sweeps.matrix_lines(matrix) == ["~paper task=a model=x model.hidden_size=8", "~paper task=a model=y",
                                           "~paper task=b model=x model.hidden_size=4", "~paper task=b model=y"]


def test_search_runs_every_value_on_the_search_seeds_and_the_final_seeds_at_one_value():
    assert sweeps.search_runs("~paper model=a,b", SEARCH) == [
        ("~paper=null", "model=a", "seed=0", "optimizer.lr=0.0003"),
        ("~paper=null", "model=b", "seed=0", "optimizer.lr=0.0003"),
        ("~paper=null", "model=a", "seed=0", "optimizer.lr=0.001"),
        ("~paper=null", "model=b", "seed=0", "optimizer.lr=0.001")]
    assert sweeps.final_runs("model=a", SEARCH, 0.001) == [("model=a", "seed=1", "optimizer.lr=0.001"),
                                                          ("model=a", "seed=2", "optimizer.lr=0.001")]
    assert sweeps.tune_of(SEARCH) == {"over": "config.optimizer.lr", "by": "best.val/loss", "goal": "min",
                                      "seeds": [0]}


def test_the_cross_experiment_covers_every_model_on_every_column_with_a_search():
    node = OmegaConf.to_container(OmegaConf.load(CONF / "experiment/cross/cpu.sweep.yaml"))
    lines = sweeps.sweep_lines(CONF, "cross", "cpu")
    models = sorted(p.stem for p in CONF.glob("model/*.yaml") if p.stem != "lstm_peephole")
    assert sorted(node["matrix"]["rows"]) == models
    assert len(lines) == len(node["matrix"]["columns"]) * len(models) == len(set(lines))
    runs = sweeps.runs(CONF, "cross", "cpu")
    assert len(runs) == len(lines) * len(node["search"]["values"])
    assert all("seed=0" in run and run[0] == "+experiment=cross/cpu" for run in runs)
    assert all(len(sweeps.run_dir(ROOT, "cross", "cpu", run).name) < 255 for run in runs)


def test_run_dir_is_where_a_hydra_multirun_writes_the_record(tmp_path, monkeypatch):
    """One multirun with a deletion, a boolean, a swept float and an excluded key; each record lies where run_dir says
    (reproduce.py finds a line's search runs there)."""
    line = ["~paper", "model=rnn", "model.hidden_size=8", "task.T=5", "task.eval_size=20", "model.bias=true", *TINY]
    args = ["-m", *line, "optimizer.lr=3e-4,0.001", "seed=0", f"hydra.sweep.dir={tmp_path}"]
    assert run_main(args, monkeypatch).returncode == 0
    made = sorted(p.parent.name for p in tmp_path.rglob("result.json"))
    expected = sorted(sweeps.run_dir(ROOT, "x", "cpu", (*line, "seed=0", sweeps.setting("optimizer.lr", v))).name
                      for v in (3.0e-4, 1.0e-3))
    assert made == expected and "optimizer.lr=0.0003" in made[0] + made[1]


def test_a_lines_runs_are_hydras_own_expansion_and_each_runs_alone_in_its_directory(tmp_path, monkeypatch):
    """The overrides reproduce.py passes (Hydra's sweeper's expansion: ``~paper=null``, ``True``, ``0.0003``) run as
    one plain run.py call each, its record at the directory passed as hydra.run.dir (quoted: it holds , and =)."""
    line = "seed=0,1 ~paper model=rnn model.hidden_size=8 task.T=5 task.eval_size=20 model.bias=true optimizer.lr=3e-4"
    runs = sweeps.expand(line)
    assert runs[0] == ("seed=0", "~paper=null", "model=rnn", "model.hidden_size=8", "task.T=5", "task.eval_size=20",
                       "model.bias=True", "optimizer.lr=0.0003") and runs[1][0] == "seed=1" and len(runs) == 2
    assert sweeps.expand(line, first_seed_only=True) == runs[:1]
    run_dir = tmp_path / sweeps.run_dir(ROOT, "x", "cpu", runs[1]).name
    assert run_main([*runs[1], *TINY, f"hydra.run.dir='{run_dir}'"], monkeypatch).returncode == 0
    record = OmegaConf.load(run_dir / "result.json")
    assert run_dir.name == "model.bias=True,model.hidden_size=8,model=rnn,optimizer.lr=0.0003,seed=1,task.T=5," \
                           "task.eval_size=20,~paper=null"
    assert record.status == "completed" and record.seed == 1 and record.config.optimizer.lr == 3e-4


def test_the_sweep_is_not_part_of_a_runs_config():
    from conftest import compose_config
    cfg = compose_config(["+experiment=copy/cpu"])
    assert "reproduce" not in cfg and sweeps.reproduce_node(CONF, "copy", "cpu")["sweeps"]


def test_a_misspelt_key_in_a_table_spec_or_a_sweep_fails_on_one_line_naming_it(tmp_path):
    import pytest

    from rnnbench.config_checks import ConfigError
    from rnnbench.report import tables
    spec = (CONF / "table" / "copy.yaml").read_text().replace("exploded_column:", "exploded_colum:")
    (tmp_path / "copy.yaml").write_text(spec)
    with pytest.raises(ConfigError) as error:
        tables.load_spec(tmp_path / "copy.yaml")
    assert str(error.value) == "unknown key copy.exploded_colum (did you mean exploded_column?)"
    (tmp_path / "rows.yaml").write_text("title: t\nsource: s\nrows:\n  - {label: a, publishd: {x: 1}}\n")
    with pytest.raises(ConfigError, match=r"rows\.rows\[0\]\.publishd"):
        tables.load_spec(tmp_path / "rows.yaml")
    conf = tmp_path / "conf"
    (conf / "experiment" / "e").mkdir(parents=True)
    (conf / "experiment" / "e" / "cpu.sweep.yaml").write_text("sweeps: [seed=0]\nsearch: {key: a, values: [1], by: b, "
                                                              "final_seed: [1]}\n")
    with pytest.raises(ConfigError, match=r"e/cpu\.sweep\.search\.final_seed.*final_seeds"):
        sweeps.reproduce_node(conf, "e", "cpu")
