"""Agreement with the authors' code (issue 27): the nnRNN authors' copytask.py and ours, the same settings and
budget on the same machine, compared within seed spread.

One table of settings per model (:data:`SETTINGS`: the supplement's copy-task hyper-parameters, as in
``conf/paper/copy/<model>.yaml``) gives both command lines: :func:`authors_arguments` (copytask.py's flags) and
:func:`our_overrides` (``run.py`` overrides). The authors' script runs under :data:`SHIM_MODULE`, written by
:func:`write_shims` into a scratch directory (``python -m nnrnn_shims copytask.py ...``): torch ≥ 2
compatibility and the fix of an initialisation bug of their last commits (:data:`SHIMS` says what each does).
Its stdout (one line per update) is parsed by :func:`parse_copytask_log` and kept as a run record in our format
(:func:`write_authors_record`), ``implementation: authors``; our runs' records get ``implementation: rnnbench``
added after the run (:func:`mark_ours`). :func:`agreement_table` compares the two sides per model: the mean
training loss (and accuracy) over the last ``window`` updates, both logged on fresh training batches, with a
Welch t-test, and the median time per update.
"""

from __future__ import annotations

import csv
import io
import math
import re
import statistics
import warnings
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf
from scipy import stats

from rnnbench.records import CURVES, RESULTS, read_record, scan, write_curves, write_record
from rnnbench.train import TrainerConfig, explosion

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "conf" / "table" / "agreement.yaml"
AUTHORS_REPOSITORY = "KyleGoyette/nnRNN"
AUTHORS_COMMIT = "294d4ff"
IMPLEMENTATIONS = ("rnnbench", "authors")
UPDATES = 1500                  # copytask.py's n_steps, hard-coded; our budget is set to match
LOG_EVERY = 10                  # our runs' trainer.log_every: the log points the explosion rule reads
RECORD_WINDOW = 50              # the record's train/* metrics: the last 50 updates (ours: the last row at log_every 50)

# Settings shared by every model of a comparison (copytask.py's flags).
COMMON = {"copy": {"nhid": 128, "T": 200, "batch": 10, "optimizer": "RMSprop"}}
# The supplement's copy-task table (Kerg et al. 2019), in copytask.py's flags; ``label`` is the paper's name.
SETTINGS = {"copy": {
    "rnn": {"label": "RNN", "net-type": "RNN", "lr": 1e-3, "alpha": 0.9, "rinit": "xavier"},
    "rnn_orth": {"label": "RNN-orth", "net-type": "RNN", "lr": 2e-4, "alpha": 0.99, "rinit": "random"},
    "exprnn": {"label": "expRNN", "net-type": "expRNN", "lr": 1e-3, "lr_orth": 1e-4, "alpha": 0.99,
               "rinit": "henaff"},
    "nnrnn": {"label": "nnRNN", "net-type": "nnRNN", "lr": 5e-4, "lr_orth": 1e-6, "alpha": 0.99, "alam": 1e-4,
              "Tdecay": 1e-6, "rinit": "henaff"},
    "lstm": {"label": "LSTM", "net-type": "LSTM", "lr": 5e-4, "alpha": 0.99},
}}
# Flags of the script's RNN cells (its LSTM has one fixed init and no non-linearity option).
CELL_FLAGS = {"iinit": "xavier", "nonlin": "modrelu"}
# copytask.py flag → our config key; its values where ours differ.
OUR_KEYS = {"nhid": "model.hidden_size", "T": "task.T", "batch": "task.batch_size", "lr": "optimizer.lr",
            "alpha": "optimizer.alpha", "lr_orth": "param_groups.lr_orth", "alam": "model.delta",
            "Tdecay": "param_groups.triangular_decay", "rinit": "model.recurrent_init",
            "iinit": "model.input_init", "nonlin": "model.nonlinearity", "optimizer": "optimizer._target_"}
