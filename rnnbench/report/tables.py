"""Published-vs-ours tables from run records (``conf/table/*.yaml`` → Markdown, CSV, LaTeX).

A table spec names its ``columns`` and ``rows``; each cell selects records by dotted paths
(``model``, ``config.model.hidden_size``, ``config.task.sampling``, …), merged from the row, the column and
the cell, and reads one value per record by a dotted path (``best.test/accuracy``, ``metrics.test/mse``,
``constants.baseline_loss``, ``params``; ``curve.train/accuracy@2000``: a column of the run's metrics.csv at a
step, ``curve.train/loss@1600-2000``: its mean over the logged rows after step 1600 up to 2000; the metric set by
the cell, else its row, else its column, else the spec), divided by a second path when
the cell sets ``normalize`` (e.g. ``constants.target_variance``). Published values sit beside ours with their
source and a tolerance (``relative`` and/or ``absolute``). ``claims`` state the papers' qualitative results as
comparisons (<, >, <=, >=) of a cell's mean with another cell's mean or a number, and are checked too.

A cell's statistic is mean ± std over its completed runs that did not explode (``exploded: true`` in the
record: the training loss left the useful range without going non-finite) or that *recovered after a spike*
(flagged for a spike above ``trainer.explosion_factor`` × the first logged loss, yet ending below that first
loss: :func:`spike_recovery`); recovered runs are in the mean and marked with the spike's size and step;
exploded (never came back), diverged and failed runs are counted beside it, so one bad seed cannot silently
dominate the mean.

A cell (or its column, or the spec) may ``tune`` a setting: ``{over: config.optimizer.lr, by: best.val/loss,
goal: min}`` reports the runs of the setting with the best validation mean (a search the sweep runs, the test split
never consulted; ``seeds: [0]`` lets only those seeds decide). A table whose experiment's sweep has a ``search``
tunes by it (rnnbench.report.sweeps.tune_of). ``rank: min | max`` marks each column's best cell and the cells a Welch
t-test cannot tell from it.

A spec's ``scales`` maps a scale (``cpu``) to the keys that differ in that scale's table (e.g. its own columns
and cells at a reduced width); with ``tolerance: null`` there, the published values are shown as the reference
they are, but a reduced-scale mean is not judged against them (verdict ``reduced scale``).

Cell verdicts: ``within`` / ``outside`` tolerance, ``reduced scale``, ``no published value``, ``not run`` (no record),
``metric missing`` (runs without the value), ``exploded``, ``diverged`` or ``failed`` (no usable run, at
least one exploded / diverged / failed one).
"""

from __future__ import annotations

import csv
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf
from scipy import stats

from rnnbench.records import CURVES, scan
from rnnbench.report import provenance
from rnnbench.report.specs import check_table

OPERATORS = {"<": np.less, ">": np.greater, ">=": np.greater_equal, "<=": np.less_equal}
CURVE = "curve."


def lookup(record: dict, path: str):
    """Resolve a dotted path whose keys may themselves contain dots or slashes (``best.test/loss``)."""
    node = record
    while path:
        if isinstance(node, dict) and path in node:
            return node[path]
        head, _, path = path.partition(".")
        if not isinstance(node, dict) or head not in node:
            return None
        node = node[head]
    return node


def matches(record: dict, select: dict) -> bool:
    return all(lookup(record, key) == value for key, value in select.items())


@dataclass
class Cell:
    row: str
    column: str
    mean: float
    std: float
    n: int
    n_exploded: int
    n_diverged: int
    n_failed: int
    n_capped: int               # runs whose evaluation was capped (trainer.eval_max_batches): never in a cell
    published: float | None
    verdict: str
    run_dirs: list              # every selected run, whatever its status
    values: list = field(default_factory=list)   # the values behind the mean
    used_dirs: list = field(default_factory=list)   # their runs (the figures draw these)
    tuning: str = ""            # the setting chosen by the cell's ``tune`` search, in words
    recovered: list = field(default_factory=list)   # spike_recovery() of its runs that recovered after a spike
    mark: str = ""              # best | tied (with the best, Welch t-test) | "" — set by rank_column


