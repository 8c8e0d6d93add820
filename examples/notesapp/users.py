"""Users: a service with a notifier, an asyncio.Queue event bus and a timeout on e-mail.

``UserService.register`` stores a user, sends a welcome e-mail (given at most
``notify_timeout`` seconds: a slow mail server must not hold up sign-up) and publishes a
``user.registered`` event. ``consume`` is the worker loop that handles events until it is
cancelled; ``AuditLog`` runs one in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

Event = dict[str, Any]


@dataclass(frozen=True)
class User:
    id: int
    email: str
    name: str


@dataclass(frozen=True)
class Registration:
    user: User
    welcome_sent: bool


class DuplicateEmailError(Exception):
    pass


class Notifier(Protocol):
    """Sends e-mail over the network: slow and external, so tests replace it with an AsyncMock."""

    async def send_email(self, to: str, subject: str, body: str) -> None: ...


class UserStore:
    """An in-memory store with an async interface, standing in for a database table."""

    def __init__(self) -> None:
        self._users: dict[int, User] = {}

    async def add(self, email: str, name: str) -> User:
        await asyncio.sleep(0)  # a real store does I/O here
        user = User(id=len(self._users) + 1, email=email, name=name)
        self._users[user.id] = user
        return user

    async def get(self, user_id: int) -> User | None:
        await asyncio.sleep(0)
        return self._users.get(user_id)

    async def find_by_email(self, email: str) -> User | None:
        await asyncio.sleep(0)
        return next((u for u in self._users.values() if u.email == email), None)

    async def list_all(self) -> list[User]:
        await asyncio.sleep(0)
        return list(self._users.values())


class EventBus:
    """Publish/subscribe on top of asyncio.Queue: every subscriber gets its own queue."""

    def __init__(self) -> None:
        self._queues: dict[str, list[asyncio.Queue[Event]]] = {}

    def subscribe(self, topic: str) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._queues.setdefault(topic, []).append(queue)
        return queue

    async def publish(self, topic: str, event: Event) -> int:
        """Deliver ``event`` to every subscriber of ``topic``; return how many got it."""
        queues = self._queues.get(topic, [])
        for queue in queues:
            await queue.put(event)
        return len(queues)


async def consume(queue: asyncio.Queue[Event], handle: Callable[[Event], Awaitable[None]]) -> None:
    """Handle events from ``queue`` forever; stops only when cancelled.

    Each event is marked done even if its handler fails or is cancelled, so
    ``queue.join()`` never waits for an event nobody will finish.
    """
    while True:
        event = await queue.get()
        try:
            await handle(event)
        finally:
            queue.task_done()


class UserService:
    def __init__(
        self,
        store: UserStore,
        notifier: Notifier,
        bus: EventBus,
        *,
        notify_timeout: float = 2.0,
    ) -> None:
        self._store = store
        self._notifier = notifier
        self._bus = bus
        self._notify_timeout = notify_timeout

    async def get_user(self, user_id: int) -> User | None:
        return await self._store.get(user_id)

    async def list_users(self) -> list[User]:
        return await self._store.list_all()

    async def register(self, email: str, name: str) -> Registration:
        """Create a user, send the welcome e-mail and publish ``user.registered``.

        A notifier that takes longer than ``notify_timeout`` is cancelled and the user is
        registered anyway with ``welcome_sent=False``; any other notifier error propagates
        and no event is published.
        """
        if await self._store.find_by_email(email) is not None:
            raise DuplicateEmailError(email)
        user = await self._store.add(email=email, name=name)
        welcome_sent = await self._send_welcome(user)
        await self._bus.publish("user.registered", {"user_id": user.id, "email": user.email})
        return Registration(user=user, welcome_sent=welcome_sent)

    async def _send_welcome(self, user: User) -> bool:
        try:
            await asyncio.wait_for(
                self._notifier.send_email(
                    to=user.email, subject="Welcome!", body=f"Hi {user.name}"
                ),
                timeout=self._notify_timeout,
            )
        except TimeoutError:
            return False
        return True


class AuditLog:
    """Records every event published on ``topic``, from a background task.

    ``start()`` launches the worker on the running loop; ``drain()`` waits until every
    event published so far is recorded; ``stop()`` cancels the worker.
    """

    def __init__(self, bus: EventBus, topic: str) -> None:
        self.entries: list[Event] = []
        self._queue = bus.subscribe(topic)
        self._worker: asyncio.Task[None] | None = None

    @property
    def worker(self) -> asyncio.Task[None]:
        if self._worker is None:
            raise RuntimeError("AuditLog.start() was not called")
        return self._worker

    def start(self) -> None:
        self._worker = asyncio.create_task(consume(self._queue, self._record))

    async def drain(self) -> None:
        await self._queue.join()

    async def stop(self) -> None:
        worker = self.worker
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker

    async def _record(self, event: Event) -> None:
        self.entries.append(event)