OUR_VALUES = {"rinit": {"xavier": "glorot_normal", "random": "orthogonal", "henaff": "henaff", "cayley": "cayley"},
              "optimizer": {"RMSprop": "torch.optim.RMSprop"}}
# What the script does without a flag, as our settings: its input (no --onehot) and output layer, its RNN cell's
# input bias (nn.Linear's default) and its LSTM's per-gate xavier_normal_ layers (one bias per gate).
IMPLIED = {"copy": ["task.encoding=scalar", "task.head_init=xavier_normal"]}
IMPLIED_MODEL = {"rnn": ["model.bias_init=default"], "rnn_orth": ["model.bias_init=default"],
                 "lstm": ["model.weight_init=gate_glorot_normal", "model.hidden_bias=false"]}

SHIMS = [
    "torch.solve(B, A), removed in torch 1.9 (expRNN/exp_numpy.py's Padé step of expm, used by every RNN cell but "
    "LSTM) → torch.linalg.solve(A, B)",
    "RNN_Cell.OrthoRNNCell.reset_parameters (nnRNN) as at 9b5a647: since 53eea4a it builds P from the uninitialised "
    "log_P (torch.Tensor memory; here expm failed on a NaN) instead of the --rinit draw and leaves the input weights "
    "at torch's default instead of --iinit; the shim sets U by --iinit, log_P by --rinit, P = expm(log_P)",
]
SHIM_MODULE = '''"""Compatibility shims for KyleGoyette/nnRNN under torch >= 2, written by rnnbench/report/agreement.py.

    python -m nnrnn_shims SCRIPT.py [ARGS]      (from the nnRNN checkout, this directory on PYTHONPATH)
"""
import collections
import runpy
import sys

import torch

Solution = collections.namedtuple("Solution", ["solution", "LU"])


def solve(B, A, *, out=None):
    """torch < 1.9's torch.solve(B, A): X with A X = B (LU is not computed; the scripts read only X)."""
    return Solution(torch.linalg.solve(A, B), None)


def orthornncell_init(cell):
    """OrthoRNNCell's initialisation at 9b5a647: U by the input initialiser, the skew log_P by the recurrent one,
    P its exponential."""
    cell.i_initializer(cell.U.weight.data)
    cell.log_P.data = torch.as_tensor(cell.r_initializer(cell.hidden_size))
    cell.P.data = cell._B(False)


if __name__ == "__main__":
    torch.solve = solve
    import RNN_Cell
    RNN_Cell.OrthoRNNCell.reset_parameters = orthornncell_init
    script, sys.argv = sys.argv[1], sys.argv[1:]
    runpy.run_path(script, run_name="__main__")
'''
UPDATE_LINE = re.compile(r"^Update (\d+), Time for Update: (\S+) , Average Loss: (\S+), Accuracy: (\S+)$")


def parse_copytask_log(text: str) -> list[dict]:
    """Rows ``{step, train/loss, train/accuracy, train/update_s}`` from copytask.py's stdout, one per update line
    (``Update i, Time for Update: s , Average Loss: l, Accuracy: a``); other lines are skipped."""
    rows = []
    for line in text.splitlines():
        match = UPDATE_LINE.match(line.strip())
        if match:
            step, seconds, loss, accuracy = match.groups()
            rows.append({"step": int(step), "train/loss": float(loss), "train/accuracy": float(accuracy),
                         "train/update_s": float(seconds)})
    return rows


def script_flags(comparison: str, model: str) -> dict:
    """copytask.py's flags for ``model`` (our model name), the seed left out: one row of :data:`SETTINGS`."""
    setting = SETTINGS[comparison][model]
    flags = {"net-type": setting["net-type"], **COMMON[comparison]}
    flags.update((key, value) for key, value in setting.items() if key not in ("label", "net-type"))
    if setting["net-type"] != "LSTM":
        flags.update(CELL_FLAGS)
    return flags


