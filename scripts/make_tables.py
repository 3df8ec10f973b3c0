"""`make tables`: rebuild every table and figure in results/ from the committed run records (no training).

For each conf/table/<name>.yaml and each scale with records under results/records/<experiment>/<scale>/ (the
cpu scale is always written, showing "not run" cells when it has none), writes
results/tables/<name>_<scale>.{md,csv,tex} and results/figures/<name>_<scale>.png, and the index
results/README.md. Prints, per table, the code revisions behind its records, and warns (``warning:`` on
stderr, and in the table) when they are mixed, dirty, unknown or older than the code they used; records carried
across a refactor by a behaviour check (results/behaviour_checks.yaml) are named as such.
"""

import argparse
import re
import sys
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from rnnbench.report import agreement, provenance, sweeps, tables
from rnnbench.report.plots import learning_curves, rank_chart

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
SCALES = ("cpu", "paper")
PARALLEL_JOBS = 2   # scripts/reproduce.py --jobs default


def scale_note(experiment: str, scale: str) -> str:
    defined = sweeps.experiment_file(ROOT / "conf", experiment, scale).exists()
    return sweeps.reproduce_node(ROOT / "conf", experiment, scale).get("note", "") if defined else ""


def reproduce_lines(experiment: str, scale: str) -> list[str]:
    """How to (re)run this table, and the paper scale's command on a cpu page while that scale has no records."""
    defined = (ROOT / "conf" / "experiment" / experiment / f"{scale}.yaml").exists()
    lines = [f"Reproduce: `make reproduce TABLE={experiment} SCALE={scale}`." if defined else
             f"No {scale}-scale sweep is defined yet (conf/experiment/{experiment}/{scale}.yaml)."]
    paper = ROOT / "conf" / "experiment" / experiment / "paper.yaml"
    if scale == "cpu" and paper.exists() and not sweeps.records_dir(ROOT, experiment, "paper").exists():
        lines.append(f"Paper scale: not run; `make reproduce TABLE={experiment} SCALE=paper` fills it "
                     f"({scale_note(experiment, 'paper')})")
    return lines


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def write_figures(spec: dict, cells: list, scale: str, out: Path, stem: str) -> list[tuple[str, Path]]:
    """The table's figures as (link label, path): its learning curves (``curve``: one figure; ``curves``: one
    figure per metric listed, named after it; with ``curves_per_column: true``, one per column, each at the
    column's own ``curve`` metric and named after it), and with ranked columns a rank chart of every row per
    column."""
    columns = tables.normalise_columns(spec)
    title = f"{spec['title']} ({scale})"
    if spec.get("curves_per_column"):
        drawn = [(column["label"], learning_curves(
            [c for c in cells if c.column == column["label"]], column.get("curve", spec.get("curve")),
            f"{column['label']} ({scale})", out / f"{stem}_{slug(column['label'])}.png",
            column.get("curve_log", spec.get("curve_log", False)))) for column in columns]
    elif spec.get("curves"):
        drawn = [(metric, learning_curves(cells, metric, f"{title}: {metric}", out / f"{stem}_{slug(metric)}.png",
                                          spec.get("curve_log", False))) for metric in spec["curves"]]
    else:
        drawn = [("curves", learning_curves(cells, spec["curve"], title, out / f"{stem}.png",
                                            spec.get("curve_log", False)) if spec.get("curve") else None)]
    goals = {c["label"]: c.get("rank", spec.get("rank")) for c in columns if c.get("rank", spec.get("rank"))}
    if goals:
        drawn.append(("ranks", rank_chart(cells, [r["label"] for r in spec["rows"]], goals,
                                          f"rank per column, 1 = best; ≈: tied with the best (Welch) — {scale}",
                                          out / f"{stem}_ranks.png")))
    return [(label, path) for label, path in drawn if path]


