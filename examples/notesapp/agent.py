"""An agent that asks an LLM (an OpenAI-style chat-completions API, over httpx) about notes.

``LLMClient.complete`` retries on rate limits (429), server errors (5xx) and transport
errors with exponential backoff, and fails at once on other client errors. ``NoteAgent``
builds the prompts and validates the replies.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    import ssl

    from notesapp.notes import Note

Message = dict[str, str]

TAGS_PROMPT = (
    "You tag notes. Reply with a JSON array of at most 5 short lowercase tags and nothing else."
)
SUMMARY_PROMPT = "Summarize the note in one sentence."


class LLMError(Exception):
    pass


def make_http_client(
    base_url: str,
    api_key: str,
    *,
    timeout: float = 30.0,
    verify: ssl.SSLContext | bool = True,
) -> httpx.AsyncClient:
    """An httpx client for the API. Pass one ``verify`` SSL context to many clients to
    avoid loading the CA bundle each time (that takes about 0.1 s)."""
    return httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=timeout,
        verify=verify,
    )


class LLMClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        model: str,
        max_retries: int = 2,
        retry_delay: float = 0.5,
    ) -> None:
        self._http = http
        self.model = model
        self.max_retries = max_retries
        self.retry_delay = retry_delay

    async def complete(self, messages: list[Message]) -> str:
        payload = {"model": self.model, "messages": messages, "temperature": 0}
        problem = "no attempt made"
        for attempt in range(self.max_retries + 1):
            if attempt:
                await asyncio.sleep(self.retry_delay * 2 ** (attempt - 1))
            try:
                response = await self._http.post("/v1/chat/completions", json=payload)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code == 429 or response.is_server_error:
                problem = f"HTTP {response.status_code}"
                continue
            if response.is_error:
                raise LLMError(f"LLM API refused the request: HTTP {response.status_code}")
            try:
                content = response.json()["choices"][0]["message"]["content"]
            except (ValueError, LookupError, TypeError) as exc:
                raise LLMError(f"unexpected LLM API response: {response.text[:200]}") from exc
            return str(content)
        raise LLMError(f"LLM API failed after {self.max_retries + 1} attempts ({problem})")


class NoteAgent:
    def __init__(self, llm: LLMClient, *, concurrency: int = 4) -> None:
        self._llm = llm
        self._semaphore = asyncio.Semaphore(concurrency)

    async def suggest_tags(self, note: Note) -> list[str]:
        reply = await self._ask(TAGS_PROMPT, note)
        try:
            tags = json.loads(reply)
        except json.JSONDecodeError:
            raise LLMError(f"expected a JSON array of tags, got {reply!r}") from None
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            raise LLMError(f"expected a JSON array of tags, got {reply!r}")
        unique = dict.fromkeys(tag.strip().lower() for tag in tags if tag.strip())
        return list(unique)[:5]

    async def summarize(self, note: Note) -> str:
        return (await self._ask(SUMMARY_PROMPT, note)).strip()

    async def tag_all(self, notes: list[Note]) -> dict[str, list[str]]:
        """Tag many notes concurrently, with at most ``concurrency`` requests in flight."""
        tags = await asyncio.gather(*(self.suggest_tags(note) for note in notes))
        return {note.title: note_tags for note, note_tags in zip(notes, tags, strict=True)}

    async def _ask(self, instruction: str, note: Note) -> str:
        async with self._semaphore:
            return await self._llm.complete(
                [
                    {"role": "system", "content": instruction},
                    {"role": "user", "content": f"# {note.title}\n\n{note.body}"},
                ]
            )
