"""Tables from records (synthetic), table/experiment configs, make_tables reproducibility, sweep skipping."""

import dataclasses
import filecmp
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rnnbench.records import write_record
from rnnbench.report import sweeps, tables

from conftest import CONF, ROOT, TINY, compose_config, run_main

SPEC = {
    "title": "t", "source": "s", "metric": "metrics.test/mse", "format": ".3f", "tolerance": {"relative": 0.1},
    "columns": [{"label": "A", "select": {"model": "a"}}, {"label": "B", "select": {"model": "b"}},
                {"label": "A params", "select": {"model": "a"}, "metric": "params"}],
    "rows": [{"label": "small", "select": {"config.model.hidden_size": 4}, "published": {"A": 1.0, "B": 5.0}},
             {"label": "large", "select": {"config.model.hidden_size": 8}, "cells": {"A": {"published": 2.0}}}],
    "claims": [{"text": "A below B (small)", "compare": [["small", "A"], "<", ["small", "B"]]},
               {"text": "A below B (large)", "compare": [["large", "A"], "<", ["large", "B"]]}],
}


def fake(tmp_path, name, model, hidden, mse, status="completed", **fields):
    write_record(tmp_path / name, {"status": status, "model": model, "params": hidden * 10,
                                   "config": {"model": {"hidden_size": hidden}}, "metrics": {"test/mse": mse},
                                   **fields})


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
    assert [c["verdict"] for c in claims] == ["holds", "not measured"]      # runs exist, none usable
    assert claims[1]["ours"] == "large (A): diverged; large (B): failed"


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


def test_exploded_runs_are_counted_and_left_out_of_the_mean(tmp_path):
    for seed, mse in enumerate([1.0, 1.1]):
        fake(tmp_path, f"a4_{seed}", "a", 4, mse)
    explosion = {"step": 40, "loss": 1e6, "threshold": 1e3}
    fake(tmp_path, "a4_2", "a", 4, 1e6, exploded=True, explosion=explosion)     # would dominate the mean
    fake(tmp_path, "b4_0", "b", 4, 9.0, exploded=True, explosion=explosion)
    fake(tmp_path, "b4_1", "b", 4, 8.0, exploded=True, explosion=explosion)
    cells, claims = tables.build_table(SPEC, tables.load_records(tmp_path))
    cell = {(c.row, c.column): c for c in cells}
    a, b = cell["small", "A"], cell["small", "B"]
    assert a.n == 2 and a.n_exploded == 1 and a.mean == pytest.approx(1.05) and a.verdict == "within"
    assert b.n == 0 and b.n_exploded == 2 and b.verdict == "exploded"
    assert claims[0]["verdict"] == "not measured" and claims[0]["ours"] == "small (B): exploded"   # runs, none usable
    md = tables.markdown(SPEC, cells, claims, "cpu", "")
    assert "1.050 ± 0.071 (n=2) · published 1.000 · within (1 of 3 exploded)" in md
    assert "— · published 5.000 · exploded (2 of 2 exploded)" in md
    assert "mean ± std over the completed runs that did not explode" in md
    assert {"n_exploded": 1}.items() <= tables.csv_rows(cells)[0].items()


