"""Whose is an exception that reached the loop's exception handler: the project's, or not.

A test fails for a loop error only on evidence that the project (its package or its tests)
was involved. The evidence is read from what asyncio hands the handler, and from the frame
that called ``loop.call_exception_handler``:

* a frame of the project's code in the exception's traceback (it raised there, or a callback
  or protocol method of the project's raised);
* the project's code calling ``loop.call_exception_handler`` itself (a library's own way of
  reporting an error it handled, in that library's own suite);
* a task or async generator whose code is the project's, a task the project's code created,
  a protocol class of the project's, the line that scheduled it (``source_traceback``, in
  debug mode).

Without any of these the error is someone else's: a third-party library's callback, or asyncio
on its own. A ``CancelledError`` raised by one of asyncio's own callbacks (Python 3.11's
``StreamReaderProtocol`` when a server's connection handler is cancelled) is never the test's.

Project code is code under the project's root directory (pytest's rootdir) that is not an
installed package or the standard library (no ``site-packages`` or ``dist-packages`` in its
path, not in the standard library's directory).
"""

from __future__ import annotations

import asyncio
import os
import sys
import types
from collections.abc import Iterator
from typing import Any, Final

from .._record import Record
from .frames import ASYNCIO_DIR, AWAITEST_DIR, creator_site, frame_site, shown

_INSTALLED: Final = frozenset({"site-packages", "dist-packages"})
#: The standard library's directory (``lib-dynload`` is inside it). Installed packages are
#: recognised by their directory's name instead. (Not the whole installation prefix: a project
#: in /usr/src/app is a project under Debian's /usr.)
_STDLIB: Final = os.path.join(os.path.normcase(os.path.dirname(os.__file__)), "")


class Places:
    """Which source files are the project's, and which library any other file belongs to."""

    __slots__ = ("_cache", "_python", "_roots")

    def __init__(self, roots: tuple[str, ...]) -> None:
        self._roots = tuple(os.path.join(os.path.normcase(os.path.abspath(r)), "") for r in roots)
        self._python = (_STDLIB, os.path.join(ASYNCIO_DIR, ""), AWAITEST_DIR)
        self._cache: dict[str, bool] = {}

    def is_project(self, filename: str) -> bool:
        found = self._cache.get(filename)
        if found is None:
            found = self._cache[filename] = self._classify(filename)
        return found

    def _classify(self, filename: str) -> bool:
        if not os.path.isabs(filename):
            return False  # "<string>", "<frozen ...>": nobody's file
        path = os.path.normcase(filename)
        if _INSTALLED.intersection(path.split(os.sep)):
            return False
        if path.startswith(self._python):
            return False
        return path.startswith(self._roots)

    def library(self, filename: str) -> str:
        """How a file that is not the project's is named: its top-level package."""
        path = os.path.normcase(filename)
        if path.startswith(os.path.join(ASYNCIO_DIR, "")):
            return "asyncio"
        parts = path.split(os.sep)
        for index in range(len(parts) - 1, -1, -1):
            if parts[index] in _INSTALLED and index + 1 < len(parts):
                return parts[index + 1].split(".")[0]
        if path.startswith(_STDLIB):
            return path[len(_STDLIB) :].split(os.sep)[0].split(".")[0]
        return shown(filename)


class Blame(Record):
    """What the evidence says about one loop error. (perf: a ``Record``, not a dataclass: a
    dataclass costs the import of every run ~4M instructions, a NamedTuple ~1M.)"""

    __slots__ = ("asyncio_noise", "evidence", "library", "project", "reported_by_project")

    def __init__(
        self,
        project: bool,
        evidence: str,
        library: str | None = None,
        reported_by_project: bool = False,
        asyncio_noise: bool = False,
    ) -> None:
        #: The project's code is involved: the test fails for it. ``evidence`` says how.
        self.project = project
        self.evidence = evidence
        #: Not the project's: the library it came from ("grpc", "asyncio"), None if unknown.
        self.library = library
        #: The project's own call to ``loop.call_exception_handler``: a report of a handled
        #: error.
        self.reported_by_project = reported_by_project
        #: asyncio's own callback raised ``CancelledError``: nobody's error, not even reported.
        self.asyncio_noise = asyncio_noise


