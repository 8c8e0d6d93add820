"""Seed 004's old pattern: tests sharing a session fixture through a user-defined event_loop.

New code should not write this; it should write ``loop_scope="session"`` as
tests/conftest.py and tests/test_storage.py do. It is here because suites written this
way exist, and awaitest runs them unchanged.
"""

from __future__ import annotations

import asyncio
from importlib.metadata import PackageNotFoundError, version
from unittest.mock import AsyncMock

import pytest

from notesapp.users import AuditLog, EventBus, Notifier, UserService, UserStore


def _pytest_asyncio_major() -> int:
    """0 if pytest-asyncio is not installed (as under awaitest, which provides the module)."""
    try:
        return int(version("pytest-asyncio").split(".")[0])
    except PackageNotFoundError:
        return 0


pytestmark = [
    pytest.mark.skipif(
        _pytest_asyncio_major() >= 1,
        reason="pytest-asyncio >= 1.0 no longer honours a user-defined event_loop fixture;"
        " run these under awaitest or port them to loop_scope='session'",
    ),
    # Overriding event_loop is deprecated: awaitest says so once, as an advisory in the
    # terminal summary, never a warning. The old conftest calls
    # asyncio.get_event_loop_policy(), which Python 3.14 deprecates: that warning, expected
    # from code kept as the tutorials wrote it, is silenced here only.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


@pytest.mark.asyncio
async def test_fixture_and_test_share_the_user_defined_loop(
    event_loop: asyncio.AbstractEventLoop, audit_log: AuditLog
) -> None:
    assert asyncio.get_running_loop() is event_loop
    assert audit_log.worker.get_loop() is event_loop


@pytest.mark.asyncio
async def test_session_worker_records_events(session_bus: EventBus, audit_log: AuditLog) -> None:
    await session_bus.publish("user.registered", {"user_id": 42})
    await asyncio.wait_for(audit_log.drain(), timeout=1.0)
    assert {"user_id": 42} in audit_log.entries


@pytest.mark.asyncio
async def test_session_worker_sees_registrations(
    session_bus: EventBus, audit_log: AuditLog
) -> None:
    service = UserService(UserStore(), AsyncMock(spec=Notifier), session_bus)
    await service.register(email="grace@example.com", name="Grace")
    await asyncio.wait_for(audit_log.drain(), timeout=1.0)
    assert {"user_id": 1, "email": "grace@example.com"} in audit_log.entries
    assert not audit_log.worker.done()
