"""Which code revisions produced a table's records, and whether the code they ran has changed since.

A record's ``code`` field holds the ``commit`` (40-hex sha, or null outside a git checkout) and whether the tree
had uncommitted changes (``dirty``); records written before the field existed have an unknown revision. A record
is *stale* when the files that shaped it — its model, task and optimiser modules and every package module they
import (read from the source at HEAD; a module importing ``rnnbench.native`` brings the kernel sources), their
configs, its paper preset and the ``+variant=`` presets of its sweep line (read from its directory name, Hydra's
override_dirname), the configs these presets include and the experiment file — differ between its commit and HEAD
(``git diff``).
Git errors (no git, a commit missing from the repository) make the revision unknown; they never raise.
"""

from __future__ import annotations

import ast
import re
import subprocess
from collections import Counter, defaultdict
from functools import cache
from pathlib import Path

from omegaconf import OmegaConf

OPTIMIZATION = "rnnbench/optim.py"      # builds every run's optimiser: parameter groups, clipping, schedules
NATIVE = "rnnbench.native"               # its modules load the C++ sources beside them
VARIANT = re.compile(r"(?:^|,)\+?variant=([^,]+)")


def revision(record: dict) -> str:
    """Short sha, ``+dirty`` when the tree had uncommitted changes, or ``unknown``."""
    code = record.get("code") or {}
    if not code.get("commit"):
        return "unknown"
    return code["commit"][:7] + ("+dirty" if code.get("dirty") else "")


def revisions(records: list[dict]) -> Counter:
    return Counter(revision(r) for r in records)


def describe(counts: Counter) -> str:
    """``abc1234 (12), unknown (6)``, most frequent first."""
    return ", ".join(f"{name} ({n})" for name, n in counts.most_common())


def module_file(target: str | None) -> str | None:
    """``rnnbench.models.plstm.PhasedLSTM`` → ``rnnbench/models/plstm.py``; None for code outside the package."""
    if not target or not target.startswith("rnnbench."):
        return None
    return target.rsplit(".", 1)[0].replace(".", "/") + ".py"


def imported_files(path: str, repo: Path) -> set[str]:
    """``path`` and every ``rnnbench`` module it imports, transitively, as files of ``repo``; ``rnnbench/native/``
    (the kernel sources) when one of them is the native package."""
    found, pending = set(), [path]
    while pending:
        file = pending.pop()
        if file in found or not (repo / file).is_file():
            continue
        found.add(file)
        for node in ast.walk(ast.parse((repo / file).read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
                     if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            for name in names:
                if name == NATIVE:
                    found.add("rnnbench/native/")
                if name.split(".")[0] == "rnnbench":
                    base = name.replace(".", "/")
                    pending += [f"{base}.py", f"{base}/__init__.py"]
    return found


def included(path: str, repo: Path | None) -> list[str]:
    """``path`` and the configs its ``defaults`` list includes, recursively, as they are in ``repo`` (Hydra: an
    entry starting with / is relative to conf/, others to the config's top-level group)."""
    file = None if repo is None else Path(repo) / path
    if file is None or not file.is_file():
        return [path]
    defaults = OmegaConf.load(file).get("defaults") or []
    group = "/".join(path.split("/")[:2])
    return [path, *(f for entry in defaults if isinstance(entry, str) and entry != "_self_"
                    for f in included(f"conf{entry}.yaml" if entry.startswith("/") else f"{group}/{entry}.yaml",
                                      repo))]


def source_files(record: dict, experiment: str, scale: str, repo: Path | None = None) -> tuple[str, ...]:
    """Repository paths whose content shaped ``record`` (paths that do not exist are harmless to git); with
    ``repo``, the modules its model, task and optimiser import and the configs that its presets include."""
    config = record.get("config") or {}
    model, task = record.get("model"), record.get("task")
    modules = [OPTIMIZATION, *(module_file((config.get(group) or {}).get("_target_"))
                               for group in ("model", "task", "optimizer"))]
    modules = [m for m in modules if m]
    files = [f"conf/experiment/{experiment}/{scale}.yaml", *modules]
    if repo is not None:
        for module in modules:
            files += imported_files(module, Path(repo))
    if model:
        files += included(f"conf/model/{model}.yaml", repo)
    if task:
        files += included(f"conf/task/{task}.yaml", repo)
    if model and task:
        files += included(f"conf/paper/{task}/{model}.yaml", repo)
    for variant in VARIANT.findall(Path(record.get("run_dir") or "").name):
        files += included(f"conf/variant/{variant}.yaml", repo)
    return tuple(sorted({f for f in files if f}))


@cache
def changed_files(repo: str, commit: str, files: tuple[str, ...]) -> tuple[str, ...] | None:
    """The ``files`` that differ between ``commit`` and HEAD in ``repo``; None when git cannot tell."""
    try:
        diff = subprocess.run(["git", "-C", repo, "diff", "--name-only", commit, "HEAD", "--", *files],
                              capture_output=True, text=True)
    except OSError:
        return None
    return tuple(diff.stdout.split()) if diff.returncode == 0 else None


def runs(n: int) -> str:
    return f"{n} run" + ("s" if n != 1 else "")


def warnings(records: list[dict], experiment: str, scale: str, repo: Path) -> list[str]:
    """What makes a table's records an unsafe summary of the code at HEAD, one sentence per problem."""
    counts = revisions(records)
    found = []
    if len(counts) > 1:
        found.append(f"mixed code revisions: {describe(counts)}")
    dirty = sum(n for name, n in counts.items() if name.endswith("+dirty"))
    if dirty:
        found.append(f"{runs(dirty)} from a tree with uncommitted changes (+dirty)")
    if counts["unknown"]:
        found.append(f"{runs(counts['unknown'])} with no code revision (unknown)")
    unavailable, stale, changed = Counter(), Counter(), defaultdict(set)
    for record in records:
        commit = (record.get("code") or {}).get("commit")
        if not commit:
            continue
        files = changed_files(str(repo), commit, source_files(record, experiment, scale, repo))
        if files is None:
            unavailable[commit[:7]] += 1
        elif files:
            stale[commit[:7]] += 1
            changed[commit[:7]].update(files)
    for short, n in unavailable.items():
        found.append(f"revision unknown for {runs(n)}: commit {short} is not in this repository "
                     "or git is unavailable")
    for short, n in stale.items():
        found.append(f"stale: {runs(n)} from commit {short}; changed since: "
                     + ", ".join(sorted(changed[short])))
    return found