def blame(
    context: dict[str, Any],
    places: Places,
    reporter: types.FrameType | None,
    task_creator: Creator | None = None,
) -> Blame:
    """``reporter``: the frame that called ``loop.call_exception_handler``, when that is not
    asyncio itself; ``task_creator``: where the context's task was created, if known."""
    exc = context.get("exception")
    tb = exc.__traceback__ if isinstance(exc, BaseException) else None
    entries = list(_entries(tb))
    if isinstance(exc, asyncio.CancelledError) and _asyncio_callback(entries):
        return Blame(False, "", "asyncio", asyncio_noise=True)
    if reporter is not None and places.is_project(reporter.f_code.co_filename):
        return Blame(True, frame_site(reporter), reported_by_project=True)
    for filename, site in reversed(entries):
        if places.is_project(filename):
            return Blame(True, f"raised at {site}")
    objects = list(_objects(context, task_creator))
    for evidence, filename in objects:
        if places.is_project(filename):
            return Blame(True, evidence)
    # Not the project's: named after the innermost frame that raised outside asyncio, else
    # whoever reported it, else the code of its task, generator or protocol.
    files = [filename for filename, _ in reversed(entries) if not filename.startswith(ASYNCIO_DIR)]
    if reporter is not None:
        files.append(reporter.f_code.co_filename)
    files += [filename for _, filename in objects]
    files += [filename for filename, _ in entries]
    for filename in files:
        if os.path.isabs(filename) and not filename.startswith(AWAITEST_DIR):
            return Blame(False, "", places.library(filename))
    return Blame(False, "")


#: Where a task was created: the creating code and the offset of its instruction then (the
#: frame's ``f_lasti``; ``frames.creator_site`` reads its line). Kept as found, and shown only
#: for a task that is reported: reading the line and formatting a path for every task a test
#: creates costs more than creating the task. The code object, not the frame, so that no
#: frame's locals stay alive.
Creator = tuple[types.CodeType, int]


def _entries(tb: types.TracebackType | None) -> Iterator[tuple[str, str]]:
    """(file, site) of each frame of a traceback, outermost first."""
    while tb is not None:
        code = tb.tb_frame.f_code
        yield code.co_filename, f"{shown(code.co_filename)}:{tb.tb_lineno} (in {code.co_name})"
        tb = tb.tb_next


def _asyncio_callback(entries: list[tuple[str, str]]) -> bool:
    """The callback the loop ran (the first frame below asyncio's ``Handle._run``) is
    asyncio's own."""
    inner = entries[1:] if entries and entries[0][1].endswith("(in _run)") else entries
    return bool(inner) and inner[0][0].startswith(ASYNCIO_DIR)


def _objects(context: dict[str, Any], task_creator: Creator | None) -> Iterator[tuple[str, str]]:
    """(evidence, file) for each object of the context that has code of its own."""
    future = context.get("task") or context.get("future")
    code = _code_of(future.get_coro()) if isinstance(future, asyncio.Task) else None
    if code is not None:
        yield (
            f"in a task running {code.co_qualname}(), defined at {_definition(code)}",
            code.co_filename,
        )
    if task_creator is not None:
        yield f"in a task created at {creator_site(*task_creator)}", task_creator[0].co_filename
    code = _code_of(context.get("asyncgen"))
    if code is not None:
        yield (
            f"in the async generator {code.co_qualname}(), defined at {_definition(code)}",
            code.co_filename,
        )
    protocol = context.get("protocol")
    if protocol is not None:
        cls = type(protocol)
        filename = getattr(sys.modules.get(cls.__module__), "__file__", None)
        if isinstance(filename, str):
            yield f"in protocol {cls.__qualname__}, defined in {shown(filename)}", filename
    for entry in context.get("source_traceback") or ():
        filename = getattr(entry, "filename", None)
        if isinstance(filename, str):
            yield f"scheduled at {shown(filename)}:{entry.lineno} (in {entry.name})", filename


def _code_of(obj: object) -> types.CodeType | None:
    for attribute in ("cr_code", "ag_code", "gi_code"):
        code = getattr(obj, attribute, None)
        if isinstance(code, types.CodeType):
            return code
    return None


def _definition(code: types.CodeType) -> str:
    return f"{shown(code.co_filename)}:{code.co_firstlineno}"
