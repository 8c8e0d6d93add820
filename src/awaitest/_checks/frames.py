"""The user's line: which frames are asyncio's or awaitest's own, and how a frame, a pending
task's await chain or a traceback is shown without them."""

from __future__ import annotations

import asyncio
import dis
import inspect
import os
import selectors
import traceback
import types
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

ASYNCIO_DIR: Final = os.path.dirname(asyncio.__file__)
SELECTORS_FILE: Final = os.path.splitext(selectors.__file__ or "selectors")[0]
AWAITEST_DIR: Final = os.path.dirname(os.path.dirname(__file__))  # the awaitest package
#: Where asyncio's and awaitest's own frames come from: never "the user's line".
NOT_USER_CODE: Final = (ASYNCIO_DIR, AWAITEST_DIR)


def pending_stacks(
    loop: asyncio.AbstractEventLoop,
    hosts: Mapping[asyncio.Task[Any], object],
    only: Callable[[asyncio.Task[Any]], bool] | None = None,
) -> str:
    """Every pending task on ``loop`` (that ``only`` accepts: a batch's test's own) with the
    await chain it is suspended in, innermost last; a generator fixture's host task is shown as
    its async generator."""
    blocks = []
    for task in sorted(asyncio.all_tasks(loop), key=lambda t: t.get_name()):
        if only is not None and not only(task):
            continue
        inner = hosts.get(task) or task.get_coro()
        name = getattr(inner, "__qualname__", repr(inner))
        kind = "async fixture" if task in hosts else "running"
        chain = waiting_chain(inner)
        if not chain:
            continue  # asyncio's or awaitest's own helper task (asyncio.wait, gather)
        frames = "".join(traceback.format_list(chain))
        blocks.append(f"Task {task.get_name()!r} {kind} {name}():\n{frames}".rstrip())
    return "\n".join(blocks) if blocks else "(no pending tasks of the test's own)"


def waiting_chain(awaitable: object) -> list[traceback.FrameSummary]:
    """Where a suspended coroutine waits: the frames of its await chain that are neither
    asyncio's nor awaitest's, outermost first (the last is the line it waits on)."""
    return [f for f in _await_chain(awaitable) if not f.filename.startswith(NOT_USER_CODE)]


def _await_chain(awaitable: object) -> Iterator[traceback.FrameSummary]:
    """Frames of a suspended coroutine and of everything it is awaiting, outermost first."""
    seen = 0
    while awaitable is not None and seen < 100:
        seen += 1
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
        frame = frame or getattr(awaitable, "ag_frame", None)
        if frame is None:
            return
        yield traceback.FrameSummary(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)
        awaitable = (
            getattr(awaitable, "cr_await", None)
            or getattr(awaitable, "gi_yieldfrom", None)
            or getattr(awaitable, "ag_await", None)
        )


def user_frames(tb: types.TracebackType | None) -> str:
    """A traceback without asyncio's, selectors' and awaitest's own frames."""
    summary = [
        entry
        for entry in traceback.extract_tb(tb)
        if not entry.filename.startswith((ASYNCIO_DIR, AWAITEST_DIR, SELECTORS_FILE))
    ]
    return "".join(traceback.format_list(summary)).rstrip()


def user_stack(frame: types.FrameType | None) -> str:
    """The stack of a running frame, from the code the loop called into (not the loop's)."""
    entries = traceback.extract_stack(frame)
    start = 0
    for index, entry in enumerate(entries):
        if entry.filename.startswith((ASYNCIO_DIR, SELECTORS_FILE)):
            start = index + 1
    kept = [e for e in entries[start:] if not e.filename.startswith(AWAITEST_DIR)]
    return "".join(traceback.format_list(kept or entries[-3:])).rstrip()


def in_loop_machinery(frame: types.FrameType | None) -> bool:
    filename = frame.f_code.co_filename if frame is not None else ""
    return filename.startswith((ASYNCIO_DIR, SELECTORS_FILE, AWAITEST_DIR))


def origin_site(origin: tuple[tuple[str, int, str], ...] | None) -> str | None:
    """The first creation frame outside asyncio and awaitest, as ``file:line (in func)``."""
    if not origin:
        return None
    for filename, lineno, function in origin:
        if not filename.startswith(NOT_USER_CODE):
            return f"{shown(filename)}:{lineno} (in {function})"
    filename, lineno, function = origin[0]
    return f"{shown(filename)}:{lineno} (in {function})"