def curve_value(record: dict, column_at_step: str) -> float | None:
    """``name@step``: the value of column ``name`` in the row of ``step`` of the run's metrics.csv;
    ``name@low-high``: its mean over the rows with low < step <= high; None where there is none."""
    name, _, steps = column_at_step.rpartition("@")
    low, _, high = steps.rpartition("-")
    low, high = (int(low), int(high)) if low else (int(high) - 1, int(high))
    path = Path(record.get("run_dir") or "") / CURVES
    if not path.is_file():
        return None
    with open(path, newline="") as f:
        values = [float(r[name]) for r in csv.DictReader(f) if r.get(name) and low < int(r["step"]) <= high]
    return float(np.mean(values)) if values else None


def read_value(record: dict, metric: str, normalize: str | None = None) -> float | None:
    """``metric`` of ``record`` (``curve.`` + ``name@step``: from its curves), divided by its ``normalize`` path
    when given; None when missing or not finite."""
    value = curve_value(record, metric[len(CURVE):]) if metric.startswith(CURVE) else lookup(record, metric)
    divisor = lookup(record, normalize) if normalize else 1.0
    if value is None or not divisor:
        return None
    value = float(value) / float(divisor)
    return value if math.isfinite(value) else None


def within(mean: float, published: float, tolerance: dict) -> bool:
    bound = max(tolerance.get("absolute", 0.0), tolerance.get("relative", 0.0) * abs(published))
    return abs(mean - published) <= bound


def train_losses(record: dict) -> tuple[tuple[int, float], ...]:
    """(step, train/loss) of every logged row of the run's metrics.csv."""
    return logged_losses(str(Path(record.get("run_dir") or "") / CURVES))


@cache
def logged_losses(path: str) -> tuple[tuple[int, float], ...]:
    """Read once per process: a cell, its search and its figure all ask for the same runs' curves."""
    if not Path(path).is_file():
        return ()
    with open(path, newline="") as f:
        return tuple((int(r["step"]), float(r["train/loss"])) for r in csv.DictReader(f) if r.get("train/loss"))


def spike_recovery(record: dict) -> dict | None:
    """For a run flagged exploded by a spike (its ``explosion`` loss above ``explosion_factor`` × the first
    logged loss) whose last logged training loss is below its first: ``{"step", "factor"}``, the spike's step and
    its size in first losses; None for any other run (not flagged, flagged for ending above 1.5× its first loss,
    or never back below its first loss: those stay exploded)."""
    explosion = record.get("explosion") if record.get("exploded") else None
    losses = train_losses(record) if explosion else []
    if not losses or not losses[0][1] > 0:
        return None
    first, last = losses[0][1], losses[-1][1]
    factor = (record.get("config") or {}).get("trainer", {}).get("explosion_factor", 10)
    if explosion["loss"] <= factor * first or not last < first:
        return None
    return {"step": explosion["step"], "factor": explosion["loss"] / first}


def usable(records: list[dict]) -> list[dict]:
    """The records a cell's statistic is computed on: completed, evaluated in full, not exploded (a run that
    recovered after a spike counts)."""
    return [r for r in records if r["status"] == "completed" and not r.get("eval_capped")
            and (not r.get("exploded") or spike_recovery(r))]


def tuned(records: list[dict], tune: dict) -> tuple[object, list[dict], list]:
    """The records of the best setting of ``tune["over"]`` (a dotted path, e.g. ``config.optimizer.lr``): the
    setting whose usable runs have the best mean ``tune["by"]`` (``goal`` min or max; e.g. ``best.val/loss``, never
    a test metric); with the setting and the settings searched. With ``tune["seeds"]``, only those
    seeds' runs decide (a search run on seed 0, the other seeds run at the chosen setting only: see
    rnnbench.report.sweeps). No usable run: (None, records, settings)."""
    settings = sorted({repr(lookup(r, tune["over"])): lookup(r, tune["over"]) for r in records}.items())
    deciding = [r for r in usable(records) if "seeds" not in tune or r.get("seed") in tune["seeds"]]
    scores = {}
    for key, _ in settings:
        values = [v for v in (read_value(r, tune["by"]) for r in deciding
                              if repr(lookup(r, tune["over"])) == key) if v is not None]
        if values:
            scores[key] = float(np.mean(values))
    searched = [value for _, value in settings]
    if not scores:
        return None, records, searched
    best = (min if tune.get("goal", "min") == "min" else max)(scores, key=scores.get)
    return dict(settings)[best], [r for r in records if repr(lookup(r, tune["over"])) == best], searched


