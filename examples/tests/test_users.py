"""Seeds 002 and 003: AsyncMock, an asyncio.Queue event bus, wait_for timeouts, cancellation.

The notifier is an ``AsyncMock``: awaiting it returns at once, and the test can check how
it was awaited. These tests use the ``@pytest.mark.asyncio`` marker the way the tutorials
do; under ``asyncio_mode = auto`` it is optional.
"""

from __future__ import annotations

import asyncio
from unittest.mock import AsyncMock

import pytest

from notesapp.users import (
    DuplicateEmailError,
    Event,
    EventBus,
    Notifier,
    UserService,
    UserStore,
    consume,
)

pytestmark = pytest.mark.asyncio


@pytest.fixture
def notifier() -> AsyncMock:
    """Stands in for the real mail sender; ``send_email`` succeeds unless a test says otherwise."""
    return AsyncMock(spec=Notifier)


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
async def store() -> UserStore:
    store = UserStore()
    await store.add(email="ada@example.com", name="Ada")
    await store.add(email="alan@example.com", name="Alan")
    return store


@pytest.fixture
def service(store: UserStore, notifier: AsyncMock, bus: EventBus) -> UserService:
    return UserService(store, notifier, bus, notify_timeout=0.5)


class TestQueries:
    async def test_existing_user(self, service: UserService) -> None:
        user = await service.get_user(1)
        assert user is not None
        assert user.email == "ada@example.com"

    async def test_missing_user_returns_none(self, service: UserService) -> None:
        assert await service.get_user(999) is None

    async def test_list_users(self, service: UserService) -> None:
        assert [u.name for u in await service.list_users()] == ["Ada", "Alan"]


class TestRegister:
    async def test_creates_user_and_sends_welcome(
        self, service: UserService, notifier: AsyncMock
    ) -> None:
        registration = await service.register(email="carol@example.com", name="Carol")

        assert registration.user.id == 3
        assert registration.welcome_sent is True
        assert await service.get_user(3) == registration.user
        notifier.send_email.assert_awaited_once_with(
            to="carol@example.com", subject="Welcome!", body="Hi Carol"
        )

    async def test_publishes_user_registered(self, service: UserService, bus: EventBus) -> None:
        events = bus.subscribe("user.registered")
        await service.register(email="carol@example.com", name="Carol")
        event = await asyncio.wait_for(events.get(), timeout=1.0)
        assert event == {"user_id": 3, "email": "carol@example.com"}

    async def test_duplicate_email_is_rejected(
        self, service: UserService, notifier: AsyncMock
    ) -> None:
        with pytest.raises(DuplicateEmailError):
            await service.register(email="ada@example.com", name="Ada again")
        notifier.send_email.assert_not_awaited()

    async def test_notifier_error_propagates_and_nothing_is_published(
        self, service: UserService, notifier: AsyncMock, bus: EventBus
    ) -> None:
        events = bus.subscribe("user.registered")
        notifier.send_email.side_effect = ConnectionError("SMTP unavailable")
        with pytest.raises(ConnectionError, match="SMTP unavailable"):
            await service.register(email="dave@example.com", name="Dave")
        assert events.empty()

    async def test_slow_notifier_is_cancelled_after_timeout(
        self, store: UserStore, notifier: AsyncMock, bus: EventBus
    ) -> None:
        """``wait_for`` gives up on a hanging mail server, cancels it, and sign-up goes on."""
        cancelled = asyncio.Event()

        async def hang(**_: str) -> None:
            try:
                await asyncio.Event().wait()  # never set: the mail server never answers
            except asyncio.CancelledError:
                cancelled.set()
                raise

        notifier.send_email.side_effect = hang
        service = UserService(store, notifier, bus, notify_timeout=0.05)

        registration = await service.register(email="erin@example.com", name="Erin")

        assert registration.welcome_sent is False
        assert cancelled.is_set()
        assert await store.find_by_email("erin@example.com") == registration.user


class TestEventBus:
    async def test_publish_delivers_to_every_subscriber(self, bus: EventBus) -> None:
        first, second = bus.subscribe("orders"), bus.subscribe("orders")
        delivered = await bus.publish("orders", {"order_id": "ord-1"})
        assert delivered == 2
        assert await asyncio.wait_for(first.get(), timeout=1.0) == {"order_id": "ord-1"}
        assert await asyncio.wait_for(second.get(), timeout=1.0) == {"order_id": "ord-1"}

    async def test_other_topics_get_nothing(self, bus: EventBus) -> None:
        users = bus.subscribe("users")
        assert await bus.publish("orders", {"order_id": "ord-1"}) == 0
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(users.get(), timeout=0.05)


class TestConsumer:
    async def test_handles_events_until_cancelled(self, bus: EventBus) -> None:
        queue = bus.subscribe("user.registered")
        handled: list[Event] = []

        async def handle(event: Event) -> None:
            handled.append(event)

        worker = asyncio.create_task(consume(queue, handle))
        for user_id in range(3):
            await bus.publish("user.registered", {"user_id": user_id})
        await asyncio.wait_for(queue.join(), timeout=1.0)  # all three handled

        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker
        assert worker.cancelled()
        assert [event["user_id"] for event in handled] == [0, 1, 2]

    async def test_cancelling_mid_event_still_marks_it_done(self, bus: EventBus) -> None:
        queue = bus.subscribe("user.registered")
        started = asyncio.Event()

        async def handle(event: Event) -> None:
            started.set()
            await asyncio.sleep(3600)

        worker = asyncio.create_task(consume(queue, handle))
        await bus.publish("user.registered", {"user_id": 1})
        await asyncio.wait_for(started.wait(), timeout=1.0)

        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker
        # The interrupted event was marked done, so join() does not wait forever.
        await asyncio.wait_for(queue.join(), timeout=1.0)


async def test_gather_returns_results_in_call_order(service: UserService) -> None:
    """gather runs the lookups concurrently but returns results in argument order."""
    users = await asyncio.gather(service.get_user(2), service.get_user(999), service.get_user(1))
    assert [u.name if u else None for u in users] == ["Alan", None, "Ada"]
