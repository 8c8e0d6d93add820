"""Fixtures requested by name from a running async test or fixture: ``awaitest.getfixturevalue``.

``request.getfixturevalue(name)`` is sync: pytest sets the fixture up there and then, and an
async fixture among what it sets up can't run its coroutine on the loop that is busy running
the caller ("This event loop is already running"). ``await awaitest.getfixturevalue(request,
name)`` asks the runner of that loop for a call between steps instead (``_loops.runner``): the
loop stops, the caller waits, and ``request.getfixturevalue(name)`` runs as it does at setup,
with no loop running. Caching, order, scope checks, parameters and finalizers stay pytest's,
and awaitest's setup of each async fixture (``_fixtures``) runs it on its loop as usual, a
generator in a task of its own.

The one difference from setup: the test's loop is chosen and running, so a fixture whose loop
would be wider (and would have made the test's wider, had the test requested it) is refused
(:func:`refusal`) instead of running on a loop the test doesn't.

Context variables the setup set are set in the awaiting task's context too, as a test's
fixtures' are in the test's.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import os
import types
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Final

import pluggy
import pytest

from ._checks.frames import AWAITEST_DIR
from ._fixture_specs import AsyncFixture
from ._loops.runner import NotSteppingError, Runner, running_loop
from ._scopes import Scope, owner_scope, wider
from ._session import STATE, NamedRequest, SessionState

#: A context variable and the value a setup gave it.
_Changes = list[tuple[contextvars.ContextVar[Any], Any]]
#: Where the user called us: (file, line).
_Site = tuple[str, int]


def getfixturevalue(request: pytest.FixtureRequest, name: str) -> Coroutine[Any, Any, Any]:
    """Awaitable ``request.getfixturevalue(name)`` for async tests and async fixtures: the
    value of fixture ``name``, set up now (on its loop, async or not) unless it already is,
    and torn down with the test's (or the requesting fixture's) other fixtures.

    Checked when called, so a sync test gets its answer at once, not an unawaited coroutine.
    """
    __tracebackhide__ = True
    state = request.config.stash.get(STATE, None)
    if state is None:
        pytest.fail(
            f"awaitest.getfixturevalue(request, {name!r}): awaitest is not active in this run "
            "(-p no:awaitest or -p no:asyncio); request.getfixturevalue() is pytest's own",
            pytrace=False,
        )
    runner = _requester(state)
    if runner is None:
        pytest.fail(_not_here(state, request, name), pytrace=False)
    caller = inspect.currentframe()
    caller = caller.f_back if caller is not None else None
    site = (caller.f_code.co_filename, caller.f_lineno) if caller is not None else None
    return _awaited(state, runner, request, name, site)


def _requester(state: SessionState) -> Runner | None:
    """The runner whose step runs the caller now: the one that can step aside for a setup."""
    loop = running_loop()
    runner = state.loops.runner_of(loop) if loop is not None else None
    return runner if runner is not None and runner.stepping else None


async def _awaited(
    state: SessionState,
    runner: Runner,
    request: pytest.FixtureRequest,
    name: str,
    site: _Site | None,
) -> Any:
    __tracebackhide__ = True
    set_up = functools.partial(_set_up, state, runner, request, name, site)
    try:
        value, changes = await runner.call_between_steps(set_up)
    except NotSteppingError:  # made above, awaited somewhere else (a fixture's teardown)
        changes = None
    if changes is None:
        pytest.fail(_not_here(state, request, name), pytrace=False)
    for var, set_to in changes:
        var.set(set_to)
    return value


_MISSING: Final = object()


def _set_up(
    state: SessionState,
    runner: Runner,
    request: pytest.FixtureRequest,
    name: str,
    site: _Site | None,
) -> tuple[Any, _Changes]:
    """Between two steps of ``runner``, its loop stopped: pytest sets fixture ``name`` up."""
    __tracebackhide__ = True
    outer = state.named
    if outer is not None and request.fixturename != name and outer.enclosing(name) is not None:
        # pytest would start the fixture's setup a second time, inside the first one
        pytest.fail(_twice(state, request, name), pytrace=False)
    before = contextvars.copy_context()
    state.named = NamedRequest(name, request, runner, outer)
    located = None
    try:
        value = request.getfixturevalue(name)
    except BaseException as error:
        located = _requested_at(error, site, request)
        if located is None:
            _skip_machinery(error)
            raise
    finally:
        state.named = outer
    if located is not None:
        pytest.fail(located, pytrace=False)
    changes = [
        (var, set_to)
        for var, set_to in contextvars.copy_context().items()
        if before.get(var, _MISSING) is not set_to
    ]
    return value, changes


#: Where the frames between this module and a user's fixture come from: pytest's fixture
#: machinery, pluggy's hook calls, awaitest's setup.
_MACHINERY: Final = (
    os.path.dirname(inspect.getfile(pytest.FixtureRequest)),
    os.path.dirname(pluggy.__file__),
    AWAITEST_DIR,
)


def _skip_machinery(error: BaseException) -> None:
    """Link the traceback of ``error``, caught in our frame, to the user's code it came from:
    past the last frame of pytest's, pluggy's or ours that called into code of someone else's
    (a fixture function). What is between means nothing to the user, and the static setup of
    a fixture shows none of it."""
    ours = error.__traceback__
    if ours is None:
        return
    last: types.TracebackType | None = None
    entry = ours.tb_next
    while entry is not None and entry.tb_next is not None:
        inside = entry.tb_frame.f_code.co_filename.startswith(_MACHINERY)
        if inside and not entry.tb_next.tb_frame.f_code.co_filename.startswith(_MACHINERY):
            last = entry
        entry = entry.tb_next
    if last is not None:
        ours.tb_next = last.tb_next


#: pytest's failure for a parametrized fixture that the test has no parameter of ends with the
#: line that requested it, read off the stack: for us, a line of this module.
_NO_PARAMETER: Final = "The requested fixture has no parameter defined for test:"
_REQUESTED_HERE: Final = "\nRequested here:\n"


def _requested_at(
    failure: BaseException, site: _Site | None, request: pytest.FixtureRequest
) -> str | None:
    """pytest's no-parameter failure with the user's line where it names ours; else None."""
    if not isinstance(failure, pytest.fail.Exception) or site is None:
        return None
    message = failure.msg or ""
    head, found, _ = message.rpartition(_REQUESTED_HERE)
    if not found or not message.startswith(_NO_PARAMETER):
        return None
    path = Path(site[0])
    try:
        shown = str(path.relative_to(request.config.rootpath))
    except ValueError:
        shown = str(path)
    return f"{head}{found}{shown}:{site[1]}"


def _test(state: SessionState, request: pytest.FixtureRequest) -> str:
    """The test being run, by node id (a fixture's request may be for a wider node)."""
    return state.current.nodeid if state.current is not None else request.node.nodeid


def _who(state: SessionState, request: pytest.FixtureRequest) -> str:
    fixture = request.fixturename
    test = _test(state, request)
    return test if fixture is None else f"{test}, fixture {fixture!r}"


def _not_here(state: SessionState, request: pytest.FixtureRequest, name: str) -> str:
    """Why the caller can't await a fixture by name where it is, and what to do instead."""
    call = f"awaitest.getfixturevalue(request, {name!r})"
    plain = f"request.getfixturevalue({name!r})"
    loop = running_loop()
    if loop is None:
        why = (
            f"{call} is for async tests and async fixtures, and no event loop is running "
            f"here; use {plain}, which sets up async fixtures too"
        )
    elif state.loops.runner_of(loop) is None:
        why = (
            f"{call} was called on an event loop awaitest doesn't run (asyncio.run() or a loop "
            "of your own); it works in the async tests and fixtures awaitest runs. Outside a "
            f"running loop, {plain} sets up async fixtures too"
        )
    else:
        why = (
            f"{call} was awaited while awaitest tears down (a fixture's teardown, or the end "
            f"of a loop), where pytest sets up no fixtures; request {name!r} as an argument, "
            "or before the fixture yields"
        )
    return f"{_who(state, request)}: {why}"


def _twice(state: SessionState, request: pytest.FixtureRequest, name: str) -> str:
    return (
        f"{_who(state, request)}: awaitest.getfixturevalue(request, {name!r}) can't set up "
        f"fixture {name!r}: it is being set up already, for an earlier awaitest."
        f"getfixturevalue(request, {name!r}) that has not returned yet (awaited by another "
        f"task, or by a fixture that {name!r} needs); await that call's value instead"
    )


def refusal(
    state: SessionState, named: NamedRequest, spec: AsyncFixture, scope: Scope
) -> str | None:
    """Why async fixture ``spec``, whose loop is of ``scope``, can't be set up for ``named``:
    a loop wider than the one the requester runs on, or None."""
    origin = state.loops.origin(named.requester)
    if origin is None:
        return None  # a user's event_loop fixture's loop: its own rules apply, as at setup
    running = owner_scope(origin[0])
    if not wider(scope, running):
        return None
    fixture = named.request.fixturename
    requester = "the test" if fixture is None else f"fixture {fixture!r}"
    needed = "" if spec.name == named.name else f" (which {named.name!r} needs)"
    return (
        f"{_test(state, named.request)}: awaitest.getfixturevalue(request, {named.name!r}) "
        f"can't set up async fixture {spec.name!r}{needed}: it runs on the {scope} loop, and "
        f"{requester} runs on the {running} loop, where the value would be used. Request "
        f"{named.name!r} as an argument of the test (awaitest then runs the test on the "
        f'{scope} loop), or mark the test @pytest.mark.asyncio(loop_scope="{scope}").'
    )


def inside_running_loop(
    state: SessionState, request: pytest.FixtureRequest, spec: AsyncFixture
) -> str:
    """The failure of a plain ``request.getfixturevalue()`` that reaches an async fixture while
    a loop runs: it can't work, the awaitable way does."""
    name = spec.name
    return (
        f"{_test(state, request)}: request.getfixturevalue() can't set up async fixture "
        f"{name!r} while an event loop is running (inside an async test or fixture); use "
        f"`await awaitest.getfixturevalue(request, {name!r})` instead, or request {name!r} as "
        "an argument"
    )
