"""Configuration checks: one-line errors, raised before any training starts.

Components check their own arguments with :func:`require` and :func:`require_choice`; the
runner prefixes the config group (``model.``, ``task.``, ...) and prints the message on one line.
:func:`check_keys` rejects keys a component does not accept, with a "did you mean" suggestion;
:func:`build` is Hydra's ``instantiate`` with both.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable

from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate


class ConfigError(ValueError):
    """A bad configuration value. ``str(error)`` is a single line naming the field."""

    def __init__(self, field: str, value: object, expected: str):
        self.field, self.value, self.expected = field, value, expected
        super().__init__(self.describe())

    def describe(self) -> str:
        return f"{self.field}={self.value!r} is invalid: expected {self.expected}"

    def prefixed(self, prefix: str) -> ConfigError:
        return type(self)(f"{prefix}{self.field}", self.value, self.expected)


class UnknownKeyError(ConfigError):
    """A key the component does not accept; ``expected`` holds the suggestion."""

    def describe(self) -> str:
        return f"unknown key {self.field} ({self.expected})"


def require(condition: bool, field: str, value: object, expected: str) -> None:
    if not condition:
        raise ConfigError(field, value, expected)


def require_choice(field: str, value: object, choices: Iterable[str]) -> None:
    choices = list(choices)
    if value not in choices:
        raise ConfigError(field, value, f"one of {', '.join(map(str, choices))}")


def positive_int(field: str, value: object) -> None:
    require(isinstance(value, int) and not isinstance(value, bool) and value > 0, field, value,
            "a positive integer")


def positive_float(field: str, value: object) -> None:
    require(isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0, field, value,
            "a positive number")


def non_negative_float(field: str, value: object) -> None:
    require(isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0, field, value,
            "a non-negative number")


def accepted_keys(target) -> set[str] | None:
    """Keyword names a callable accepts, or None if it takes arbitrary ``**kwargs``.

    For a class whose ``__init__`` forwards ``**kwargs`` to its base, the bases' names are included.
    """
    functions = [c.__init__ for c in target.__mro__ if "__init__" in vars(c)] if inspect.isclass(target) else [target]
    names: set[str] = set()
    for function in functions:
        if function is object.__init__:
            break
        params = inspect.signature(function).parameters.values()
        names |= {p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "self"}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return names
    return None


def check_keys(group: str, keys: Iterable[str], valid: Iterable[str] | None) -> None:
    """Reject keys not in ``valid``, suggesting the closest valid key."""
    if valid is None:
        return
    valid = sorted(valid)
    for key in keys:
        if key.startswith("_") or key in valid:
            continue
        close = difflib.get_close_matches(key, valid, n=1)
        hint = f"did you mean {close[0]}?" if close else f"valid keys: {', '.join(valid)}"
        raise UnknownKeyError(key, None, hint).prefixed(f"{group}." if group else "")


def build(node, group: str, **injected):
    """``instantiate(node, **injected)`` with an unimportable ``_target_``, unknown keys and invalid values reported
    as ConfigError naming ``group``; a ``_partial_`` node gives the partial."""
    target = node.get("_target_")
    try:
        cls = get_class(target)
    except Exception as error:
        raise ConfigError(f"{group}._target_", target, "an importable class") from error
    valid = accepted_keys(cls)
    check_keys(group, [k for k in node if k not in injected], None if valid is None else valid - set(injected))
    try:
        return instantiate(node, **injected)
    except InstantiationException as error:
        cause = error.__cause__
        if isinstance(cause, ConfigError):
            raise cause.prefixed(f"{group}.") from None
        raise