def write_agreement(spec_path: Path, out_root: Path) -> str:
    """The agreement page (rnnbench.report.agreement), its CSV and figures; its line of the index."""
    spec = agreement.load_spec(spec_path)
    records_dir = ROOT / spec["records"]
    name = agreement.table_name(records_dir)
    (out_root / "tables").mkdir(parents=True, exist_ok=True)
    ours = [r for r in tables.load_records(records_dir) if r.get("implementation") == "rnnbench"]
    # Our side's code against HEAD, each comparison apart (the page holds comparisons run at different commits).
    warnings = [f"{task} comparison: {warning}" for task in sorted({r.get("task") for r in ours})
                for warning in provenance.warnings([r for r in ours if r.get("task") == task], "agreement",
                                                   records_dir.name, ROOT)]
    for warning in warnings:
        print(f"warning: {name}: {warning}", file=sys.stderr)
    page = agreement.agreement_table(records_dir, spec)
    (out_root / "tables" / f"{name}.md").write_text(page + "".join(f"\n**Warning:** {w}.\n" for w in warnings))
    (out_root / "tables" / f"{name}.csv").write_text(agreement.agreement_csv(records_dir, spec))
    figures = [agreement.agreement_figure(records_dir, out_root / "figures" / agreement.figure_name(records_dir, c),
                                          c, spec) for c in spec["comparisons"]]
    runs = len(tables.load_records(records_dir))
    print(f"{name}: {runs} runs (ours and the authors')")
    return (f"- [{spec['title']}](tables/{name}.md) — {runs} runs"
            + "".join(f", [figure](figures/{f.name})" for f in figures if f))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=RESULTS, help="where tables, figures and the index go")
    out_root = parser.parse_args().out
    index = ["# Results", "", "Generated by `make tables` from the run records in `results/records/`. "
             "Do not edit by hand.", "",
             "Wall time: the sum of a table's runs' `wall_s`; `make reproduce` runs "
             f"{PARALLEL_JOBS} jobs in parallel, so a sweep's elapsed time is about 1/{PARALLEL_JOBS} of it.", ""]
    for spec_path in sorted((ROOT / "conf" / "table").glob("*.yaml")):
        name = spec_path.stem
        if OmegaConf.load(spec_path).get("kind") == "agreement":      # ours beside the authors' code
            index.append(write_agreement(spec_path, out_root))
            continue
        for scale in SCALES:
            spec = tables.load_spec(spec_path, scale)
            experiment = spec.get("experiment", name)
            if sweeps.experiment_file(ROOT / "conf", experiment, scale).exists() and "tune" not in spec:
                search = sweeps.search_of(ROOT / "conf", experiment, scale)
                if search:                                     # the table reports the setting the sweep chose
                    spec["tune"] = sweeps.tune_of(search)
            records_dir = sweeps.records_dir(ROOT, experiment, scale)
            if scale != "cpu" and not records_dir.exists():
                continue
            records = tables.load_records(records_dir)
            cells, claims = tables.build_table(spec, records)
            stem = f"{name}_{scale}"
            warnings = provenance.warnings(records, experiment, scale, ROOT)
            for warning in warnings:
                print(f"warning: {stem}: {warning}", file=sys.stderr)
            out = out_root / "tables"
            out.mkdir(parents=True, exist_ok=True)
            note = scale_note(experiment, scale)
            runs = " ".join(filter(None, [tables.runs_line(records), provenance.carried_note(
                records, experiment, scale, ROOT)]))
            (out / f"{stem}.md").write_text(tables.markdown(spec, cells, claims, scale, note, runs, warnings,
                                                            reproduce_lines(experiment, scale)))
            (out / f"{stem}.tex").write_text(tables.latex(spec, cells, scale))
            pd.DataFrame(tables.csv_rows(cells)).to_csv(out / f"{stem}.csv", index=False)
            figures = write_figures(spec, cells, scale, out_root / "figures", stem)
            wall = tables.wall_time(records)
            index.append(f"- [{spec['title']}](tables/{stem}.md) — {scale} scale, {len(records)} runs"
                         + (f", sweep wall time {tables.duration(wall)} (≈ {tables.duration(wall / PARALLEL_JOBS)}"
                            " elapsed)" if records else "")
                         + "".join(f", [{label}](figures/{path.name})" for label, path in figures))
            if spec.get("summary") and records:                # prose written from these runs' numbers
                index += ["", "  " + " ".join(spec["summary"].split()), ""]
            revisions = provenance.describe(provenance.revisions(records)) or "none"
            print(f"{stem}: {len(records)} runs from code revisions {revisions}, "
                  f"{sum(c.verdict == 'not run' for c in cells)} cells not run")
    (out_root / "README.md").write_text("\n".join(index) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