def authors_arguments(comparison: str, model: str, seed: int) -> list[str]:
    """copytask.py's command-line arguments for ``model`` and ``seed``."""
    flags = {**script_flags(comparison, model), "random-seed": seed}
    return [part for key, value in flags.items() for part in (f"--{key}", str(value))]


def our_overrides(comparison: str, model: str, seed: int) -> list[str]:
    """``run.py`` overrides for the same settings and budget as :func:`authors_arguments`."""
    overrides = [f"task={comparison}", f"model={model}", f"seed={seed}", f"trainer.max_steps={UPDATES}"]
    overrides += [f"{OUR_KEYS[key]}={OUR_VALUES.get(key, {}).get(value, value)}"
                  for key, value in script_flags(comparison, model).items() if key in OUR_KEYS]
    return overrides + IMPLIED[comparison] + IMPLIED_MODEL.get(model, [])


def write_shims(directory: Path) -> Path:
    """Write :data:`SHIM_MODULE` as ``nnrnn_shims.py`` into ``directory`` (for PYTHONPATH); return it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "nnrnn_shims.py").write_text(SHIM_MODULE)
    return directory


def per_update(rows: list[dict], name: str) -> np.ndarray:
    """``name`` at every update 1..last: a row at step s holds the mean of the updates since the row before it
    (one update for the authors' rows, ``log_every`` for ours), so its value fills those updates."""
    points = [(int(r["step"]), float(r[name])) for r in rows if r.get(name) not in (None, "")]
    values = np.full(points[-1][0] if points else 0, np.nan)
    previous = 0
    for step, value in points:
        values[previous:step] = value
        previous = step
    return values


def tail_mean(rows: list[dict], name: str, window: int) -> float | None:
    """Mean of ``name`` over the last ``window`` updates; None without rows or with a non-finite value there."""
    values = per_update(rows, name)[-window:]
    return float(values.mean()) if len(values) and np.isfinite(values).all() else None


def exploded(rows: list[dict]) -> bool:
    """Our trainer's explosion rule (rnnbench.train.explosion, its default factor) on the log points our runs
    have at ``trainer.log_every`` :data:`LOG_EVERY`, either side's rows: step 1 alone, then the mean to each
    multiple of it."""
    losses = per_update(rows, "train/loss")
    ends = [1, *range(LOG_EVERY, len(losses) + 1, LOG_EVERY)]
    logged = [{"step": end, "train/loss": float(losses[start:end].mean())}
              for start, end in zip([0, *ends[:-1]], ends, strict=True)]
    return explosion(logged, TrainerConfig.explosion_factor) is not None


def write_authors_record(run_dir: Path, *, model: str, seed: int, comparison: str, stdout: str, returncode: int,
                         error: str, wall_s: float, config: dict) -> dict:
    """One authors' run as our run record: ``result.json`` (``implementation: authors``; status completed, or
    diverged at the first non-finite loss, or failed when the script exited early) and ``metrics.csv`` (every
    update). ``metrics`` holds the training loss and accuracy over the last 50 updates."""
    rows = parse_copytask_log(stdout)
    record = {"status": "completed", "implementation": "authors", "model": model, "task": comparison, "seed": seed,
              "steps": rows[-1]["step"] if rows else 0, "wall_s": wall_s, "config": config,
              "metrics": {name: tail_mean(rows, name, RECORD_WINDOW) for name in ("train/loss", "train/accuracy")}}
    bad = next((r["step"] for r in rows if not math.isfinite(r["train/loss"])), None)
    if returncode != 0 or len(rows) < UPDATES:
        record.update(status="failed", error=error or f"exit {returncode} after {len(rows)} updates")
    elif bad is not None:
        record.update(status="diverged", diverged_at=bad)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_curves(run_dir, rows)
    write_record(run_dir, record)
    return record


def mark_ours(run_dir: Path) -> dict | None:
    """Add ``implementation: rnnbench`` to our run's record (once); return the record."""
    record = read_record(run_dir)
    if record is not None and "implementation" not in record:
        record["implementation"] = "rnnbench"
        write_record(run_dir, record)
    return record


def has_result(run_dir: Path) -> bool:
    record = read_record(run_dir)
    return record is not None and record.get("status") in RESULTS


def read_curves(record: dict) -> list[dict]:
    path = Path(record["run_dir"]) / CURVES
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def seconds_per_update(record: dict, rows: list[dict]) -> float | None:
    """The run's median time per update: the authors' per-update times; ours from ``train/steps_per_s`` of each
    log interval after the first step."""
    if record.get("implementation") == "authors":
        times = [float(r["train/update_s"]) for r in rows if r.get("train/update_s")]
    else:
        times = [1 / float(r["train/steps_per_s"]) for r in rows
                 if r.get("train/steps_per_s") and int(r["step"]) > 1 and float(r["train/steps_per_s"]) > 0]
    return statistics.median(times) if times else None


def load_spec(spec: dict | Path | None = None) -> dict:
    if isinstance(spec, dict):
        return spec
    return OmegaConf.to_container(OmegaConf.load(spec or SPEC), resolve=True)


def welch(a: list[float], b: list[float]) -> float:
    """Two-sided Welch t-test p-value (NaN for two constant samples)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def summary(values: list[float]) -> tuple[float, float, int]:
    """(mean, sample std, n); NaN mean without values, std 0 with one."""
    if not values:
        return math.nan, math.nan, 0
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0, len(values)


def verdict(ours: list[float], theirs: list[float], tolerance: float, alpha: float) -> tuple[float, str]:
    """The Welch p-value and ``agrees`` (the test cannot tell the sides apart, p ≥ alpha or both samples
    constant, and the means differ by at most ``tolerance``) or ``differs``, with the criterion it fails;
    ``too few runs`` under two a side."""
    if min(len(ours), len(theirs)) < 2:
        return math.nan, "too few runs"
    p = welch(ours, theirs)
    reasons = [f"p < {alpha:g}"] if p < alpha else []                       # a NaN p cannot separate them
    if abs(np.mean(ours) - np.mean(theirs)) > tolerance:
        reasons.append(f"difference beyond ±{tolerance:g}")
    return p, f"differs ({', '.join(reasons)})" if reasons else "agrees"


def comparisons(records: list[dict], spec: dict) -> list[dict]:
    """Per (comparison, model) with records, per quantity of the spec: each side's (mean, std, n) over its
    completed runs, the difference ours − authors', the Welch p and the verdict; ``exploded``: each side's completed
    runs the explosion rule flags; ``timing``: each side's median over runs of the run's median s/update;
    ``other``: the statuses of each side's runs that did not complete."""
    window = spec["window"]
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        groups.setdefault((record.get("task"), record.get("model"), record.get("implementation")), []).append(record)
    results = []
    for comparison in spec["comparisons"]:
        for model, setting in SETTINGS[comparison].items():
            runs = {side: groups.get((comparison, model, side), []) for side in IMPLEMENTATIONS}
            if not any(runs.values()):
                continue
            done = {side: [(r, read_curves(r)) for r in rs if r["status"] == "completed"] for side, rs in runs.items()}
            quantities = []
            for quantity in spec["quantities"]:
                values = {side: [v for v in (tail_mean(rows, quantity["name"], window) for _, rows in pairs)
                                 if v is not None] for side, pairs in done.items()}
                p, outcome = verdict(values["rnnbench"], values["authors"], quantity["tolerance"], spec["alpha"])
                quantities.append({**quantity, **{side: summary(v) for side, v in values.items()},
                                   "difference": summary(values["rnnbench"])[0] - summary(values["authors"])[0],
                                   "p": p, "verdict": outcome})
            blown = {side: sum(exploded(rows) for _, rows in pairs) for side, pairs in done.items()}
            timing = {side: [t for t in (seconds_per_update(r, rows) for r, rows in pairs) if t is not None]
                      for side, pairs in done.items()}
            results.append({"comparison": comparison, "model": model, "label": setting["label"],
                            "quantities": quantities, "exploded": blown,
                            "timing": {side: statistics.median(t) if t else math.nan for side, t in timing.items()},
                            "other": {side: [r["status"] for r in rs if r["status"] != "completed"]
                                      for side, rs in runs.items()}})
    return results


def number(value: float, fmt: str) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:{fmt}}"