def user_frame(frame: types.FrameType | None) -> types.FrameType | None:
    """The innermost frame, from ``frame`` outwards, that is not asyncio's or awaitest's."""
    while frame is not None and _not_user_code(frame.f_code.co_filename):
        frame = frame.f_back
    return frame


def creating_frame(frame: types.FrameType | None) -> types.FrameType | None:
    """The code that created a task: as :func:`user_frame`, but None when asyncio itself did,
    in a callback the loop ran (a server starting a connection's handler): outside the loop's
    callback are only the loop's caller and pytest, who created nothing. Runs for every task
    a test creates, so the prefix test is looked up per file rather than done per frame."""
    known = NOT_USER_FILES
    while frame is not None:
        code = frame.f_code
        filename = code.co_filename
        machinery = known.get(filename)
        if machinery is None:
            machinery = _not_user_code(filename)
        if not machinery:
            return frame
        if code.co_name == "_run" and filename.startswith(ASYNCIO_DIR):
            return None  # Handle._run: the loop running a callback
        frame = frame.f_back
    return None


#: Per source file: whether it is asyncio's or awaitest's (a few hundred files at most).
NOT_USER_FILES: Final[dict[str, bool]] = {}


def _not_user_code(filename: str) -> bool:
    machinery = NOT_USER_FILES.get(filename)
    if machinery is None:
        machinery = NOT_USER_FILES[filename] = filename.startswith(NOT_USER_CODE)
    return machinery


def code_site(code: types.CodeType, lineno: int | None) -> str:
    """``file:line (in function)`` as the messages show a frame."""
    return f"{shown(code.co_filename)}:{lineno} (in {code.co_name})"


#: The instructions that name a function about to be called (as a global, a local, a method).
_NAMING: Final = frozenset(
    {"LOAD_GLOBAL", "LOAD_NAME", "LOAD_FAST", "LOAD_DEREF", "LOAD_ATTR", "LOAD_METHOD"}
)


def calling_lines(code: types.CodeType, name: str) -> set[int]:
    """The lines of ``code`` (its comprehensions and nested functions included) that name
    ``name``: where a function of that name is called from, read from the bytecode."""
    found: set[int] = set()
    if not name:
        return found
    for instruction in dis.get_instructions(code):
        line = instruction.positions.lineno if instruction.positions is not None else None
        if instruction.opname in _NAMING and instruction.argval == name and line is not None:
            found.add(line)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found |= calling_lines(const, name)
    return found


def creator_site(code: types.CodeType, offset: int) -> str:
    """:func:`code_site` of the instruction at byte ``offset`` of ``code`` (a frame's
    ``f_lasti``), as the frame's ``f_lineno`` said it then. perf: ``f_lineno`` reads the line
    table at once, about 900 instructions for every task a test creates; the offset is read
    for free and turned into a line only for a task that is reported."""
    return code_site(code, line_at(code, offset))


def line_at(code: types.CodeType, offset: int) -> int | None:
    """The line of the instruction at byte ``offset`` of ``code`` (None: an instruction of no
    line, as ``f_lineno`` says it)."""
    for start, end, line in code.co_lines():
        if start <= offset < end:
            return line
    return None


def summary_site(entry: traceback.FrameSummary) -> str:
    """:func:`code_site` of a frame already summarized (an await chain's)."""
    return f"{shown(entry.filename)}:{entry.lineno} (in {entry.name})"


def frame_site(frame: Any) -> str:
    return code_site(frame.f_code, frame.f_lineno)


def override(key: str, value: str | float, marker: str = "awaitest") -> str:
    """The one line that changes a check's setting for one test, as every message gives it."""
    written = f'"{value}"' if isinstance(value, str) else f"{value:g}"
    return f"@pytest.mark.{marker}({key}={written})"


def definition_site(func: Any) -> str | None:
    """``path:line`` of the ``def`` of a function (unwrapped), or None when it has no code."""
    code = getattr(inspect.unwrap(func), "__code__", None)
    return None if code is None else f"{shown(code.co_filename)}:{code.co_firstlineno}"


def shown(filename: str) -> str:
    """A path as pytest shows it: relative to the working directory when inside it."""
    try:
        relative = os.path.relpath(filename)
    except ValueError:  # another drive on Windows
        return filename
    return filename if relative.startswith("..") else relative
