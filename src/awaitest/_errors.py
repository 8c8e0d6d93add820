"""The warning classes users filter on, and the one builder of configuration errors."""

from __future__ import annotations

from collections.abc import Iterable

import pytest


class AwaitestWarning(UserWarning):
    """Base class of every warning awaitest emits.

    ``filterwarnings = ignore::awaitest.AwaitestWarning`` silences all of them.
    """


class AwaitestDeprecationWarning(AwaitestWarning, DeprecationWarning):
    """A pytest-asyncio pattern that still works but has a better replacement."""


class UnawaitedCoroutineWarning(AwaitestWarning):
    """A coroutine created during a test was never awaited (``asyncio_unawaited = warn``)."""


class TaskLeakWarning(AwaitestWarning):
    """A test left tasks pending (``asyncio_task_leaks = warn``)."""


class LoopErrorWarning(AwaitestWarning):
    """An exception reached the event loop's handler during a test (``asyncio_loop_errors =
    warn``)."""


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