def side_text(result: dict, quantity: dict, side: str) -> str:
    """A side's mean ± std (n), the runs among them that exploded, and its runs that did not complete."""
    (mean, std, n), fmt = quantity[side], quantity.get("format", ".4g")
    blown, other = result["exploded"][side], result["other"][side]
    text = f"{number(mean, fmt)} ± {number(std, fmt)} (n={n}{f'; {blown} exploded' if blown else ''})" if n else "—"
    return text + (f" (+{len(other)} {'/'.join(sorted(set(other)))})" if other else "")


def revisions(records: list[dict]) -> str:
    """Our records' code revisions (``+dirty`` where tracked files differed) and the authors' commits, counted."""
    counts: dict[str, int] = {}
    for record in records:
        if record.get("implementation") == "authors":
            name = f"{AUTHORS_REPOSITORY}@{(record['config'].get('commit') or '?')[:7]}"
        else:
            code = record.get("code") or {}
            name = f"rnnbench@{(code.get('commit') or '?')[:7]}{'+dirty' if code.get('dirty') else ''}"
        counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{name} ({count})" for name, count in sorted(counts.items()))


def table_name(records_dir: Path) -> str:
    """``agreement_<scale>``: the page's name for records in ``results/records/agreement/<scale>``."""
    return f"agreement_{Path(records_dir).name}"


