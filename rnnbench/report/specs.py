"""The schemas of a table spec (conf/table/*.yaml) and of an experiment's sweep (conf/experiment/*/*.sweep.yaml).

Each node is a dataclass whose fields are the keys it may hold; :func:`check_table` and :func:`check_sweep` walk a
loaded spec and raise :class:`rnnbench.config_checks.ConfigError` on the first unknown key, naming it (with its
path in the file) and the valid keys, so a misspelt key fails on one line instead of being ignored. Values are
the readers' business (rnnbench.report.tables, rnnbench.report.sweeps).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from rnnbench.config_checks import check_keys


@dataclass
class Tune:
    over: str
    by: str
    goal: str = "min"
    seeds: list | None = None


@dataclass
class Cell:
    select: dict | None = None
    metric: str | None = None
    normalize: str | None = None
    published: float | None = None
    tune: Tune | None = None


@dataclass(kw_only=True)
class Reading:
    """How cells are read and judged: set on the spec, overridden by a column."""
    metric: str | None = None
    format: str | None = None
    normalize: str | None = None
    tolerance: dict | None = None
    tune: Tune | None = None
    rank: str | None = None
    curve: str | None = None
    curve_log: bool = False


@dataclass(kw_only=True)
class Column(Reading):
    label: str
    select: dict | None = None


@dataclass
class Row:
    label: str
    select: dict | None = None
    metric: str | None = None
    published: dict | None = None
    cells: dict[str, Cell] | None = None


@dataclass
class Claim:
    text: str
    compare: list


@dataclass(kw_only=True)
class Table(Reading):
    title: str
    source: str
    experiment: str | None = None
    rank_alpha: float = 0.05
    curves: list | None = None
    curves_per_column: bool = False
    exploded_column: Any = False
    notes: list | None = None
    summary: str | None = None
    columns: list[Column] | None = None
    rows: list[Row] | None = None
    claims: list[Claim] | None = None
    scales: dict | None = None        # scale -> keys of this node that replace the top-level ones


@dataclass
class Search:
    key: str
    values: list
    by: str
    goal: str = "min"
    seeds: list | None = None
    final_seeds: list | None = None


@dataclass
class Matrix:
    columns: dict
    rows: dict
    common: str = ""
    cells: dict | None = None


@dataclass
class Sweep:
    note: str = ""
    sweeps: list | None = None
    matrix: Matrix | None = None
    search: Search | None = None


NESTED = {("Table", "tune"): Tune, ("Column", "tune"): Tune, ("Cell", "tune"): Tune, ("Sweep", "matrix"): Matrix,
          ("Sweep", "search"): Search}
LISTS = {("Table", "columns"): Column, ("Table", "rows"): Row, ("Table", "claims"): Claim}


def check(node: dict, schema: type, where: str) -> None:
    """Unknown keys of ``node`` (and of its nested nodes) against ``schema``'s fields, as a ConfigError."""
    check_keys(where, list(node), [f.name for f in fields(schema)])
    for key, value in node.items():
        nested, items = NESTED.get((schema.__name__, key)), LISTS.get((schema.__name__, key))
        if nested and isinstance(value, dict):
            check(value, nested, f"{where}.{key}")
        for index, item in enumerate(value if items and isinstance(value, list) else []):
            if isinstance(item, dict):
                check(item, items, f"{where}.{key}[{index}]")
        if schema is Row and key == "cells" and isinstance(value, dict):
            for column, cell in value.items():
                check(cell or {}, Cell, f"{where}.cells.{column}")
        if schema is Table and key == "scales" and isinstance(value, dict):
            for scale, keys in value.items():
                check({"title": "", "source": "", **(keys or {})}, Table, f"{where}.scales.{scale}")


def check_table(spec: dict, name: str) -> None:
    check(spec, Table, name)


def check_sweep(node: dict, name: str) -> None:
    check(node, Sweep, name)
