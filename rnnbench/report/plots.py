"""Figures from run records: learning curves per table cell (mean over seeds, min–max band) of the runs behind
the cell's number (exploded, diverged and failed runs are left out, and a row with none is named below)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from rnnbench.records import CURVES  # noqa: E402


def seed_curves(run_dirs: list[str], metric: str) -> pd.DataFrame | None:
    """Steps × seeds of ``metric`` (evaluation rows only), aligned on step."""
    series = []
    for run_dir in run_dirs:
        path = Path(run_dir) / CURVES
        if path.exists():
            frame = pd.read_csv(path)
            if metric in frame:
                series.append(frame.dropna(subset=[metric]).set_index("step")[metric])
    return pd.concat(series, axis=1) if series else None


def learning_curves(cells, metric: str, title: str, out: Path, log_scale: bool = False) -> Path | None:
    fig, ax = plt.subplots(figsize=(10, 4.2))
    drawn, seen, unusable = False, set(), []
    one_column = len({cell.column for cell in cells}) == 1          # a column's figure: its rows name the lines
    # rows that read other metrics of the same runs (every row of a column the same runs): columns name the lines
    rows_share_runs = len({c.row for c in cells}) > 1 and len({(c.column, tuple(c.used_dirs)) for c in cells}) == len(
        {c.column for c in cells})
    for index, cell in enumerate(cells):         # a line's colour follows its cell's place, drawn or not
        name = cell.row if one_column else cell.column if rows_share_runs else f"{cell.row} · {cell.column}"
        runs = tuple(cell.used_dirs)
        curves = None if runs in seen else seed_curves(cell.used_dirs, metric)
        seen.add(runs)   # several columns (e.g. a metric and its parameter count) can share the same runs
        if cell.run_dirs and not cell.used_dirs:
            unusable.append(f"{name} ({cell.verdict})")
        if curves is None:
            continue
        steps, values = curves.index.to_numpy(), curves.to_numpy()
        color = f"C{index % 10}"
        ax.plot(steps, np.nanmean(values, axis=1), color=color, label=f"{name} (n={curves.shape[1]})")
        ax.fill_between(steps, np.nanmin(values, axis=1), np.nanmax(values, axis=1), color=color, alpha=0.2,
                        linewidth=0)
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set(xlabel="training step", ylabel=metric, title=title)
    if unusable:
        ax.text(0, -0.2, "not drawn, no usable run: " + ", ".join(unusable), transform=ax.transAxes, fontsize=7)
    if log_scale:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return out


def rank_chart(cells, rows: list[str], columns: dict[str, str], title: str, out: Path) -> Path | None:
    """Each row's rank per column (1 = the best mean; ``columns`` maps a label to its goal, min | max), as a
    heat map with the rank written in each cell, ``≈`` before it where a cell is marked tied with the best, the
    verdict (e.g. ``exploded``) where the cell has runs but none usable, and ``–`` where it has none."""
    ranks = np.full((len(rows), len(columns)), np.nan)
    labels = [["–"] * len(columns) for _ in rows]
    for j, (column, goal) in enumerate(columns.items()):
        for cell in (c for c in cells if c.column == column and c.run_dirs and not c.n):
            labels[rows.index(cell.row)][j] = cell.verdict
        measured = sorted((c for c in cells if c.column == column and c.n),
                          key=lambda c: c.mean if goal == "min" else -c.mean)
        for rank, cell in enumerate(measured, start=1):
            i = rows.index(cell.row)
            ranks[i, j] = rank
            labels[i][j] = ("≈" if cell.mark == "tied" else "") + str(rank)
    if np.isnan(ranks).all():
        return None
    fig, ax = plt.subplots(figsize=(1.3 * len(columns) + 2.5, 0.45 * len(rows) + 1.8))
    ax.imshow(ranks, cmap="viridis_r", vmin=1, vmax=len(rows), aspect="auto")
    for i, row in enumerate(labels):
        for j, text in enumerate(row):
            ax.text(j, i, text, ha="center", va="center", fontsize=9,
                    color="white" if not np.isnan(ranks[i, j]) and ranks[i, j] > len(rows) / 2 else "black")
    ax.set_xticks(range(len(columns)), list(columns), rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return out