def build_cell(records: list[dict], row: dict, column: dict, spec: dict) -> Cell:
    cell_spec = (row.get("cells") or {}).get(column["label"], {})
    select = {**row.get("select", {}), **column.get("select", {}), **cell_spec.get("select", {})}
    metric = cell_spec.get("metric") or row.get("metric") or column.get("metric") or spec["metric"]
    normalize = cell_spec.get("normalize") or column.get("normalize") or spec.get("normalize")
    published = cell_spec.get("published", (row.get("published") or {}).get(column["label"]))
    tune = cell_spec.get("tune") or column.get("tune") or spec.get("tune")
    searched = [r for r in records if matches(r, select)]
    setting, chosen, settings = tuned(searched, tune) if tune else (None, searched, [])
    n_capped = sum(bool(r.get("eval_capped")) for r in chosen)
    completed = [r for r in chosen if r["status"] == "completed" and not r.get("eval_capped")]
    kept = usable(chosen)
    used = [(r, v) for r, v in ((r, read_value(r, metric, normalize)) for r in kept) if v is not None]
    values = [v for _, v in used]
    n_exploded = len(completed) - len(kept)
    n_diverged = sum(r["status"] == "diverged" for r in chosen)
    n_failed = sum(r["status"] in ("failed", "interrupted") for r in chosen)
    mean = float(np.mean(values)) if values else math.nan
    std = float(np.std(values, ddof=1)) if len(values) > 1 else (0.0 if values else math.nan)
    if not values:
        verdict = ("metric missing" if kept else "exploded" if n_exploded else "diverged" if n_diverged
                   else "failed" if n_failed else "evaluation capped" if n_capped else "not run")
    elif published is None:
        verdict = "no published value"
    else:
        tolerance = column.get("tolerance", spec.get("tolerance", {}))
        verdict = ("reduced scale" if tolerance is None else
                   "within" if within(mean, published, tolerance) else "outside")
    tuning = (f"{tune['over'].rsplit('.', 1)[-1]} {setting} of {len(settings)} by {tune['by'].rsplit('.', 1)[-1]}"
              if tune and setting is not None else "")
    grid = sorted(v for v in settings if isinstance(v, (int, float)))
    if tuning and len(grid) > 2 and setting in (grid[0], grid[-1]):
        tuning += ", at the grid's edge"                # the best may lie outside the searched range
    recovered = [spike for spike in (spike_recovery(r) for r, _ in used) if spike]
    return Cell(row["label"], column["label"], mean, std, len(values), n_exploded, n_diverged, n_failed, n_capped,
                published, verdict, sorted(r["run_dir"] for r in chosen), values,
                sorted(r["run_dir"] for r, _ in used), tuning, recovered)


def rank_column(cells: list[Cell], goal: str, alpha: float) -> None:
    """Mark the column's best cell (lowest or highest mean, ``goal`` min | max) ``best``, and every other cell
    whose runs a two-sided Welch t-test cannot tell from the best's at level ``alpha`` ``tied`` (both need two
    or more runs; cells with one run are left unmarked)."""
    ranked = [c for c in cells if c.n]
    if not ranked:
        return
    best = (min if goal == "min" else max)(ranked, key=lambda c: c.mean)
    best.mark = "best"
    for cell in ranked:
        if cell is not best and cell.n > 1 and best.n > 1:
            with warnings.catch_warnings():          # near-identical samples: scipy warns of precision loss
                warnings.simplefilter("ignore", RuntimeWarning)
                p_value = stats.ttest_ind(cell.values, best.values, equal_var=False).pvalue
            if not p_value < alpha:                       # a NaN p (two constant samples) cannot separate them
                cell.mark = "tied"


def normalise_columns(spec: dict) -> list[dict]:
    return [{"label": c} if isinstance(c, str) else c for c in spec["columns"]]


