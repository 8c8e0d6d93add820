"""The old pattern from seed 004, kept as written there: a user-defined session ``event_loop``.

Before ``loop_scope`` existed, sharing an async resource across tests meant overriding
pytest-asyncio's ``event_loop`` fixture with a session-scoped one and making the session
fixture request it. This conftest is in its own directory so the override applies to the
tests next to it and nowhere else.

awaitest still honours it: the fixture and the tests that use it run on the loop returned
here, with one deprecation advisory (in the terminal summary, not a warning) saying to use
``loop_scope="session"`` instead (as tests/conftest.py does). pytest-asyncio 1.0 removed
support for it; see the skip in test_legacy_event_loop.py.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from notesapp.users import AuditLog, EventBus

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator


@pytest.fixture(scope="session")
def event_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """Create event loop for session-scoped fixtures."""
    policy = asyncio.get_event_loop_policy()
    loop = policy.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="session")
def session_bus() -> EventBus:
    return EventBus()


@pytest.fixture(scope="session")
async def audit_log(
    event_loop: asyncio.AbstractEventLoop, session_bus: EventBus
) -> AsyncIterator[AuditLog]:
    """Session-scoped async fixture: one background worker task for the whole session.

    The task only makes progress while its loop runs, so the tests that use it must run
    on the same loop: that is what the session ``event_loop`` above is for.
    """
    audit = AuditLog(session_bus, "user.registered")
    audit.start()
    yield audit
    await audit.stop()
