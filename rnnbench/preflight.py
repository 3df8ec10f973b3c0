"""Command-line checks made before Hydra runs anything, so a typo costs one line, not a traceback.

- ``group=name`` (or a sweep ``group=a,b``) must name a file in ``conf/<group>/``;
- ``a.b.c=value`` must name an existing key of the composed config (``+a.b.c=value`` adds one), with a
  "did you mean" suggestion, or, for an argument of a ``_target_`` class that the config leaves at the class's
  default (``optimizer.momentum``), the ``+`` override that sets it.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf


def groups(conf_dir: Path) -> set[str]:
    """The config groups: the folders of ``conf/`` (``hydra/`` is Hydra's own)."""
    return {p.name for p in conf_dir.iterdir() if p.is_dir() and p.name != "hydra"}


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
    names = groups(conf_dir)
    for parsed in filter(None, map(split_override, argv)):
        _, key, value = parsed
        if key not in names or value in ("", "null"):
            continue
        options = group_options(conf_dir, key)
        for name in value.split(","):
            if name not in options:
                fail(f"unknown {key} '{name}'; valid {key} names: {', '.join(options)}")


def check_override_keys(conf_dir: Path, argv: list[str]) -> None:
    """Compose once with the group choices (first of each sweep) and check every plain ``key=value``."""
    from hydra import compose, initialize_config_dir

    names, group_args, keys = groups(conf_dir), [], []
    for arg in argv:
        parsed = split_override(arg)
        if parsed is None:
            continue
        prefix, key, value = parsed
        if key in names or "/" in key:
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
        if leaf in class_arguments(parent):
            fail(f"{key} is an argument of {parent._target_} that the config leaves at its default: "
                 f"set it with +{key}=...")
        close = difflib.get_close_matches(key, valid, n=1)
        hint = f"did you mean {close[0]}?" if close else f"use +{key}=... to add a new key"
        fail(f"unknown key {key} ({hint})")


def class_arguments(node) -> set[str]:
    """The keyword arguments of a config node's ``_target_`` class (none when it has none or it does not import)."""
    from hydra.utils import get_class

    from rnnbench.config_checks import accepted_keys
    try:
        return accepted_keys(get_class(node._target_)) or set()
    except Exception:
        return set()


def preflight(conf_dir: Path, argv: list[str]) -> None:
    if any(arg in ("--help", "-h", "--hydra-help", "--info") for arg in argv):
        return
    check_group_choices(conf_dir, argv)
    check_override_keys(conf_dir, argv)