def build_table(spec: dict, records: list[dict]) -> tuple[list[Cell], list[dict]]:
    """All cells, row by row, and the claims with their verdicts."""
    columns = normalise_columns(spec)
    cells = [build_cell(records, row, column, spec) for row in spec["rows"] for column in columns]
    for column in columns:
        goal = column.get("rank", spec.get("rank"))
        if goal:
            rank_column([c for c in cells if c.column == column["label"]], goal, spec.get("rank_alpha", 0.05))
    index = {(c.row, c.column): c for c in cells}
    claims = []
    def operand(side) -> float:                         # a cell [row, column]'s mean, or a number
        return float(side) if isinstance(side, (int, float)) else index[tuple(side)].mean

    for claim in spec.get("claims", []):
        left, operator, right = claim["compare"]
        a, b = operand(left), operand(right)
        empty = [index[tuple(side)] for side in (left, right) if not isinstance(side, (int, float))
                 and index[tuple(side)].n == 0]
        fmt = spec.get("format", ".4g")
        if not empty:
            verdict, ours = ("holds" if OPERATORS[operator](a, b) else "does not hold"), f"ours: {a:{fmt}} vs {b:{fmt}}"
        elif all(c.verdict == "not run" for c in empty):
            verdict, ours = "not run", ""
        else:                                           # runs exist, none usable (exploded, diverged, failed)
            verdict, ours = "not measured", "; ".join(f"{c.row} ({c.column}): {c.verdict}" for c in empty)
        claims.append({"text": claim["text"], "verdict": verdict, "ours": ours})
    return cells, claims


def format_value(value: float | None, fmt: str) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:{fmt}}"


def cell_text(cell: Cell, fmt: str, count_exploded: bool = False) -> str:
    """A cell's text; its exploded runs are counted when there are any, or always with ``count_exploded``."""
    ours = f"{format_value(cell.mean, fmt)} ± {format_value(cell.std, fmt)} (n={cell.n})" if cell.n else "—"
    exploded = cell.n_exploded or (count_exploded and cell.run_dirs)
    extra = [f"{cell.n_exploded} of {len(cell.run_dirs)} exploded"] if exploded else []
    if cell.recovered:                                  # in the mean, marked
        worst = max(cell.recovered, key=lambda spike: spike["factor"])
        extra.append(f"{len(cell.recovered)} of {cell.n} recovered after a spike, up to {worst['factor']:.2g}× the "
                     f"first loss (step {worst['step']})")
    if cell.n_diverged or cell.n_failed:                # "+": beside the n runs of the mean
        extra.append(f"{'+' if cell.n else ''}{cell.n_diverged} diverged, {cell.n_failed} failed")
    if cell.n_capped:
        extra.append(f"{cell.n_capped} with capped evaluation left out")
    if cell.tuning:
        extra.insert(0, cell.tuning)
    ours = {"best": f"**{ours}** best", "tied": f"{ours} ≈ best"}.get(cell.mark, ours)
    if cell.published is None:               # ours alone, or why there is nothing (not run, exploded, ...)
        text = ours if cell.verdict == "no published value" else f"{ours} · {cell.verdict}"
    else:
        text = f"{ours} · published {format_value(cell.published, fmt)} · {cell.verdict}"
    return text + (f" ({'; '.join(extra)})" if extra else "")


def column_formats(spec: dict) -> dict[str, str]:
    return {c["label"]: c.get("format", spec.get("format", ".4g")) for c in normalise_columns(spec)}


def duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def wall_time(records: list[dict]) -> float:
    """Seconds spent by all runs together (sum of ``wall_s``)."""
    return sum(r.get("wall_s") or 0.0 for r in records)


def runs_line(records: list[dict]) -> str:
    if not records:
        return "Runs: none."
    return (f"Runs: {len(records)}, code revisions {provenance.describe(provenance.revisions(records))}; "
            f"wall time {duration(wall_time(records))} (sum of the runs' wall_s).")


def table_rows(spec: dict, cells: list[Cell]) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """Column headers and each row's label and cell texts; with ``exploded_column: true`` in the spec, a last
    column counts the row's exploded runs (k of n); with ``exploded_column: cell``, every cell counts its own."""
    formats = column_formats(spec)
    headers = list(formats) + (["exploded runs"] if spec.get("exploded_column") is True else [])
    rows = []
    for row in spec["rows"]:
        row_cells = [c for c in cells if c.row == row["label"]]
        texts = [cell_text(c, formats[c.column], spec.get("exploded_column") == "cell") for c in row_cells]
        if spec.get("exploded_column") is True:
            texts.append(f"{max(c.n_exploded for c in row_cells)} of {max(len(c.run_dirs) for c in row_cells)}")
        rows.append((row["label"], texts))
    return headers, rows


