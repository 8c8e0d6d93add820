"""Tests on virtual time: which tests get a virtual clock, the loops that carry one, and the
``virtual_clock`` fixture.

A clock must be attached to its loop before anything is scheduled there, and it belongs to that
one loop. So the decision is made at collection (:func:`wants_clock`, :func:`misplaced`), and a
virtual loop has a registry name of its own, ``"<factory>+virtual"``, kept as the test plan's
factory: the loop registry creates it through :func:`clocked` (clock attached right after the
loop is made) and the test, its function-loop async fixtures and ``event_loop`` all find that
same loop without knowing it is virtual. Only function-scoped loops are virtual: a wider loop
outlives the test, and its other users would see time jump under them.
"""

from __future__ import annotations

import asyncio
from typing import Final

import pytest

from ._config import Settings
from ._fixtures import AsyncFixture
from ._loops.factories import LoopFactory
from ._scopes import Scope
from .clock import VirtualClock, VirtualClockError

FIXTURE: Final = "virtual_clock"
_SUFFIX: Final = "+virtual"


def virtual_name(factory: str) -> str:
    """The registry name of ``factory``'s loops with a virtual clock."""
    return factory + _SUFFIX


def real_name(name: str) -> str | None:
    """The factory behind a :func:`virtual_name`, or None for a real-time name."""
    return name[: -len(_SUFFIX)] if name.endswith(_SUFFIX) else None


def clocked(factory: LoopFactory, factory_name: str) -> LoopFactory:
    """``factory`` with a fresh :class:`VirtualClock` attached to every loop it makes."""

    def new_virtual_loop() -> asyncio.AbstractEventLoop:
        __tracebackhide__ = True
        loop = factory()
        try:
            VirtualClock().attach(loop, factory_name=factory_name)
        except VirtualClockError as exc:
            problem = str(exc)
        else:
            return loop
        loop.close()
        pytest.fail(problem, pytrace=False)

    return new_virtual_loop


def clock_of(loop: asyncio.AbstractEventLoop) -> VirtualClock | None:
    owner = getattr(loop.time, "__self__", None)
    return owner if isinstance(owner, VirtualClock) else None


def detach(loop: asyncio.AbstractEventLoop) -> None:
    """Give a closed (or closing) loop its real clock back; nothing for real-time loops."""
    clock = clock_of(loop)
    if clock is not None:
        clock.detach()


def wants_clock(
    fixturenames: list[str],
    scope: Scope,
    *,
    fixtures: list[AsyncFixture],
    settings: Settings,
    user_loop: str | None,
) -> bool:
    """Requested by name, or by ``asyncio_clock = virtual`` for a test on a function loop of
    ours whose async fixtures all run there too. ``user_loop``: the user's fixture
    (``event_loop``, ``event_loop_policy``) the test's loop comes from, if any."""
    if FIXTURE in fixturenames:
        return True
    return (
        settings.clock == "virtual"
        and scope == "function"
        and user_loop is None
        and _wider_fixture(scope, fixtures, settings) is None
    )


def misplaced(
    nodeid: str,
    scope: Scope,
    *,
    marker_scope: Scope | None,
    fixtures: list[AsyncFixture],
    settings: Settings,
    user_loop: str | None,
) -> str | None:
    """Why a test that requests ``virtual_clock`` can't have one, with the fix; None if it can."""
    if user_loop is not None:
        return (
            f"{nodeid} requests virtual_clock but its event loop comes from the user-defined "
            f"{user_loop} fixture, whose clock awaitest can't replace. Fix: remove that "
            f"fixture override for this test, or don't request virtual_clock."
        )
    pinned = marker_scope is not None or settings.default_test_loop_scope != "function"
    wider = _wider_fixture(scope, fixtures, settings)
    if scope != "function" and (pinned or wider is None):
        return (
            f"{nodeid} requests virtual_clock but runs on the {scope}-scoped event loop, "
            "which outlives the test; time can only be virtual on the test's own loop. "
            'Fix: @pytest.mark.asyncio(loop_scope="function") on the test, '
            "or don't request virtual_clock."
        )
    if wider is None:
        return None
    spec, demand = wider
    if spec.cache_scope == "function":
        fix = (
            f'loop_scope="function" on fixture {spec.name!r} so it runs on the test\'s '
            "virtual loop, or don't request virtual_clock."
        )
    else:
        fix = (
            f"don't request virtual_clock in tests that use {spec.name!r}, or make "
            f"{spec.name!r} function-scoped."
        )
    return (
        f"{nodeid} requests virtual_clock but its async fixture {spec.name!r} runs on the "
        f"{demand}-scoped event loop, where time is real, so the two would disagree. Fix: {fix}"
    )


def _wider_fixture(
    scope: Scope, fixtures: list[AsyncFixture], settings: Settings
) -> tuple[AsyncFixture, Scope] | None:
    """The first async fixture of the test that runs on a loop wider than function."""
    for spec in fixtures:
        if spec.follows_test and scope == "function":
            continue
        demand = spec.demand(settings)
        if demand is not None and demand != "function":
            return spec, demand
    return None


@pytest.fixture
def virtual_clock(request: pytest.FixtureRequest) -> VirtualClock:
    """The virtual clock of the requesting test's event loop: ``advance(seconds)``, ``time()``,
    ``autojump_threshold``."""
    __tracebackhide__ = True
    from ._session import state_of  # _state resolves virtual loop names through us

    node = request.node
    plan = state_of(request.config).plan_of(node)
    if plan is None:
        pytest.fail(
            f"{node.nodeid} requests virtual_clock, which only works in async tests that "
            "awaitest runs. Make it an async def test marked with @pytest.mark.asyncio "
            "(or set asyncio_mode = auto).",
            pytrace=False,
        )
    loop = state_of(request.config).runner(node, plan.loop_scope, plan.factory).loop
    clock = clock_of(loop)
    if clock is None:
        pytest.fail(
            f"{node.nodeid} requests virtual_clock but its event loop has a real clock: "
            "it was not made by awaitest (a user-defined event_loop fixture?). "
            "Remove the event_loop override from this test's scope.",
            pytrace=False,
        )
    return clock
