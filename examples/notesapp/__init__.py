"""notesapp: a small async application used by awaitest's example test suite.

Each module is one pattern the async-testing tutorials teach:

- ``notes``  : reading and exporting notes with aiofiles and asyncio.gather
- ``users``  : a user service with a notifier, an asyncio.Queue event bus and timeouts
- ``web``    : a FastAPI app over the user service
- ``storage``: a note repository on aiosqlite or asyncpg
- ``batch``  : backend-neutral concurrency with anyio (runs on asyncio and trio)
- ``agent``  : an agent that calls an LLM chat-completions API through httpx
"""