def test_figures_draw_the_runs_behind_each_number(tmp_path, monkeypatch):
    from rnnbench.report import plots
    for name, mse, extra in [("a4_0", 1.0, {}), ("a4_1", 1.1, {}), ("a4_2", 1e6, {"exploded": True}),
                             ("b4_0", 9.0, {"exploded": True})]:
        fake(tmp_path, name, "a" if name[0] == "a" else "b", 4, mse, **extra)
        (tmp_path / name / "metrics.csv").write_text(f"step,val/mse\n10,{mse}\n20,{mse}\n")
    cells, _ = tables.build_table(SPEC, tables.load_records(tmp_path))
    a, b = [c for c in cells if c.row == "small" and c.column in ("A", "B")]
    assert [Path(d).name for d in a.used_dirs] == ["a4_0", "a4_1"] and len(a.run_dirs) == 3 and b.used_dirs == []
    drawn = {}

    def plot(ax, x, y, color, label):
        drawn[label] = list(y)
    monkeypatch.setattr(plots.plt.Axes, "plot", plot)
    texts = []
    monkeypatch.setattr(plots.plt.Axes, "text", lambda ax, x, y, text, **kw: texts.append(text))
    assert plots.learning_curves([a, b], "val/mse", "t", tmp_path / "f.png") == tmp_path / "f.png"
    assert drawn == {"small · A (n=2)": [pytest.approx(1.05)] * 2}          # the exploded run is not drawn
    assert texts == ["not drawn, no usable run: small · B (exploded)"]
    texts.clear()                                   # the rank chart tells an exploded cell from one not run
    assert plots.rank_chart([a, b], ["small", "large"], {"A": "min", "B": "min"}, "t", tmp_path / "r.png")
    assert texts == ["1", "exploded", "–", "–"]


def test_claims_compare_means_without_exploded_runs(tmp_path):
    fake(tmp_path, "a4_0", "a", 4, 1.0)
    fake(tmp_path, "a4_1", "a", 4, 50.0, exploded=True, explosion={"step": 1, "loss": 50.0, "threshold": 10.0})
    fake(tmp_path, "b4_0", "b", 4, 3.0)
    _, claims = tables.build_table(SPEC, tables.load_records(tmp_path))
    assert claims[0]["verdict"] == "holds" and claims[0]["ours"] == "ours: 1.000 vs 3.000"
    row = SPEC["rows"][0]["label"]                               # a cell against a number
    spec = {**SPEC, "claims": [{"text": "A at least 1", "compare": [[row, "A"], ">=", 1.0]},
                               {"text": "A below 0.5", "compare": [[row, "A"], "<", 0.5]}]}
    _, claims = tables.build_table(spec, tables.load_records(tmp_path))
    assert [c["verdict"] for c in claims] == ["holds", "does not hold"]


def test_normalized_column_divides_by_the_record_path(tmp_path):
    spec = {**SPEC, "columns": [{"label": "A", "select": {"model": "a"}},
                                {"label": "A/var", "select": {"model": "a"}, "normalize": "constants.target_variance"}],
            "rows": [{"label": "small", "select": {"config.model.hidden_size": 4}, "published": {"A/var": 2.1}},
                     {"label": "large", "select": {"config.model.hidden_size": 8}}], "claims": []}
    fake(tmp_path, "a4_0", "a", 4, 1.0, constants={"target_variance": 0.5})
    fake(tmp_path, "a4_1", "a", 4, 0.6, constants={"target_variance": 0.25})
    fake(tmp_path, "a8_0", "a", 8, 1.0)                                        # an old record: no variance
    cells, _ = tables.build_table(spec, tables.load_records(tmp_path))
    cell = {(c.row, c.column): c for c in cells}
    assert cell["small", "A"].mean == pytest.approx(0.8)
    assert cell["small", "A/var"].mean == pytest.approx(2.2) and cell["small", "A/var"].verdict == "within"
    assert cell["large", "A/var"].n == 0 and cell["large", "A/var"].verdict == "metric missing"


def test_runs_line_states_revisions_and_wall_time(tmp_path):
    fake(tmp_path, "a", "a", 4, 1.0, wall_s=1800.0, code={"commit": "ab" * 20, "dirty": False})
    fake(tmp_path, "b", "a", 4, 1.0, wall_s=5400.0)
    line = tables.runs_line(tables.load_records(tmp_path))
    assert line == "Runs: 2, code revisions abababa (1), unknown (1); wall time 2.0 h (sum of the runs' wall_s)."
    assert tables.runs_line([]) == "Runs: none." and tables.duration(600) == "10 min"
    md = tables.markdown(SPEC, *tables.build_table(SPEC, []), "cpu", "", line, ["1 run with no code revision"])
    assert f"\n{line}\n" in md and "**Warning:** 1 run with no code revision." in md


