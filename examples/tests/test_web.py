"""Seeds 001 and 002: a FastAPI app tested through httpx.AsyncClient and ASGITransport.

No server and no socket: ``ASGITransport`` hands each request straight to the app, on the
test's own event loop. (The tutorials' older ``AsyncClient(app=app)`` form was removed in
httpx 0.28; ``transport=ASGITransport(app=app)`` is its replacement.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from unittest.mock import AsyncMock

import httpx
import pytest
import pytest_asyncio

from notesapp import web
from notesapp.users import EventBus, Notifier, UserService, UserStore
from notesapp.web import create_app

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from fastapi import FastAPI


@pytest.fixture
def notifier() -> AsyncMock:
    return AsyncMock(spec=Notifier)


@pytest.fixture
async def app(notifier: AsyncMock) -> FastAPI:
    store = UserStore()
    await store.add(email="ada@example.com", name="Ada")
    return create_app(UserService(store, notifier, EventBus()))


@pytest_asyncio.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Explicit ``pytest_asyncio.fixture``; in auto mode plain ``pytest.fixture`` works too."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.mark.asyncio
async def test_health_of_the_module_level_app() -> None:
    """The tutorials' inline form, against the app a server would run."""
    transport = httpx.ASGITransport(app=web.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_list_users(client: httpx.AsyncClient) -> None:
    response = await client.get("/users")
    assert response.status_code == 200
    assert response.json() == [{"id": 1, "email": "ada@example.com", "name": "Ada"}]


async def test_get_existing_user(client: httpx.AsyncClient) -> None:
    response = await client.get("/users/1")
    assert response.status_code == 200
    assert response.json()["name"] == "Ada"


async def test_get_missing_user_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/users/999")
    assert response.status_code == 404
    assert response.json() == {"detail": "user 999 not found"}


async def test_register_sends_welcome(client: httpx.AsyncClient, notifier: AsyncMock) -> None:
    response = await client.post("/users", json={"email": "bob@example.com", "name": "Bob"})

    assert response.status_code == 201
    assert response.json() == {
        "user": {"id": 2, "email": "bob@example.com", "name": "Bob"},
        "welcome_sent": True,
    }
    notifier.send_email.assert_awaited_once_with(
        to="bob@example.com", subject="Welcome!", body="Hi Bob"
    )
    # The new user is visible to the next request.
    assert (await client.get("/users/2")).json()["email"] == "bob@example.com"


async def test_register_duplicate_email_is_409(
    client: httpx.AsyncClient, notifier: AsyncMock
) -> None:
    response = await client.post("/users", json={"email": "ada@example.com", "name": "Ada"})
    assert response.status_code == 409
    notifier.send_email.assert_not_awaited()


@pytest.mark.parametrize("body", [{}, {"email": "x@example.com"}, {"name": "No Email"}])
async def test_register_rejects_incomplete_body(
    client: httpx.AsyncClient, body: dict[str, str]
) -> None:
    response = await client.post("/users", json=body)
    assert response.status_code == 422
