"""Which code revisions produced a table's records, and whether the code they ran has changed since.

A record's ``code`` field holds the ``commit`` (40-hex sha, or null outside a git checkout) and whether the tree
had uncommitted changes (``dirty``); records written before the field existed have an unknown revision. A record
is *stale* when a file that shaped it differs from the file in this checkout (the working tree, normally HEAD).

Which files shaped it: a record's ``sources`` (:mod:`rnnbench.sources`) lists, with digests, every project module
its process loaded and every config Hydra composed for it; it is stale when one of those digests differs from
the file's now. Records made before ``sources`` existed are judged by the files their commit's code would have
loaded (``git diff``): the entry point (``run.py``, ``rnnbench/experiment.py``: the training loop, records,
checkpoints, ...), its model, task, optimiser and schedule modules and every package module they import (parsed
at both commits; a module importing ``rnnbench.native`` brings the kernel sources), their configs,
conf/config.yaml and the optimizer and schedule groups, its paper preset and the ``+variant=`` presets of its
sweep line (read from its directory name, Hydra's override_dirname), the configs these presets include and the
experiment file.

A *behaviour check* (:data:`CHECKS`) carries records across a refactor: an entry ``{from, to, check}`` says that
``scripts/fixed_runs.py --experiments cpu`` gave bit-identical results at commits ``from`` and ``to`` (both outputs
are committed, at ``check``.before.txt and .after.txt). A record whose files are those of ``from`` then counts as
made at ``to``, and the table says so.
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

from rnnbench.sources import digest, included_configs

ENTRY = ("run.py", "rnnbench/experiment.py")   # every run's process: the trainer, records, checkpoints, ...
OPTIMIZATION = "rnnbench/optim.py"      # builds every run's optimiser: parameter groups, clipping, schedules
SHARED_CONFIGS = ("conf/config.yaml", "conf/optimizer/", "conf/schedule/")   # every run's defaults
NATIVE = "rnnbench.native"               # its modules load the C++ sources beside them
VARIANT = re.compile(r"(?:^|,)\+?variant=([^,]+)")
CHECKS = "results/behaviour_checks.yaml"
REPO = Path(__file__).resolve().parents[2]   # the checkout holding this package


def revision(record: dict, repo: Path = REPO) -> str:
    """Short sha, ``+dirty`` when the tree had uncommitted changes, or ``unknown``. A dirty tree whose changes
    missed every file the run loaded (its ``sources`` digests equal the files at its commit in ``repo``: e.g. a
    sweep's own re-written records) ran the committed code, and is shown as that commit."""
    code = record.get("code") or {}
    if not code.get("commit"):
        return "unknown"
    return code["commit"][:7] + ("+dirty" if code.get("dirty") and not ran_as_committed(record, repo) else "")


def ran_as_committed(record: dict, repo: Path) -> bool:
    commit, sources = record["code"]["commit"], record.get("sources")
    return bool(sources) and all(file_digest(repo, path, commit) == value for path, value in sources.items())


def revisions(records: list[dict], repo: Path = REPO) -> Counter:
    return Counter(revision(r, repo) for r in records)


def describe(counts: Counter) -> str:
    """``abc1234 (12), unknown (6)``, most frequent first."""
    return ", ".join(f"{name} ({n})" for name, n in counts.most_common())


def module_file(target: str | None) -> str | None:
    """``rnnbench.models.plstm.PhasedLSTM`` → ``rnnbench/models/plstm.py``; None for code outside the package."""
    if not target or not target.startswith("rnnbench."):
        return None
    return target.rsplit(".", 1)[0].replace(".", "/") + ".py"


@cache
def read(repo: Path, path: str, commit: str | None = None) -> str | None:
    """The text of ``path`` in ``repo``'s working tree, or at ``commit``; None where it does not exist."""
    if commit is None:
        file = Path(repo) / path
        return file.read_text() if file.is_file() else None
    try:
        shown = subprocess.run(["git", "-C", str(repo), "show", f"{commit}:{path}"], capture_output=True, text=True)
    except OSError:
        return None
    return shown.stdout if shown.returncode == 0 else None


@cache
def imported_files(path: str, repo: Path, commit: str | None = None) -> frozenset[str]:
    """``path`` and every ``rnnbench`` module it imports, transitively, as files of ``repo`` (at ``commit``, or in
    its working tree); ``rnnbench/native/`` (the kernel sources) when one of them is the native package."""
    found, pending = set(), [path]
    while pending:
        file = pending.pop()
        text = None if file in found else read(Path(repo), file, commit)
        if text is None:
            continue
        found.add(file)
        for node in ast.walk(ast.parse(text)):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
                     if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            for name in names:
                if name == NATIVE:
                    found.add("rnnbench/native/")
                if name.split(".")[0] == "rnnbench":
                    base = name.replace(".", "/")
                    pending += [f"{base}.py", f"{base}/__init__.py"]
    return frozenset(found)


@cache
def included(path: str, repo: Path | None, commit: str | None = None) -> tuple[str, ...]:
    """``path`` and the configs its ``defaults`` list includes, recursively, as they are in ``repo`` (Hydra: an
    entry starting with / is relative to conf/, others to the config's top-level group)."""
    if repo is None:
        return (path,)
    return tuple(included_configs(path, lambda file: read(Path(repo), file, commit)))


def source_files(record: dict, experiment: str, scale: str, repo: Path | None = None,
                 commit: str | None = None) -> tuple[str, ...]:
    """Repository paths whose content shaped ``record`` (paths that do not exist are harmless to git); with
    ``repo``, the modules its model, task, optimiser and schedule import and the configs that its presets include,
    as they are at ``commit`` (default: the working tree)."""
    config = record.get("config") or {}
    targets = tuple((config.get(group) or {}).get("_target_") for group in ("model", "task", "optimizer", "schedule"))
    variants = tuple(VARIANT.findall(Path(record.get("run_dir") or "").name))
    return run_files(targets, record.get("model"), record.get("task"), variants, experiment, scale, repo, commit)


@cache
def run_files(targets: tuple, model: str | None, task: str | None, variants: tuple, experiment: str, scale: str,
              repo: Path | None, commit: str | None) -> tuple[str, ...]:
    """:func:`source_files` of a run with these ``_target_``s, model, task and ``+variant=`` presets."""
    modules = [m for m in (*ENTRY, OPTIMIZATION, *(module_file(target) for target in targets)) if m]
    files = [*SHARED_CONFIGS, *included(f"conf/experiment/{experiment}/{scale}.yaml", repo, commit), *modules]
    if repo is not None:
        for module in modules:
            files += imported_files(module, Path(repo), commit)
    if model:
        files += included(f"conf/model/{model}.yaml", repo, commit)
    if task:
        files += included(f"conf/task/{task}.yaml", repo, commit)
    if model and task:
        files += included(f"conf/paper/{task}/{model}.yaml", repo, commit)
    for variant in variants:
        files += included(f"conf/variant/{variant}.yaml", repo, commit)
    return tuple(sorted({f for f in files if f}))


@cache
def changed_files(repo: str, commit: str, files: tuple[str, ...], since: str | None = None) -> tuple[str, ...] | None:
    """The ``files`` that differ between ``commit`` and ``since`` (None: the working tree) in ``repo``, a YAML file
    only where its parsed content differs (a comment changes no run); None when git cannot tell."""
    try:
        diff = subprocess.run(["git", "-C", repo, "diff", "--name-only", "--no-renames", commit,
                               *([since] if since else []), "--", *files], capture_output=True, text=True)
    except OSError:
        return None
    if diff.returncode != 0:
        return None
    return tuple(f for f in diff.stdout.split() if not f.endswith(".yaml") or parsed(repo, f, commit) != parsed(
        repo, f, since))


@cache
def parsed(repo: str, path: str, commit: str | None):
    """A YAML file's content at ``commit`` (None: the working tree) as plain containers; None where it does not
    exist. An experiment file's ``reproduce`` node is left out: it lists and describes the sweep (a run's
    overrides are in its record), it sets nothing in a run."""
    text = read(Path(repo), path, commit)
    if text is None:
        return None
    content = OmegaConf.to_container(OmegaConf.create(text))
    if path.startswith("conf/experiment/") and isinstance(content, dict):
        content.pop("reproduce", None)
    return content


@cache
def file_digest(repo: Path, path: str, commit: str | None = None) -> str | None:
    """:func:`rnnbench.sources.digest` of ``path`` at ``commit`` (None: the working tree)."""
    return digest(path, read(Path(repo), path, commit))


@cache
def behaviour_checks(repo: Path) -> list[dict]:
    """The entries of :data:`CHECKS` (``from``, ``to``, ``check``, ``what``), oldest first."""
    text = read(Path(repo), CHECKS)
    return [] if text is None else list(OmegaConf.to_container(OmegaConf.create(text)))


def record_files(record: dict, experiment: str, scale: str, repo: Path, *commits: str | None) -> tuple[str, ...]:
    """:func:`source_files` as derived at each of ``commits`` (None: the working tree), together."""
    return tuple(sorted({f for c in commits for f in source_files(record, experiment, scale, repo, c)}))


def checked_commit(record: dict, experiment: str, scale: str, repo: Path) -> tuple[str | None, list[dict]]:
    """The commit whose code a record stands for, and the behaviour checks that carried it there: a record whose
    files equal those of a check's ``from`` commit counts as made at its ``to`` commit (repeatedly). With
    ``sources``, "equal" is every digest equal to the file's at ``from``."""
    commit, carried = (record.get("code") or {}).get("commit"), []
    digests = dict(record.get("sources") or {})
    for check in behaviour_checks(repo) if commit or digests else []:
        if digests:
            if any(file_digest(repo, path, check["from"]) != value for path, value in digests.items()):
                continue
            digests = {path: file_digest(repo, path, check["to"]) for path in digests}
        else:
            files = record_files(record, experiment, scale, repo, commit, check["from"])
            if changed_files(str(repo), commit, files, check["from"]) != ():
                continue
        commit = check["to"]
        carried.append(check)
    return commit, carried


def changed_since(record: dict, experiment: str, scale: str, repo: Path) -> tuple[str | None, tuple | None]:
    """The commit a record stands for (after behaviour checks) and the files that shaped it which differ in the
    working tree now; None for the files when git cannot tell."""
    commit, carried = checked_commit(record, experiment, scale, repo)
    if record.get("sources"):
        digests = record["sources"] if not carried else {      # carried: the files as they are at the last "to"
            path: file_digest(repo, path, carried[-1]["to"]) for path in record["sources"]}
        return commit or "unknown", tuple(sorted(p for p, value in digests.items() if file_digest(repo, p) != value))
    if not commit:
        return None, None
    return commit, changed_files(str(repo), commit, record_files(record, experiment, scale, repo, commit, None))


def carried_note(records: list[dict], experiment: str, scale: str, repo: Path) -> str:
    """One sentence per behaviour check that carried some of ``records`` to a later commit; empty if none."""
    counts, covered = Counter(), {}
    for record in records:
        for check in checked_commit(record, experiment, scale, repo)[1]:
            key = (check["from"][:7], check["to"][:7], check["check"])
            counts[key] += 1
            covered[key] = ", ".join(check.get("experiments") or []) or "every experiment"
    return " ".join(f"{runs(n)} carried to {b} by a behaviour check: their files equal those at {a}, and short runs "
                    f"of the configurations of {covered[a, b, check]} were bit-identical at {a} and {b} ({check})."
                    for (a, b, check), n in counts.items())


def runs(n: int) -> str:
    return f"{n} run" + ("s" if n != 1 else "")


def warnings(records: list[dict], experiment: str, scale: str, repo: Path) -> list[str]:
    """What makes a table's records an unsafe summary of the code at HEAD, one sentence per problem."""
    counts = revisions(records, repo)
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
        commit, files = changed_since(record, experiment, scale, repo)
        if not commit:
            continue
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


def clear_caches() -> None:
    """Forget what was read from the repository (its working tree or HEAD moved, e.g. in a test)."""
    for cached in (read, imported_files, included, run_files, changed_files, parsed, file_digest, behaviour_checks):
        cached.cache_clear()

