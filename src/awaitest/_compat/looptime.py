"""looptime (fast-forwarded loop time for tests) finds the event loop the way pytest-asyncio
exposes it; with looptime registered, awaitest exposes it the same way:

* after each fixture's setup, looptime patches (disabled) a loop that a fixture of the plugin
  named ``asyncio`` returned. awaitest's plugin module is that plugin (see ``_entry``), and its
  ``event_loop`` fixture returns the test's loop;
* around the test call, it takes ``funcargs["event_loop_policy"].get_event_loop()`` and, for a
  test marked ``@pytest.mark.looptime`` or run with ``--looptime``, turns the fake time on for
  the call.

So each async test that looptime may speed up requests ``event_loop_policy`` and then
``event_loop`` before its other fixtures (its loop is patched before an async fixture runs on
it), and its loop is the current one when it is called. So does every async test that requests
``event_loop_policy`` itself: looptime asks that policy for its loop in any case, and a policy
asked with no loop set makes one that nobody closes. A user's own ``event_loop`` fixture has
the name looptime looks for too: its loop is patched as well (off until a test turns it on), so
the tests on it can be sped up. The rest is looptime's.
"""

from __future__ import annotations

from typing import Final

import pytest

from .._loops.current import make_current
from .._pytest_private.internals import set_up_first
from .._session import SessionState

#: looptime's plugin, as its entry point names it.
PLUGIN: Final = "looptime_plugin"


def registered(config: pytest.Config) -> bool:
    return config.pluginmanager.has_plugin(PLUGIN)


def expose_loops(items: list[pytest.Item], state: SessionState, config: pytest.Config) -> None:
    """After planning: the async tests looptime may turn on, or whose ``event_loop_policy`` it
    will ask, request the two fixtures."""
    flag = config.getoption("looptime", None)  # looptime's --looptime / --no-looptime
    planned = state.planned
    for item in items:
        if item not in planned:
            continue
        if "event_loop_policy" in item.fixturenames or (  # type: ignore[attr-defined]
            flag is not False and (flag is True or item.get_closest_marker("looptime"))
        ):
            set_up_first(item, "event_loop")
            set_up_first(item, "event_loop_policy")  # first: the loop may come from it


def make_test_loop_current(item: pytest.Function, state: SessionState) -> None:
    """Right before looptime looks: fixtures of wider loops set up after the test's own may
    have made theirs current."""
    plan = state.planned.get(item)
    if plan is not None and "event_loop" in item.funcargs:
        make_current(state.test_runner(item, plan).loop)