REFERENCE_ANCHORS = {"#" + line[3:].strip().lower().replace(" ", "-")
                     for line in (ROOT / "REFERENCES.md").read_text().splitlines() if line.startswith("## ")}


@pytest.mark.parametrize("path", sorted((CONF / "table").glob("*.yaml")), ids=lambda p: p.stem)
def test_table_specs_are_consistent(path):
    spec = tables.load_spec(path)
    if spec.get("kind") == "agreement":
        pytest.skip("an agreement page, not a published-vs-ours table: tests/test_agreement.py")
    assert spec["title"] and spec["source"] and spec["rows"]
    cited = re.findall(r"REFERENCES\.md(#[\w-]+)", spec["source"])
    assert cited and set(cited) <= REFERENCE_ANCHORS, "sources cite sections of REFERENCES.md"
    assert "reference/" not in path.read_text() and "../" not in path.read_text(), "no citation outside the repo"
    columns = {c["label"] for c in tables.normalise_columns(spec)}
    for row in spec["rows"]:
        assert set(row.get("cells", {})) <= columns and set(row.get("published", {})) <= columns
    labels = {r["label"] for r in spec["rows"]}
    for claim in spec.get("claims", []):
        left, operator, right = claim["compare"]
        assert operator in tables.OPERATORS
        for side in (left, right) if not isinstance(right, (int, float)) else (left,):
            assert side[0] in labels and side[1] in columns
    assert (CONF / "experiment" / spec["experiment"]).is_dir()