def markdown(spec: dict, cells: list[Cell], claims: list[dict], scale: str, note: str, runs: str = "",
             warnings: Sequence[str] = (), commands: Sequence[str] = ()) -> str:
    """The table page; ``runs`` (see :func:`runs_line`), provenance ``warnings`` and the ``commands`` that
    (re)produce it go under its header."""
    columns, rows = table_rows(spec, cells)
    tolerance = ("none: a reduced scale, published values shown for reference" if spec.get("tolerance", {}) is None
                 else dict(spec.get("tolerance", {})) or "none")
    lines = [f"# {spec['title']}", "", f"Scale: **{scale}**. {note}".rstrip(), "",
             f"Published: {spec['source']}. Tolerance: {tolerance}. "
             "Cells: ours as mean ± std over the completed runs that did not explode (n) · published · verdict "
             "(ours alone where nothing is published); "
             "exploded runs (a training-loss spike above 10× the first logged loss, or an end above 1.5× it) are "
             "left out of the mean and counted (k of n exploded; verdict exploded when all did), as are diverged "
             "and failed ones, but a run that spiked and came back below its first loss is in the mean, marked "
             "\"recovered after a spike\" with the spike's size and step; claims compare these means.", ""]
    if spec.get("rank") or any(c.get("rank") for c in normalise_columns(spec)):
        lines += [f"**best**: the column's best mean; ≈ best: a two-sided Welch t-test cannot tell its runs from the "
                  f"best's (p ≥ {spec.get('rank_alpha', 0.05)}; cells with one run are not tested).", ""]
    lines += [runs, ""] if runs else []
    lines += [line for command in commands for line in (command, "")]
    lines += [f"**Warning:** {warning}." for warning in warnings] + ([""] if warnings else [])
    lines += ["| | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    lines += [f"| {label} | " + " | ".join(texts) + " |" for label, texts in rows]
    if spec.get("notes"):
        lines += [""] + [f"Note: {note}" for note in spec["notes"]]
    if spec.get("summary") and any(c.n for c in cells):
        lines += ["", "What it shows: " + " ".join(spec["summary"].split())]
    if claims:
        lines += ["", "Claims of the paper, checked on our runs:", ""]
        lines += [f"- {c['text']}: **{c['verdict']}**" + (f" ({c['ours']})" if c["ours"] else "") for c in claims]
    return "\n".join(lines) + "\n"


def latex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                 ("±", r"$\pm$"), ("·", r"$\cdot$"), ("—", "--"), ("~", r"$\sim$")):
        text = text.replace(a, b)
    return text


def latex(spec: dict, cells: list[Cell], scale: str) -> str:
    columns, rows = table_rows(spec, cells)
    lines = [r"\begin{tabular}{l" + "l" * len(columns) + "}", r"\toprule",
             " & ".join(["", *map(latex_escape, columns)]) + r" \\", r"\midrule"]
    lines += [" & ".join(map(latex_escape, [label, *texts])) + r" \\" for label, texts in rows]
    lines += [r"\bottomrule", r"\end{tabular}",
              f"% {latex_escape(spec['title'])} ({scale} scale); published: {latex_escape(spec['source'])}"]
    return "\n".join(lines) + "\n"


def csv_rows(cells: list[Cell]) -> list[dict]:
    return [{"row": c.row, "column": c.column, "mean": c.mean, "std": c.std, "n": c.n, "n_exploded": c.n_exploded,
             "n_diverged": c.n_diverged, "n_failed": c.n_failed, "n_capped": c.n_capped, "published": c.published,
             "verdict": c.verdict}
            for c in cells]


def load_spec(path: Path, scale: str | None = None) -> dict:
    """A table spec, its keys checked (rnnbench.report.specs); with ``scale``, its ``scales.<scale>`` keys
    replace the top-level ones."""
    spec = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    if spec.get("kind") != "agreement":                 # an agreement page has its own keys (rnnbench.report.agreement)
        check_table(spec, f"{Path(path).stem}")
    overrides = (spec.pop("scales", None) or {}).get(scale) or {}
    return {**spec, **overrides}


def load_records(root: Path) -> list[dict]:
    return scan(root) if Path(root).exists() else []