def figure_name(records_dir: Path, comparison: str) -> str:
    return f"{table_name(records_dir)}_{comparison}.png"


def agreement_table(records_dir: Path, spec: dict | Path | None = None) -> str:
    """The agreement page (Markdown) from the records under ``records_dir`` and the table spec (default
    ``conf/table/agreement.yaml``)."""
    spec = load_spec(spec)
    records = scan(records_dir) if Path(records_dir).exists() else []
    results = comparisons(records, spec)
    tolerances = ", ".join(f"{q['label']} {q['tolerance']:g}" for q in spec["quantities"])
    wall = {side: sum(r.get("wall_s") or 0.0 for r in records if r.get("implementation") == side)
            for side in IMPLEMENTATIONS}
    lines = [f"# {spec['title']}", "", f"Authors' code: {spec['source']}. Compared: {spec['metric']}.", "",
             f"Cells: mean ± std over the completed runs (n; those among them our trainer's explosion rule flags, a "
             f"logged loss above 10× the first, counted), runs that did not complete counted beside; difference "
             f"ours − authors'; Welch: two-sided Welch t-test. Verdict **agrees**: p ≥ {spec['alpha']} and "
             f"|difference| ≤ the tolerance ({tolerances}); **differs** otherwise.", "",
             f"Runs: {len(records)}, {revisions(records) or 'none'}; wall time ours "
             f"{wall['rnnbench'] / 60:.0f} min, authors' {wall['authors'] / 60:.0f} min (sum of wall_s).", "",
             "| model | quantity | ours | authors' | ours − authors' | Welch p | verdict |",
             "|---|---|---|---|---|---|---|"]
    for result in results:
        for q in result["quantities"]:
            cells = [result["label"], q["label"], side_text(result, q, "rnnbench"), side_text(result, q, "authors"),
                     number(q["difference"], "+" + q.get("format", ".4g")), number(q["p"], ".3f"), q["verdict"]]
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Time per update (s; each side's median over runs of the run's median; the authors' from "
              "'Time for Update', ours from train/steps_per_s; runs one at a time, nice 10, beside other jobs):", "",
              "| model | ours | authors' | authors' / ours |", "|---|---|---|---|"]
    for result in results:
        ours, theirs = result["timing"]["rnnbench"], result["timing"]["authors"]
        lines.append(f"| {result['label']} | {number(ours, '.4f')} | {number(theirs, '.4f')} | "
                     f"{number(theirs / ours if ours else math.nan, '.2f')} |")
    shims = sorted({s for r in records if r.get("implementation") == "authors" for s in r["config"].get("shims", [])})
    if shims:
        lines += ["", "Shims applied to the authors' code (from its records):", ""] + [f"- {s}" for s in shims]
    figures = [figure_name(records_dir, c) for c in spec["comparisons"] if any(r["comparison"] == c for r in results)]
    if figures:
        lines += ["", "Training-loss curves: " + ", ".join(f"[{f}](../figures/{f})" for f in figures) + "."]
    lines += [""] + [f"Note: {' '.join(note.split())}" for note in spec.get("notes", [])]
    return "\n".join(lines) + "\n"


