"""How configuration errors are worded: one builder for every key."""

from __future__ import annotations

from collections.abc import Iterable

import pytest


def quoted_choices(valid: Iterable[str]) -> str:
    """``'a', 'b' or 'c'``: how every message lists the values it accepts."""
    items = [repr(v) for v in valid]
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " or " + items[-1]


def bad_value(key: str, value: object, valid: Iterable[str] | str) -> pytest.UsageError:
    """The error for a configuration value we can't use; pytest exits with code 4 on it."""
    allowed = valid if isinstance(valid, str) else quoted_choices(valid)
    return pytest.UsageError(f"{key} = {value!r} is not valid; use {allowed}.")
