"""An experiment's sweeps: conf/experiment/<name>/<scale>.sweep.yaml, beside the experiment's run settings
(<scale>.yaml) and never part of a run's config (records made before the split hold it as a ``reproduce`` node):

- ``sweeps``: Hydra multirun lines (``key=a,b key2=c``), each the cartesian product of its values;
- ``matrix``: more lines, one per column × row (``common``, then the column's overrides, then the row's, or the
  ``cells.<column>.<row>`` overrides that replace the row's in that column), for tables that give every row
  its own setting per column (a width at a parameter budget);
- ``search``: a learning-rate (or other) search run on every line: the ``seeds`` at each of the ``values`` of
  ``key``, then the ``final_seeds`` at the value whose runs have the best mean ``by`` (``goal`` min | max; a
  validation metric, never a test one). The table reads the same node (``tune_of``), so it reports the runs of
  the setting the sweep chose.

Also the single runs the lines expand to, the directory their records go to (``hydra.sweep.dir`` of
conf/records.yaml, which every experiment includes) and each run's own directory in it (named as Hydra's
``override_dirname``: the sorted overrides but the ``exclude_keys`` of conf/config.yaml, joined by commas, so a
``run.py -m`` sweep's records and scripts/reproduce.py's, which passes that directory as ``hydra.run.dir``, agree).
"""

from __future__ import annotations

import shlex
from pathlib import Path

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from rnnbench.report.specs import check_sweep


def experiment_file(conf: Path, experiment: str, scale: str) -> Path:
    return Path(conf) / "experiment" / experiment / f"{scale}.yaml"


def sweep_file(conf: Path, experiment: str, scale: str) -> Path:
    return Path(conf) / "experiment" / experiment / f"{scale}.sweep.yaml"


def reproduce_node(conf: Path, experiment: str, scale: str) -> dict:
    """The experiment's sweep definition (``note``, ``sweeps``, ``matrix``, ``search``); {} if it has none. A
    checkout from before the split (e.g. an old commit's, for scripts/fixed_runs.py) has it as the experiment
    file's ``reproduce`` node."""
    path, old = sweep_file(conf, experiment, scale), experiment_file(conf, experiment, scale)
    if path.exists():
        node = OmegaConf.to_container(OmegaConf.load(path), resolve=True) or {}
    else:
        node = OmegaConf.load(old).get("reproduce") if old.exists() else None
        node = OmegaConf.to_container(node, resolve=True) if node else {}
    check_sweep(node, f"{experiment}/{scale}.sweep")
    return node


def records_dir(root: Path, experiment: str, scale: str) -> Path:
    """``root``/results/records/<experiment>/<scale>: conf/records.yaml's ``hydra.sweep.dir`` for that experiment."""
    layout = OmegaConf.load(Path(root) / "conf" / "records.yaml")
    layout.hydra.runtime = {"choices": {"experiment": f"{experiment}/{scale}"}}
    return Path(root) / layout.hydra.sweep.dir


def run_dir(root: Path, experiment: str, scale: str, overrides: tuple[str, ...]) -> Path:
    """The directory Hydra's multirun gives the run of these (single-valued) ``overrides``: its sweeper writes
    each one back from the parsed value (``true`` → ``True``, ``3e-4`` → ``0.0003``, ``~paper`` → ``~paper=null``)."""
    excluded = set(OmegaConf.load(Path(root) / "conf" / "config.yaml").hydra.job.config.override_dirname.exclude_keys)
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    name = ",".join(sorted(f"{o.get_key_element()}={o.get_value_element_as_str()}" for o in parsed
                           if o.key_or_group not in excluded))
    return records_dir(root, experiment, scale) / name


def matrix_lines(matrix: dict) -> list[str]:
    cells = matrix.get("cells") or {}
    return [" ".join(filter(None, (matrix.get("common", ""), column, (cells.get(name) or {}).get(row_name, row))))
            for name, column in matrix["columns"].items() for row_name, row in matrix["rows"].items()]


def sweep_lines(conf: Path, experiment: str, scale: str) -> list[str]:
    node = reproduce_node(conf, experiment, scale)
    return list(node.get("sweeps") or []) + (matrix_lines(node["matrix"]) if node.get("matrix") else [])


def search_of(conf: Path, experiment: str, scale: str) -> dict | None:
    return reproduce_node(conf, experiment, scale).get("search")


def tune_of(search: dict) -> dict:
    """The table's ``tune`` for a sweep's ``search``: its records are read at ``config.<key>``."""
    return {"over": f"config.{search['key']}", "by": search["by"], "goal": search.get("goal", "min"),
            "seeds": list(search["seeds"])}


def setting(key: str, value) -> str:
    return f"{key}={value}"


def expand(line: str, first_seed_only: bool = False) -> list[tuple[str, ...]]:
    """``"seed=0,1 model=a,b"`` → ``[("seed=0", "model=a"), ("seed=0", "model=b"), ...]``: the single-valued
    overrides of Hydra's basic sweeper, parsed and written back by Hydra itself (the first key outermost; ``3e-4`` →
    ``0.0003``, ``~paper`` → ``~paper=null``); with ``first_seed_only``, seeds stay at their first value."""
    parser = OverridesParser.create()
    overrides = parser.parse_overrides(shlex.split(line))
    if first_seed_only:
        overrides = [parser.parse_override(f"seed={next(iter(o.sweep_string_iterator()))}")
                     if o.key_or_group == "seed" and o.is_sweep_override() else o for o in overrides]
    return [tuple(run) for batch in BasicSweeper.split_arguments(overrides, None) for run in batch]


def search_runs(line: str, search: dict, seeds=None) -> list[tuple[str, ...]]:
    """The search stage of a line: each of ``seeds`` (default the search's) at each value of the searched key."""
    return [(*run, f"seed={seed}", setting(search["key"], value)) for seed in (seeds or search["seeds"])
            for value in search["values"] for run in expand(line)]


def final_runs(line: str, search: dict, value) -> list[tuple[str, ...]]:
    return [(*run, f"seed={seed}", setting(search["key"], value)) for seed in search["final_seeds"]
            for run in expand(line)]


def runs(conf: Path, experiment: str, scale: str, first_seed_only: bool = False) -> list[tuple[str, ...]]:
    """Every run of the experiment's sweeps as the overrides ``scripts/reproduce.py`` passes to ``run.py``; for a
    ``search``, its search stage (the final seeds' setting is known only once that stage has run)."""
    search, prefix = search_of(conf, experiment, scale), f"+experiment={experiment}/{scale}"
    if search:
        seeds = search["seeds"][:1] if first_seed_only else None
        return [(prefix, *run) for line in sweep_lines(conf, experiment, scale)
                for run in search_runs(line, search, seeds)]
    return [(prefix, *combination) for line in sweep_lines(conf, experiment, scale)
            for combination in expand(line, first_seed_only)]
