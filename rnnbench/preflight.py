"""Command-line checks made before Hydra runs anything, so a typo costs one line, not a traceback.

- ``group=name`` (or a sweep ``group=a,b``) must name a file in ``conf/<group>/``;
- ``a.b.c=value`` must name an existing key of the composed config (``+a.b.c=value`` adds one), with a
  "did you mean" suggestion.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

GROUPS = ("model", "task", "optimizer", "experiment", "paper", "variant")


def group_options(conf_dir: Path, group: str) -> list[str]:
    root = conf_dir / group
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.yaml"))


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def split_override(arg: str) -> tuple[str, str, str] | None:
    """``+key=value`` → ("+", "key", "value"); None for flags and positional words."""
    if arg.startswith("-") or "=" not in arg:
        return None
    key, value = arg.split("=", 1)
    prefix = key[: len(key) - len(key.lstrip("+~"))]
    return prefix, key[len(prefix):], value


def check_group_choices(conf_dir: Path, argv: list[str]) -> None:
    for parsed in filter(None, map(split_override, argv)):
        _, key, value = parsed
        if key not in GROUPS or value in ("", "null"):
            continue
        options = group_options(conf_dir, key)
        for name in value.split(","):
            if name not in options:
                fail(f"unknown {key} '{name}'; valid {key} names: {', '.join(options)}")


def check_override_keys(conf_dir: Path, argv: list[str]) -> None:
    """Compose once with the group choices (first of each sweep) and check every plain ``key=value``."""
    from hydra import compose, initialize_config_dir

    group_args, keys = [], []
    for arg in argv:
        parsed = split_override(arg)
        if parsed is None:
            continue
        prefix, key, value = parsed
        if key in GROUPS or "/" in key:
            group_args.append(f"{prefix}{key}={value.split(',')[0]}" if prefix != "~" else arg)
        elif arg.startswith("~"):
            group_args.append(arg)
        elif not prefix and not key.startswith("hydra."):
            keys.append(key)
    if not keys:
        return
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        cfg = compose("config", overrides=group_args)
    for key in keys:
        parent_key, _, leaf = key.rpartition(".")
        parent = OmegaConf.select(cfg, parent_key) if parent_key else cfg
        if isinstance(parent, DictConfig) and leaf in parent:
            continue
        valid = [f"{parent_key}.{k}" if parent_key else k for k in parent] if isinstance(parent, DictConfig) else []
        close = difflib.get_close_matches(key, valid, n=1)
        hint = f"did you mean {close[0]}?" if close else f"use +{key}=... to add a new key"
        fail(f"unknown key {key} ({hint})")


def preflight(conf_dir: Path, argv: list[str]) -> None:
    if any(arg in ("--help", "-h", "--hydra-help", "--info") for arg in argv):
        return
    check_group_choices(conf_dir, argv)
    check_override_keys(conf_dir, argv)