@pytest.mark.parametrize("path", sorted(p for p in (CONF / "experiment").glob("*/*.yaml")
                                         if not p.name.endswith(".sweep.yaml")),
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_experiment_configs_compose(path):
    """The experiment alone (every run of its sweeps composes: tests/test_presets.py)."""
    cfg = compose_config([f"+experiment={path.parent.name}/{path.stem}"])
    assert cfg.trainer.progress is False


def test_make_tables_regenerates_committed_results(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_tables.py"), "--out", str(tmp_path)], check=True,
                   capture_output=True)
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert generated
    for relative in generated:
        committed = ROOT / "results" / relative
        assert committed.exists(), f"{relative} is not committed"
        assert filecmp.cmp(tmp_path / relative, committed, shallow=False), f"{relative} differs"


def test_sweep_rerun_skips_completed_runs(tmp_path, monkeypatch):
    args = ["-m", "model=rnn", "seed=0,1", "model.hidden_size=8", "task.T=5", "task.eval_size=20", *TINY,
            f"hydra.sweep.dir={tmp_path}"]
    assert run_main(args, monkeypatch).returncode == 0
    before = {p: p.read_text() for p in tmp_path.rglob("result.json")}
    again = run_main(args, monkeypatch)
    assert again.returncode == 0 and again.stdout.count("already completed") == 2
    assert {p: p.read_text() for p in tmp_path.rglob("result.json")} == before
    assert all(json.loads(t)["status"] == "completed" for t in before.values())


def test_capped_evaluations_never_enter_a_cell(tmp_path):
    fake(tmp_path, "a4_0", "a", 4, 1.0)
    fake(tmp_path, "a4_1", "a", 4, 0.01, eval_capped=True)                    # a smoke run: 1 eval batch
    fake(tmp_path, "b4_0", "b", 4, 0.02, eval_capped=True)
    cells, _ = tables.build_table(SPEC, tables.load_records(tmp_path))
    cell = {(c.row, c.column): c for c in cells}
    assert cell["small", "A"].n == 1 and cell["small", "A"].mean == 1.0 and cell["small", "A"].n_capped == 1
    assert "1 with capped evaluation left out" in tables.cell_text(cell["small", "A"], ".3f")
    assert cell["small", "B"].n == 0 and cell["small", "B"].verdict == "evaluation capped"


def test_exploded_column_counts_each_rows_exploded_runs(tmp_path):
    fake(tmp_path, "a4_0", "a", 4, 1.0)
    fake(tmp_path, "a4_1", "a", 4, 50.0, exploded=True, explosion={"step": 1, "loss": 50.0, "threshold": 10.0})
    spec = {**SPEC, "exploded_column": True}
    cells, claims = tables.build_table(spec, tables.load_records(tmp_path))
    headers, rows = tables.table_rows(spec, cells)
    assert headers[-1] == "exploded runs" and rows[0][0] == "small" and rows[0][1][-1] == "1 of 2"
    assert "| small |" in tables.markdown(spec, cells, claims, "cpu", "")
    assert "1 of 2 \\\\" in tables.latex(spec, cells, "cpu")
    spec["exploded_column"] = "cell"                        # no extra column; every run cell counts, 0 included
    headers, rows = tables.table_rows(spec, cells)
    assert "exploded runs" not in headers and "(1 of 2 exploded)" in rows[0][1][0]
    calm = dataclasses.replace(cells[0], n_exploded=0)
    assert "(0 of 2 exploded)" in tables.cell_text(calm, ".3f", count_exploded=True)
    assert "exploded" not in tables.cell_text(calm, ".3f")
    mixed = dataclasses.replace(cells[0], n=0, n_diverged=1)   # no usable run: every way it failed is counted
    assert "(1 of 2 exploded; 1 diverged, 0 failed)" in tables.cell_text(mixed, ".3f")


def test_a_scale_replaces_keys_and_a_null_tolerance_shows_published_values_unjudged(tmp_path, records):
    """``scales.cpu`` in a spec replaces its columns (e.g. a reduced width) and tolerance for the cpu table only;
    tolerance null keeps the published value beside ours with the verdict ``reduced scale``."""
    path = tmp_path / "spec.yaml"
    reduced = {"tolerance": None, "columns": [{"label": "A", "select": {"model": "a"}}], "claims": []}
    OmegaConf.save(OmegaConf.create({**SPEC, "scales": {"cpu": reduced}}), path)
    assert tables.load_spec(path, "paper")["columns"] == SPEC["columns"]
    spec = tables.load_spec(path, "cpu")
    assert spec["columns"] == reduced["columns"] and spec["tolerance"] is None and "scales" not in spec
    cells, _ = tables.build_table(spec, records)
    small = next(c for c in cells if c.row == "small")
    assert small.n == 3 and small.published == 1.0 and small.verdict == "reduced scale"
    page = tables.markdown(spec, cells, [], "cpu", "", commands=["Reproduce: `make reproduce TABLE=t SCALE=cpu`."])
    assert "published values shown for reference" in page and "· published 1.000 · reduced scale" in page
    assert "Reproduce: `make reproduce TABLE=t SCALE=cpu`." in page


def tuned_record(tmp_path, name, lr, val, test, **fields):
    write_record(tmp_path / name, {"status": "completed", "model": "a", "params": 1,
                                   "config": {"optimizer": {"lr": lr}},
                                   "best": {"val/loss": val, "test/loss": test}, **fields})


def test_tune_reports_the_setting_with_the_best_validation_mean_never_the_test(tmp_path):
    for seed, (val, test) in enumerate([(1.0, 9.0), (1.2, 9.0)]):
        tuned_record(tmp_path, f"lr1_{seed}", 1e-3, val, test)               # best validation, worse test
    for seed, (val, test) in enumerate([(2.0, 0.1), (2.2, 0.1)]):
        tuned_record(tmp_path, f"lr2_{seed}", 1e-2, val, test)
    tuned_record(tmp_path, "lr3_0", 1e-1, 0.01, 0.01, exploded=True)          # exploded runs never win a search
    spec = {"title": "t", "source": "s", "metric": "best.test/loss", "format": ".2f",
            "tune": {"over": "config.optimizer.lr", "by": "best.val/loss", "goal": "min"},
            "columns": [{"label": "A"}], "rows": [{"label": "a", "select": {"model": "a"}}]}
    [cell], _ = tables.build_table(spec, tables.load_records(tmp_path))
    assert cell.n == 2 and cell.mean == 9.0 and cell.tuning == "lr 0.001 of 3 by val/loss, at the grid's edge"
    assert "(lr 0.001 of 3 by val/loss, at the grid's edge)" in tables.cell_text(cell, ".2f")


def test_rank_marks_the_best_and_the_rows_a_welch_test_cannot_tell_from_it(tmp_path):
    samples = {"a": [1.0, 1.1, 0.9], "b": [1.05, 1.3, 0.8], "c": [3.0, 3.1, 2.9], "d": [0.5]}
    for model, values in samples.items():
        for seed, value in enumerate(values):
            write_record(tmp_path / f"{model}{seed}", {"status": "completed", "model": model, "params": 1,
                                                       "metrics": {"test/mse": value}})
    spec = {"title": "t", "source": "s", "metric": "metrics.test/mse", "rank": "min", "format": ".3f",
            "columns": [{"label": "A"}],
            "rows": [{"label": m, "select": {"model": m}} for m in samples]}
    cells, _ = tables.build_table(spec, tables.load_records(tmp_path))
    marks = {c.row: c.mark for c in cells}
    assert marks == {"d": "best", "a": "", "b": "", "c": ""}          # one run: best by mean, never tested
    spec["rows"] = spec["rows"][:3]
    cells, _ = tables.build_table(spec, tables.load_records(tmp_path))
    assert {c.row: c.mark for c in cells} == {"a": "best", "b": "tied", "c": ""}
    from scipy import stats
    assert stats.ttest_ind(samples["b"], samples["a"], equal_var=False).pvalue > 0.05
    assert stats.ttest_ind(samples["c"], samples["a"], equal_var=False).pvalue < 0.05
    page = tables.markdown(spec, cells, [], "cpu", "")
    assert "**1.000 ± 0.100 (n=3)** best" in page and "≈ best" in page and "Welch t-test" in page


def test_a_seed_zero_search_decides_the_setting_and_the_cell_reports_all_its_seeds(tmp_path):
    """The sweep searched on seed 0 and ran seeds 1 and 2 at its choice; their better validation losses at that
    setting must not sway the choice (the other settings have no seeds 1 and 2)."""
    tuned_record(tmp_path, "a0", 1e-3, 1.0, 5.0, seed=0)
    tuned_record(tmp_path, "b0", 1e-2, 1.5, 5.0, seed=0)
    for seed in (1, 2):
        tuned_record(tmp_path, f"b{seed}", 1e-2, 0.1, 7.0, seed=seed)        # seeds 1-2 at the losing setting
        tuned_record(tmp_path, f"a{seed}", 1e-3, 1.1, 3.0, seed=seed)
    spec = {"title": "t", "source": "s", "metric": "best.test/loss", "format": ".2f",
            "tune": {"over": "config.optimizer.lr", "by": "best.val/loss", "goal": "min", "seeds": [0]},
            "columns": [{"label": "A"}], "rows": [{"label": "a", "select": {"model": "a"}}]}
    [cell], _ = tables.build_table(spec, tables.load_records(tmp_path))
    assert cell.tuning == "lr 0.001 of 2 by val/loss" and cell.n == 3 and cell.values == [5.0, 3.0, 3.0]
    del spec["tune"]["seeds"]                                                  # all seeds: the biased choice
    [cell], _ = tables.build_table(spec, tables.load_records(tmp_path))
    assert cell.tuning == "lr 0.01 of 2 by val/loss"
    spec["tune"]["seeds"] = [0]
    tuned_record(tmp_path, "c0", 1e-4, 2.0, 5.0, seed=0)                      # a third setting: 1e-3 is inside
    [cell], _ = tables.build_table(spec, tables.load_records(tmp_path))
    assert cell.tuning == "lr 0.001 of 3 by val/loss"
    tuned_record(tmp_path, "c0", 1e-4, 0.5, 5.0, seed=0)                      # now the smallest wins
    [cell], _ = tables.build_table(spec, tables.load_records(tmp_path))
    assert cell.tuning == "lr 0.0001 of 3 by val/loss, at the grid's edge"


def test_reproduce_dry_run_lists_a_search_then_the_final_seeds_per_line():
    out = subprocess.run([sys.executable, str(ROOT / "scripts/reproduce.py"), "cross", "cpu", "--dry-run"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    commands = [line for line in out.splitlines() if line.startswith("$ ")]
    lines = sweeps.sweep_lines(CONF, "cross", "cpu")
    assert len(commands) == 3 * len(lines) and all("seed=0" in c and " -m " not in c for c in commands)
    assert out.count("# then seeds [1, 2] at the best optimizer.lr by best.val/loss") == len(lines)
    plain = subprocess.run([sys.executable, str(ROOT / "scripts/reproduce.py"), "copy", "cpu", "--dry-run"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.splitlines()
    assert [line.split("+experiment=copy/cpu ")[1] for line in plain] == [
        " ".join(run[1:]) for run in sweeps.runs(CONF, "copy", "cpu")]          # the experiment named once


def curve_run(root, name: str, losses: list[float], value: float, status: str = "completed", factor: float = 10.0):
    """A run of model ``name[0]`` whose logged training losses are ``losses``, flagged the trainer's way."""
    from rnnbench.records import write_curves
    from rnnbench.train import explosion
    rows = [{"step": 10 * i + 1, "train/loss": loss} for i, loss in enumerate(losses)]
    blow_up = explosion(rows, factor)
    run_dir = root / name
    run_dir.mkdir()
    write_curves(run_dir, rows)
    write_record(run_dir, {"status": status, "model": name[0], "seed": 0, "metrics": {"test/mse": value},
                           "config": {"trainer": {"explosion_factor": factor}}, "exploded": blow_up is not None,
                           **({"explosion": blow_up} if blow_up else {})})


def test_a_run_that_spiked_and_recovered_is_in_the_mean_marked_and_one_that_did_not_is_exploded(tmp_path):
    """Spike (above 10x the first loss) then back below the first loss: recovered, in the mean, marked with the
    spike's size and step. Spike then a plateau above the first loss, or an end above 1.5x it without a spike:
    exploded, left out. Never finite: diverged."""
    curve_run(tmp_path, "a_recovered", [2.0, 1.9, 60.0, 4.0, 1.5], 1.2)
    curve_run(tmp_path, "a_clean", [2.0, 1.5, 1.2], 1.0)
    curve_run(tmp_path, "b_plateau", [2.0, 1.8, 60.0, 2.4], 7.0)
    curve_run(tmp_path, "b_end_rule", [2.0, 2.5, 3.5], 8.0)
    curve_run(tmp_path, "b_nonfinite", [2.0], math.nan, status="diverged")
    records = tables.load_records(tmp_path)
    by_name = {Path(r["run_dir"]).name: r for r in records}
    assert tables.spike_recovery(by_name["a_recovered"]) == {"step": 21, "factor": 30.0}
    assert tables.spike_recovery(by_name["b_plateau"]) is None and by_name["b_plateau"]["exploded"]
    assert tables.spike_recovery(by_name["b_end_rule"]) is None and by_name["b_end_rule"]["exploded"]
    assert tables.spike_recovery(by_name["a_clean"]) is None and not by_name["a_clean"]["exploded"]
    spec = {"title": "t", "source": "s", "metric": "metrics.test/mse", "format": ".2f",
            "columns": [{"label": "A", "select": {"model": "a"}}, {"label": "B", "select": {"model": "b"}}],
            "rows": [{"label": "r"}]}
    cells, _ = tables.build_table(spec, records)
    a, b = cells
    assert a.n == 2 and a.mean == pytest.approx(1.1) and a.n_exploded == 0 and len(a.recovered) == 1
    assert b.n == 0 and b.n_exploded == 2 and b.n_diverged == 1 and b.verdict == "exploded"
    text = tables.cell_text(a, ".2f")
    assert text == "1.10 ± 0.14 (n=2) (1 of 2 recovered after a spike, up to 30× the first loss (step 21))"
