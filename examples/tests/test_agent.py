"""Seed 004: an LLM agent whose HTTP calls are mocked with respx.

respx patches httpx's transports, so ``NoteAgent`` runs its real code (prompt building,
retries, reply parsing) against canned responses: no network, no API key, no cost.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import TYPE_CHECKING

import httpx
import pytest
import respx

from notesapp.agent import LLMClient, LLMError, NoteAgent, make_http_client
from notesapp.notes import Note

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

BASE_URL = "https://llm.test"
NOTE = Note(title="Async Intro", body="Coroutines and await.")


def reply(content: str) -> httpx.Response:
    """A chat-completions response whose assistant message is ``content``."""
    return httpx.Response(
        200, json={"choices": [{"message": {"role": "assistant", "content": content}}]}
    )


@pytest.fixture
def llm_api() -> Iterator[respx.MockRouter]:
    """Every request to BASE_URL is answered by the routes a test adds; others are errors."""
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        yield router


@pytest.fixture(scope="module")
def ssl_context() -> ssl.SSLContext:
    """Built once: loading the CA bundle for every test's client would cost 0.1 s each."""
    return ssl.create_default_context()


@pytest.fixture
async def http(ssl_context: ssl.SSLContext) -> AsyncIterator[httpx.AsyncClient]:
    async with make_http_client(BASE_URL, api_key="test-key", verify=ssl_context) as client:
        yield client


@pytest.fixture
def agent(http: httpx.AsyncClient) -> NoteAgent:
    return NoteAgent(LLMClient(http, model="test-model", max_retries=2, retry_delay=0))


@pytest.mark.asyncio
async def test_suggest_tags_sends_the_note_and_parses_the_reply(
    llm_api: respx.MockRouter, agent: NoteAgent
) -> None:
    route = llm_api.post("/v1/chat/completions").mock(
        return_value=reply('["Python", "async", "python", " asyncio "]')
    )

    tags = await agent.suggest_tags(NOTE)

    assert tags == ["python", "async", "asyncio"]  # lower-cased, stripped, deduplicated
    assert route.call_count == 1
    request = route.calls.last.request
    assert request.headers["Authorization"] == "Bearer test-key"
    payload = json.loads(request.content)
    assert payload["model"] == "test-model"
    assert payload["messages"][0]["role"] == "system"
    assert payload["messages"][1] == {
        "role": "user",
        "content": "# Async Intro\n\nCoroutines and await.",
    }


async def test_summarize(llm_api: respx.MockRouter, agent: NoteAgent) -> None:
    llm_api.post("/v1/chat/completions").mock(return_value=reply("  Explains coroutines.\n"))
    assert await agent.summarize(NOTE) == "Explains coroutines."


async def test_retries_rate_limits_and_server_errors(
    llm_api: respx.MockRouter, agent: NoteAgent
) -> None:
    route = llm_api.post("/v1/chat/completions").mock(
        side_effect=[httpx.Response(429), httpx.Response(503), reply('["ok"]')]
    )
    assert await agent.suggest_tags(NOTE) == ["ok"]
    assert route.call_count == 3


async def test_retries_transport_errors(llm_api: respx.MockRouter, agent: NoteAgent) -> None:
    route = llm_api.post("/v1/chat/completions").mock(
        side_effect=[httpx.ConnectTimeout("timed out"), reply('["ok"]')]
    )
    assert await agent.suggest_tags(NOTE) == ["ok"]
    assert route.call_count == 2


async def test_gives_up_after_max_retries(llm_api: respx.MockRouter, agent: NoteAgent) -> None:
    route = llm_api.post("/v1/chat/completions").mock(return_value=httpx.Response(500))
    with pytest.raises(LLMError, match=r"after 3 attempts \(HTTP 500\)"):
        await agent.summarize(NOTE)
    assert route.call_count == 3


async def test_client_errors_are_not_retried(llm_api: respx.MockRouter, agent: NoteAgent) -> None:
    route = llm_api.post("/v1/chat/completions").mock(return_value=httpx.Response(401))
    with pytest.raises(LLMError, match="HTTP 401"):
        await agent.summarize(NOTE)
    assert route.call_count == 1


@pytest.mark.parametrize("content", ["python, async", '{"tags": ["python"]}', "[1, 2]"])
async def test_reply_that_is_not_a_list_of_tags_is_an_error(
    llm_api: respx.MockRouter, agent: NoteAgent, content: str
) -> None:
    llm_api.post("/v1/chat/completions").mock(return_value=reply(content))
    with pytest.raises(LLMError, match="JSON array of tags"):
        await agent.suggest_tags(NOTE)


async def test_tag_all_limits_requests_in_flight(
    llm_api: respx.MockRouter, http: httpx.AsyncClient
) -> None:
    """An async side effect lets the mock API observe how many requests overlap."""
    in_flight = 0
    peak = 0

    async def slow_api(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        title = json.loads(request.content)["messages"][1]["content"].splitlines()[0]
        return reply(json.dumps([title.removeprefix("# ").lower()]))

    llm_api.post("/v1/chat/completions").mock(side_effect=slow_api)
    agent = NoteAgent(LLMClient(http, model="test-model"), concurrency=2)
    batch = [Note(title=f"Note {i}", body="...") for i in range(6)]

    tagged = await agent.tag_all(batch)

    assert tagged == {note.title: [note.title.lower()] for note in batch}
    assert peak == 2
