"""What a run ran: a digest of every project file that shaped it, taken in the run's own process.

A record's ``sources`` maps repository paths to digests: every module of this checkout loaded in the process
(``sys.modules``: the package, the entry point ``run.py``; the C++ kernel sources once ``rnnbench.native`` is
loaded) and every config file Hydra composed for it (``conf/config.yaml``, the chosen option of each group —
model, task, optimizer, schedule, paper preset, variant, experiment — and the configs their defaults lists
include). A record is stale when one of its paths' digests differs from the file's at HEAD
(:mod:`rnnbench.report.provenance`), so a change to a module no run loaded warns no table, and one to the training loop
warns every table.

Digests ignore what cannot change a run: a Python module's comments and layout (the digest of its syntax tree),
a YAML file's comments (of its parsed content; an experiment's ``reproduce`` node, the sweep definition, is left
out). C++ sources are digested as text.
"""

from __future__ import annotations

import ast
import hashlib
import json
import sys
from pathlib import Path

from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
NATIVE = "rnnbench.native"
KERNELS = "rnnbench/native/*.cpp"


def digest(path: str, text: str | None) -> str | None:
    """The digest of ``text`` as the content of repository file ``path``; None for a missing file."""
    if text is None:
        return None
    if path.endswith(".py"):
        content = ast.dump(ast.parse(text))
    elif path.endswith(".yaml"):
        parsed = OmegaConf.to_container(OmegaConf.create(text))
        if path.startswith("conf/experiment/") and isinstance(parsed, dict):
            parsed.pop("reproduce", None)
        content = json.dumps(parsed, sort_keys=True, default=str)
    else:
        content = text
    return hashlib.sha256(content.encode()).hexdigest()[:16]


def loaded_modules(root: Path = ROOT) -> list[str]:
    """Repository paths of the modules of ``root`` loaded in this process (and the kernel sources, if used)."""
    paths = set()
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if not file or not Path(file).is_absolute():        # e.g. torch._classes names a bare "_classes.py"
            continue
        path = Path(file).resolve()
        if path.suffix == ".py" and path.is_relative_to(root) and ".venv" not in path.parts and path.is_file():
            paths.add(path.relative_to(root).as_posix())
    if NATIVE in sys.modules:
        paths.update(p.relative_to(root).as_posix() for p in root.glob(KERNELS))
    return sorted(paths)


def included_configs(path: str, read) -> list[str]:
    """``path`` and the configs its ``defaults`` list includes, recursively (Hydra: an entry starting with / is
    relative to conf/, others to the config's group); ``read(path)`` gives a file's text or None."""
    text = read(path)
    if text is None:
        return [path]
    defaults = OmegaConf.create(text).get("defaults") or []
    group = "/".join(path.split("/")[:2])
    found = [path]
    for entry in defaults:
        if isinstance(entry, str) and entry != "_self_":
            found += included_configs(f"conf{entry}.yaml" if entry.startswith("/") else f"{group}/{entry}.yaml",
                                      read)
    return found


def composed_configs(choices: dict, root: Path = ROOT) -> list[str]:
    """Config files of the composition whose group choices are ``choices`` (Hydra's runtime.choices)."""
    def read(path: str) -> str | None:
        file = root / path
        return file.read_text() if file.is_file() else None

    files = included_configs("conf/config.yaml", read)
    for group, option in choices.items():
        if option and not group.startswith("hydra") and (root / "conf" / group / f"{option}.yaml").is_file():
            files += included_configs(f"conf/{group}/{option}.yaml", read)
    return sorted(set(files))


def run_sources(choices: dict | None, root: Path = ROOT) -> dict[str, str | None]:
    """``{path: digest}`` of every module loaded so far and every config composed for the run."""
    paths = [*loaded_modules(root), *composed_configs(choices or {}, root)]
    return {path: digest(path, (root / path).read_text()) for path in sorted(set(paths))}