def agreement_csv(records_dir: Path, spec: dict | Path | None = None) -> str:
    """The table's numbers, one row per (comparison, model, quantity), then one of s/update per model."""
    spec = load_spec(spec)
    records = scan(records_dir) if Path(records_dir).exists() else []
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["comparison", "model", "quantity", "ours_mean", "ours_std", "ours_n", "authors_mean",
                     "authors_std", "authors_n", "difference", "welch_p", "verdict"])
    for result in comparisons(records, spec):
        head = [result["comparison"], result["model"]]
        for q in result["quantities"]:
            writer.writerow([*head, q["name"], *q["rnnbench"], *q["authors"], q["difference"], q["p"], q["verdict"]])
        writer.writerow([*head, "s_per_update", result["timing"]["rnnbench"], "", "", result["timing"]["authors"],
                         "", "", "", "", ""])
    return buffer.getvalue()


def agreement_figure(records_dir: Path, out: Path, comparison: str, spec: dict | Path | None = None,
                     width: int = 10, top: float = 10.0) -> Path | None:
    """Both sides' training-loss curves per model (means over ``width``-update bins: the mean over runs and the
    min–max band; the axis cut at ``top``, above which losses are explosions) with the copy task's memoryless
    baseline; None without completed runs."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rnnbench.tasks.copy import copy_baseline

    spec = load_spec(spec)
    records = [r for r in (scan(records_dir) if Path(records_dir).exists() else [])
               if r.get("task") == comparison and r["status"] == "completed"]
    models = [m for m in SETTINGS[comparison] if any(r.get("model") == m for r in records)]
    if not models:
        return None
    baseline = copy_baseline(COMMON[comparison]["T"])
    fig, axes = plt.subplots(1, len(models), figsize=(3.2 * len(models), 3.4), squeeze=False)
    for ax, model in zip(axes[0], models, strict=True):
        lowest = baseline
        for color, side in zip(("C0", "C3"), IMPLEMENTATIONS, strict=True):
            curves = [per_update(read_curves(r), "train/loss") for r in records
                      if r.get("model") == model and r.get("implementation") == side]
            length = min((len(c) for c in curves), default=0) // width * width
            if not length:
                continue
            binned = np.stack([c[:length].reshape(-1, width).mean(axis=1) for c in curves])
            steps = np.arange(width, length + 1, width)
            name = "ours" if side == "rnnbench" else "authors'"
            ax.plot(steps, binned.mean(axis=0), color=color, label=f"{name} (n={len(curves)})", linewidth=1)
            ax.fill_between(steps, binned.min(axis=0), binned.max(axis=0), color=color, alpha=0.2, linewidth=0)
            lowest = min(lowest, float(np.nanmin(binned)))
        ax.axhline(baseline, color="gray", linestyle="--", linewidth=0.8, label="memoryless baseline")
        ax.set(title=SETTINGS[comparison][model]["label"], xlabel="update", yscale="log", ylim=(0.7 * lowest, top))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel(f"training loss ({width}-update means)")
    fig.suptitle(f"{spec['title']}; axes cut at {top:g}", fontsize=9)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return out
