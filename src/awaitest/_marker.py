"""``@pytest.mark.asyncio(...)``: parsed and validated once per item into a :class:`MarkerSpec`.

Markers are read closest first (function, then class, then module ``pytestmark``); for each
keyword the closest marker that sets it wins. A bad marker never stops collection: it becomes a
:class:`MarkerError` that fails only the test it is on, with the test's id in the message.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import pytest

from ._errors import AwaitestDeprecationWarning, quoted_choices
from ._scopes import SCOPES, Scope, is_scope

KEYWORDS: Final = ("loop_scope", "loop_factories", "timeout")
_USAGE: Final = "use @pytest.mark.asyncio(loop_scope=..., loop_factories=[...], timeout=...)"


@dataclass(frozen=True, slots=True)
class MarkerSpec:
    loop_scope: Scope | None = None
    loop_factories: tuple[str, ...] | None = None
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class MarkerError:
    message: str


EMPTY: Final = MarkerSpec()


def parse(nodeid: str, marks: Iterable[pytest.Mark]) -> MarkerSpec | MarkerError:
    loop_scope: Scope | None = None
    factories: tuple[str, ...] | None = None
    timeout: float | None = None
    for mark in marks:
        if not mark.args and not mark.kwargs:
            continue  # a bare @pytest.mark.asyncio: nearly every test
        where = f"{nodeid}: mark.asyncio"
        if mark.args:
            return MarkerError(
                f"{where} accepts only keyword arguments, but got positional argument "
                f"{mark.args[0]!r}; {_USAGE}"
            )
        kwargs = dict(mark.kwargs)
        if "scope" in kwargs:
            if "loop_scope" in kwargs:
                return MarkerError(
                    f'{nodeid}: An asyncio pytest marker defines both "scope" and "loop_scope", '
                    'but it should only use "loop_scope". ("scope" is its old name.)'
                )
            warnings.warn(
                AwaitestDeprecationWarning(
                    f"{where}(scope=...) is deprecated; write loop_scope= instead"
                ),
                stacklevel=2,
            )
            kwargs["loop_scope"] = kwargs.pop("scope")
        unknown = sorted(set(kwargs) - set(KEYWORDS))
        if unknown:
            return MarkerError(
                f"{where} accepts only keyword arguments {quoted_choices(KEYWORDS)}, "
                f"but got {unknown[0]!r}; {_USAGE}"
            )
        if loop_scope is None and "loop_scope" in kwargs:
            value = kwargs["loop_scope"]
            if not is_scope(value):
                return MarkerError(
                    f"{where} got an unexpected loop scope value {value!r}. "
                    f"Valid scopes are: {', '.join(SCOPES)}."
                )
            loop_scope = value
        if factories is None and "loop_factories" in kwargs:
            value = kwargs["loop_factories"]
            if isinstance(value, str) or not _all_names(value) or not value:
                return MarkerError(
                    f"{where} 'loop_factories' must be a non-empty sequence of factory names, "
                    f"e.g. loop_factories=['asyncio'], but got {value!r}"
                )
            factories = tuple(value)
        if timeout is None and "timeout" in kwargs:
            value = kwargs["timeout"]
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or value < 0
                or math.isnan(value)
            ):
                return MarkerError(
                    f"{where} 'timeout' must be a number of seconds >= 0 (0 turns the limit "
                    f"off), but got {value!r}"
                )
            timeout = float(value)
    if loop_scope is None and factories is None and timeout is None:
        return EMPTY
    return MarkerSpec(loop_scope, factories, timeout)


def _all_names(value: object) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(v, str) and v for v in value)
