"""Tables from records (synthetic), table/experiment configs, make_tables reproducibility, sweep skipping."""

import filecmp
import json
import math
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from rnnbench import tables
from rnnbench.records import write_record

from conftest import CONF, ROOT, TINY, compose_config, run_cli

SPEC = {
    "title": "t", "source": "s", "metric": "metrics.test/mse", "format": ".3f", "tolerance": {"relative": 0.1},
    "columns": [{"label": "A", "select": {"model": "a"}}, {"label": "B", "select": {"model": "b"}},
                {"label": "A params", "select": {"model": "a"}, "metric": "params"}],
    "rows": [{"label": "small", "select": {"config.model.hidden_size": 4}, "published": {"A": 1.0, "B": 5.0}},
             {"label": "large", "select": {"config.model.hidden_size": 8}, "cells": {"A": {"published": 2.0}}}],
    "claims": [{"text": "A below B (small)", "compare": [["small", "A"], "<", ["small", "B"]]},
               {"text": "A below B (large)", "compare": [["large", "A"], "<", ["large", "B"]]}],
}


def fake(tmp_path, name, model, hidden, mse, status="completed"):
    write_record(tmp_path / name, {"status": status, "model": model, "params": hidden * 10,
                                   "config": {"model": {"hidden_size": hidden}}, "metrics": {"test/mse": mse}})


@pytest.fixture
def records(tmp_path):
    for seed, mse in enumerate([1.0, 1.1, 0.9]):
        fake(tmp_path, f"a4_{seed}", "a", 4, mse)
    fake(tmp_path, "b4_0", "b", 4, 3.0)
    fake(tmp_path, "b4_1", "b", 4, float("nan"), status="diverged")
    fake(tmp_path, "a8_0", "a", 8, None, status="diverged")
    fake(tmp_path, "b8_0", "b", 8, None, status="failed")
    return tables.load_records(tmp_path)


def test_cells_mean_std_n_and_verdicts(records):
    cells, claims = tables.build_table(SPEC, records)
    cell = {(c.row, c.column): c for c in cells}
    a = cell["small", "A"]
    assert a.n == 3 and a.mean == pytest.approx(1.0) and a.std == pytest.approx(0.1)   # sample std (ddof 1)
    assert a.verdict == "within"
    b = cell["small", "B"]
    assert b.n == 1 and b.n_diverged == 1 and b.std == 0 and b.verdict == "outside"     # 3.0 vs 5.0 ± 10%
    assert cell["small", "A params"].mean == 40 and cell["small", "A params"].verdict == "no published value"
    assert cell["large", "A"].verdict == "diverged" and math.isnan(cell["large", "A"].mean)
    assert cell["large", "B"].verdict == "failed"
    assert [c["verdict"] for c in claims] == ["holds", "not run"]


def test_missing_runs_show_as_not_run_never_blank_or_zero():
    cells, claims = tables.build_table(SPEC, [])
    assert {c.verdict for c in cells} == {"not run"}
    text = tables.markdown(SPEC, cells, claims, "cpu", "")
    assert "not run" in text and "0.000" not in text and "nan" not in text
    assert "| small | — · published 1.000 · not run |" in text


def test_markdown_and_latex_render(records):
    cells, claims = tables.build_table(SPEC, records)
    md = tables.markdown(SPEC, cells, claims, "cpu", "Reduced.")
    assert "1.000 ± 0.100 (n=3) · published 1.000 · within" in md
    assert "+1 diverged, 0 failed" in md and "A below B (small): **holds**" in md
    tex = tables.latex(SPEC, cells, "cpu")
    assert r"\begin{tabular}" in tex and r"$\pm$" in tex


@pytest.mark.parametrize("path", sorted((CONF / "table").glob("*.yaml")), ids=lambda p: p.stem)
def test_table_specs_are_consistent(path):
    spec = tables.load_spec(path)
    assert spec["title"] and spec["source"] and spec["rows"]
    columns = {c["label"] for c in tables.normalise_columns(spec)}
    for row in spec["rows"]:
        assert set(row.get("cells", {})) <= columns and set(row.get("published", {})) <= columns
    labels = {r["label"] for r in spec["rows"]}
    for claim in spec.get("claims", []):
        for row, column in (claim["compare"][0], claim["compare"][2]):
            assert row in labels and column in columns
    assert (CONF / "experiment" / spec["experiment"]).is_dir()


@pytest.mark.parametrize("path", sorted((CONF / "experiment").glob("*/*.yaml")),
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_experiment_configs_compose(path):
    name = f"{path.parent.name}/{path.stem}"
    cfg = compose_config([f"+experiment={name}"])
    assert cfg.trainer.progress is False
    for sweep in OmegaConf.load(path).reproduce.sweeps:
        first = [arg.split("=")[0] + "=" + arg.split("=")[1].split(",")[0] for arg in sweep.split()]
        compose_config([f"+experiment={name}", *first])


def test_make_tables_regenerates_committed_results(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_tables.py"), "--out", str(tmp_path)], check=True,
                   capture_output=True)
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert generated
    for relative in generated:
        committed = ROOT / "results" / relative
        assert committed.exists(), f"{relative} is not committed"
        assert filecmp.cmp(tmp_path / relative, committed, shallow=False), f"{relative} differs"


def test_sweep_rerun_skips_completed_runs(tmp_path):
    args = ["-m", "model=rnn", "seed=0,1", "model.hidden_size=8", "task.T=5", "task.eval_size=20", *TINY,
            f"hydra.sweep.dir={tmp_path}"]
    assert run_cli(args).returncode == 0
    before = {p: p.read_text() for p in tmp_path.rglob("result.json")}
    again = run_cli(args)
    assert again.returncode == 0 and again.stdout.count("already completed") == 2
    assert {p: p.read_text() for p in tmp_path.rglob("result.json")} == before
    assert all(json.loads(t)["status"] == "completed" for t in before.values())
