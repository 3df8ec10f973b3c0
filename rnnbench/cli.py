"""Command-line checks made before Hydra composes anything, so a typo costs one line, not a traceback."""

from __future__ import annotations

import sys
from pathlib import Path

GROUPS = ("model", "task", "optimizer", "experiment", "paper")


def group_options(conf_dir: Path, group: str) -> list[str]:
    root = conf_dir / group
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.yaml"))


def check_group_choices(conf_dir: Path, argv: list[str]) -> None:
    """Exit with one line if ``group=name`` (or ``+group=a,b``) names an option that does not exist."""
    for arg in argv:
        if arg.startswith("-") or "=" not in arg:
            continue
        key, value = arg.lstrip("+~").split("=", 1)
        if key not in GROUPS or value in ("", "null"):
            continue
        options = group_options(conf_dir, key)
        for name in value.split(","):
            if name not in options:
                print(f"error: unknown {key} '{name}'; valid {key} names: {', '.join(options)}",
                      file=sys.stderr)
                sys.exit(2)
