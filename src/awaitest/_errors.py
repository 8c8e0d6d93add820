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


def bad_value(
    key: str,
    value: object,
    valid: Iterable[str] | str,
    *,
    noun: str = "values",
    more: str | None = None,
) -> pytest.UsageError:
    """The error for a configuration value we can't use; pytest exits with code 4 on it.

    Line one is worded as pytest-asyncio words it, for suites (and its conformance tests) that
    match on it: ``'VALUE' is not a valid KEY. Valid NOUN: A, B, C.``; ``more`` is a second
    line."""
    allowed = valid if isinstance(valid, str) else ", ".join(valid)
    text = f"{value!r} is not a valid {key}. Valid {noun}: {allowed}."
    return pytest.UsageError(text if more is None else f"{text}\n{more}")
