"""Time whole pytest runs of generated suites under awaitest and under pytest-asyncio.

Run from the repository root (the full run behind docs/performance.md, then CI's smoke run):

    python benchmarks/bench.py --n 2000 --n 20000 --repeat 5 --clock cpu --reference-side \\
        --markdown benchmarks/.work/perf.md --chart benchmarks/.work/perf.png
    python benchmarks/bench.py --n 200 --repeat 1 --reference-side

For every N it writes nine suites of N tests under benchmarks/.work/nN/ (files of ~100 tests,
strict mode, explicit asyncio markers): sync, async, async_fixture (a function-scoped async
generator fixture per test), async_session (module-level loop_scope="session"), and five
shaped like real suites: sync_fixtures (five sync fixtures per test), module_fixture (a
module-scoped async fixture on the module's loop), tasks (twenty tasks created and gathered per
test), parametrized (one parametrized function per file) and logging (ten records per test). Whole
`python -m pytest` runs are timed (wall clock; --clock cpu: the child's user + system time;
--clock instructions: the instructions the run executes, counted by valgrind's callgrind, the same
from run to run on a machine whose speed drifts, so one round is enough), interleaved (round,
suite, side), and medians reported.

--io-wait times one other suite instead, by wall clock: io_wait, 200 async tests that each wait
about 50 ms on a reply from a local TCP server (a session fixture starts it on 127.0.0.1:0) plus
five that use monkeypatch and so must run alone; every side runs it one test at a time, the
serial baseline for running tests concurrently (issue 18).

Sides:

* awaitest side: this Python (or --awaitest-python); pytest-asyncio must not be installed there.
* peer side: a venv at benchmarks/.work/venv-pytest-asyncio with the awaitest side's pytest and
  pluggy versions plus pytest-asyncio --peer-version (skipped by --no-peer).
* extra sides, reported after the targets: --checks-side (awaitest with every check on) and
  --reference-side (benchmarks/reference_plugin.py on the sync, async and async_fixture suites
  and the five shapes: the least a plugin can do to run each test and its fixture on a new loop).

Each side runs with plugin autoloading off and only its own plugin loaded by -p, so whatever
else is installed costs neither side (--autoload keeps autoloading on); PYTHONDONTWRITEBYTECODE
is dropped so an untimed warm-up fills the .pyc caches both sides then share. Numbers:
floor = awaitest suite / awaitest sync; peer ratio = awaitest / pytest-asyncio on the same
suite; ovh = (suite - sync) / N, ms per test, each side against its own sync suite; peak = the
pytest process's ru_maxrss; collect = the same run with --collect-only. Exit status: 0 whether
targets pass or miss, 1 if a run failed, 2 if a side could not be set up.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from xml.etree import ElementTree

WORK = Path(__file__).resolve().parent / ".work"
PEER_VENV = WORK / "venv-pytest-asyncio"
#: The shapes of real suites (issue 17), each beside the four above and run by every side.
SHAPES = ("sync_fixtures", "module_fixture", "tasks", "parametrized", "logging")
SUITES = ("sync", "async", "async_fixture", "async_session", *SHAPES)
ASYNC_SUITES = SUITES[1:]
COLLECTED = SUITES[:4]  # also timed with --collect-only (the shapes are not: CI's time budget)
PER_FILE = 100
INI = "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"
IMPORTS = "import asyncio\n\nimport pytest\n"
SESSION = '\npytestmark = pytest.mark.asyncio(loop_scope="session")\n'
MODULE = '\npytestmark = pytest.mark.asyncio(loop_scope="module")\n'
WORK_TASK = """

async def work(i):
    await asyncio.sleep(0)
    return i
"""
LOGGER = "import asyncio\nimport logging\n\nimport pytest\n\nlog = logging.getLogger(__name__)\n"
HEADERS = dict.fromkeys(SUITES, IMPORTS) | {
    "sync": "",
    "async_session": IMPORTS + SESSION,
    "module_fixture": IMPORTS + MODULE,
    "tasks": IMPORTS + WORK_TASK,
    "logging": LOGGER,
}
MARK, AWAIT = "@pytest.mark.asyncio\n", "    await asyncio.sleep(0)\n"
TESTS = {
    "sync": "\ndef test_{i}():\n    assert sum(range(10)) == 45\n",
    "async": f"\n{MARK}async def test_{{i}}():\n{AWAIT}    assert sum(range(10)) == 45\n",
    "async_fixture": f"\n{MARK}async def test_{{i}}(resource):\n{AWAIT}    assert resource == 45\n",
    "async_session": f"\nasync def test_{{i}}():\n{AWAIT}    assert sum(range(10)) == 45\n",
    # five function-scoped sync fixtures (two of them generators), as a real test asks for
    "sync_fixtures": f"\n{MARK}async def test_{{i}}(settings, store, client, ids, clock):\n"
    f"{AWAIT}    assert client.send(ids[0]) == settings['retries']\n",
    # a module-scoped async generator fixture, on the module's loop with the tests
    "module_fixture": f"\nasync def test_{{i}}(pool):\n{AWAIT}    assert pool == 45\n",
    # twenty tasks created, each suspending once, gathered
    "tasks": f"\n{MARK}async def test_{{i}}():\n"
    "    tasks = [asyncio.create_task(work(k)) for k in range(20)]\n"
    "    assert sum(await asyncio.gather(*tasks)) == 190\n",
    # ten log records reaching pytest's capturing handlers (WARNING passes the root's level)
    "logging": f"\n{MARK}async def test_{{i}}():\n"
    "    for k in range(10):\n"
    "        log.warning('step %d of %s', k, 'test_{i}')\n"
    f"{AWAIT}    assert sum(range(10)) == 45\n",
}
#: parametrized: one test function per file, one case per test
PARAMETRIZED = (
    f"\n{MARK}@pytest.mark.parametrize('case', range({{count}}))\n"
    f"async def test_{{i}}(case):\n{AWAIT}    assert case >= 0\n"
)
FIXTURE_IMPORT = """import asyncio

import pytest

try:
    from pytest_asyncio import fixture  # pytest-asyncio, or awaitest's alias of it
except ImportError:  # the reference plugin's side: it runs any async generator fixture

    def fixture(*args, loop_scope=None, **kwargs):
        return pytest.fixture(*args, **kwargs)
"""
CONFTEST = f"""{FIXTURE_IMPORT}

@fixture
async def resource():
{AWAIT}    yield 45
{AWAIT}"""
MODULE_CONFTEST = f"""{FIXTURE_IMPORT}

@fixture(scope="module", loop_scope="module")
async def pool():
{AWAIT}    yield 45
{AWAIT}"""
SYNC_FIXTURES = """import pytest


class Client:
    def __init__(self, store):
        self.store = store

    def send(self, key):
        self.store[key] = self.store.get(key, 0) + 1
        return self.store["retries"] + self.store[key] - 1


@pytest.fixture
def settings():
    return {"retries": 3, "timeout": 5.0}


@pytest.fixture
def store(settings):
    state = dict(settings)
    yield state
    state.clear()


@pytest.fixture
def client(store):
    return Client(store)


@pytest.fixture
def ids():
    return [f"id-{n}" for n in range(5)]


@pytest.fixture
def clock():
    ticks = [0.0]
    yield ticks
    ticks.clear()
"""
CONFTESTS = {
    "async_fixture": CONFTEST,
    "module_fixture": MODULE_CONFTEST,
    "sync_fixtures": SYNC_FIXTURES,
}
#: --io-wait: IO_TESTS tests waiting IO_DELAY on a local server, and IO_ALONE that must run alone
IO_WAIT, IO_TESTS, IO_ALONE, IO_DELAY = "io_wait", 200, 5, 0.05
IO_CONFTEST = f"""import asyncio
import threading

import pytest

DELAY = {IO_DELAY}


async def reply(reader, writer):
    line = await reader.readline()
    await asyncio.sleep(DELAY)  # the server's latency: the test waits on it, idle
    writer.write(b"echo " + line)
    await writer.drain()
    writer.close()


@pytest.fixture(scope="session")
def server():
    \"\"\"A TCP server on 127.0.0.1:0 replying after DELAY, on a loop in its own thread (the
    tests' loops come and go; this one serves them all).\"\"\"
    loop = asyncio.new_event_loop()
    started = loop.run_until_complete(asyncio.start_server(reply, "127.0.0.1", 0))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield started.sockets[0].getsockname()[:2]
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    started.close()
    loop.run_until_complete(started.wait_closed())
    loop.close()
"""
IO_CLIENT = """import asyncio


async def ask(address, text):
    reader, writer = await asyncio.open_connection(*address)
    writer.write(text.encode() + b"\\n")
    await writer.drain()
    answer = await reader.readline()
    writer.close()
    await writer.wait_closed()
    return answer.decode()
"""
IO_HEADER = "import pytest\nfrom ioclient import ask\n"
IO_TEST = (
    f"\n{MARK}async def test_{{i}}(server):\n"
    "    assert await ask(server, 'test_{i}') == 'echo test_{i}\\n'\n"
)
#: monkeypatch changes the process for every test in flight: a test using it runs alone
IO_ALONE_TEST = (
    f"\n{MARK}async def test_{{i}}_alone(server, monkeypatch):\n"
    "    monkeypatch.setenv('IO_WAIT_TEST', 'test_{i}')\n"
    "    assert await ask(server, 'test_{i}') == 'echo test_{i}\\n'\n"
)
PROBE = """import importlib, importlib.metadata as md, json, sys
def version(dist):
    try: return md.version(dist)
    except md.PackageNotFoundError: return None
try: importlib.import_module(sys.argv[1]); error = None
except Exception as exc: error = repr(exc)
found = {n: version(n) for n in ("pytest", "pluggy", "pytest-asyncio", "awaitest")}
print(json.dumps({"error": error, "python": sys.version.split()[0], "executable": sys.executable,
                  **found}))
"""
#: --clock -> the unit of a whole run and of the overhead per test (ovh: run unit / 1000)
UNITS = {"wall": ("s", "ms"), "cpu": ("s", "ms"), "instructions": ("M instr", "k instr")}
DROP_ENV = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTHONDONTWRITEBYTECODE")  # keep .pyc caches
HASH_SEED = "0"  # every child's PYTHONHASHSEED (run_pytest)
FORMATS = (".2f", ".2f", ".3f", ".3f", ".4f", ".4f", ".1f", ".1f", ".2f", ".2f")
COUNTED = (".1f", ".1f", ".3f", ".3f", ".1f", ".1f", ".1f", ".1f", ".1f", ".1f")  # instructions


def columns(clock: str) -> list[str]:
    run, ovh = UNITS[clock]
    return [
        "suite", f"awaitest {run}", f"peer {run}", "floor", "peer ratio", f"ovh awaitest {ovh}",
        f"ovh peer {ovh}", "peak awaitest MB", "peak peer MB", f"collect awaitest {run}",
        f"collect peer {run}",
    ]  # fmt: skip


class BenchError(Exception):
    """A run failed (code 1) or a side could not be set up (code 2)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Side:
    name: str
    python: str
    plugin: str  # for -p: an entry-point name ("awaitest", "asyncio") or a module
    options: tuple[str, ...] = ()  # more pytest arguments, for every run of this side
    suites: tuple[str, ...] = SUITES  # the suites this side runs
    path: str | None = None  # prepended to PYTHONPATH: where the plugin module is


CHECKS, REFERENCE = "awaitest+checks", "reference"  # the extra sides' names
#: --idle-concurrency-side: concurrency on, and no test opted in (none is marked), so nothing is
#: eligible: what the machinery costs a suite that doesn't use it (issue 18: within 2%).
IDLE, IDLE_CONCURRENCY = "awaitest+idle-concurrency", ("--asyncio-concurrency", "50")
#: --io-wait --concurrency N: the io_wait suite again with N tests in flight, every eligible
#: async test opted in by the ini key (the alone tests use monkeypatch, so they are not).
CONCURRENT = "awaitest concurrent"


def concurrently(limit: int) -> tuple[str, ...]:
    return ("--asyncio-concurrency", str(limit), "-o", "asyncio_concurrent_tests=all")


#: --checks-side: every check of awaitest on, the timeout and blocking checks included.
ALL_CHECKS = (
    "-o", "asyncio_unawaited=error", "-o", "asyncio_task_leaks=error",
    "-o", "asyncio_loop_errors=error", "-o", "asyncio_timeout=60",
    "-o", "asyncio_blocking_threshold=1",
)  # fmt: skip


@dataclass(frozen=True)
class Stats:  # medians for one suite on one side, times by the chosen --clock
    run: float
    peak_mb: float
    collect: float | None  # None: the suite is not timed with --collect-only (SHAPES)


@dataclass(frozen=True)
class Run:  # one pytest process
    wall: float
    cpu: float  # user + system time
    peak_mb: float
    instructions: float | None = None  # millions, with --clock instructions (another process)


@dataclass
class Samples:  # every run of one suite on one side
    runs: list[Run] = field(default_factory=list)
    collects: list[Run] = field(default_factory=list)  # the same with --collect-only

    def medians(self, clock: str) -> Stats | None:
        """None for a suite the side does not run (the reference side runs two)."""
        if not self.runs:
            return None

        def med(runs: list[Run], what: str) -> float:
            return float(statistics.median(getattr(r, what) for r in runs))

        collect = med(self.collects, clock) if self.collects else None
        return Stats(med(self.runs, clock), med(self.runs, "peak_mb"), collect)


Results = dict[int, dict[str, list[Stats]]]  # N -> suite -> [awaitest, peer?]
Every = dict[int, dict[str, list[Stats | None]]]  # the same, with the extra sides


def probe(python: str, module: str) -> dict[str, str | None]:
    """Python and distribution versions of `python`, and the error importing `module` if any."""
    cmd = [python, "-c", PROBE, module]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        return json.loads(out.stdout)  # type: ignore[no-any-return]
    except OSError as exc:
        return {"error": repr(exc)}
    except ValueError:
        return {"error": f"probing it failed: {out.stderr.strip()[-500:]}"}


def ensure_peer_venv(base: Side, versions: dict[str, str | None], peer_version: str) -> str:
    """Make the pytest-asyncio venv, or reuse it if it already has the wanted versions."""
    python = PEER_VENV / "bin" / "python"
    want = {k: versions[k] for k in ("pytest", "pluggy")} | {"pytest-asyncio": peer_version}
    if python.exists():
        have = probe(str(python), "pytest_asyncio")
        if have["error"] is None and all(have.get(k) == v for k, v in want.items()):
            return str(python)
        shutil.rmtree(PEER_VENV)
    print(f"building {PEER_VENV} with {want} ...", flush=True)
    pins = [f"{name}=={version}" for name, version in want.items()]
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *pins]
    for cmd in ([base.python, "-m", "venv", str(PEER_VENV)], pip):
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            shutil.rmtree(PEER_VENV, ignore_errors=True)
            raise BenchError(
                f"could not build the pytest-asyncio venv at {PEER_VENV}\n$ {shlex.join(cmd)}\n"
                f"{(done.stdout + done.stderr).strip()[-2000:]}\n"
                "Check that PyPI is reachable, or pass --no-peer to time awaitest alone.",
                code=2,
            )
    return str(python)


def write_suite(root: Path, suite: str, n: int) -> Path:
    """Write `n` tests of one kind into root/suite, in files of about PER_FILE tests each."""
    target = root / suite
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    (target / "pytest.ini").write_text(INI)
    if suite in CONFTESTS:
        (target / "conftest.py").write_text(CONFTESTS[suite])
    files = max(1, -(-n // PER_FILE))
    for f in range(files):
        numbers = range(f * n // files, (f + 1) * n // files)
        if suite == "parametrized":
            tests = PARAMETRIZED.format(i=f"{f:03d}", count=len(numbers))
        else:
            tests = "".join(TESTS[suite].format(i=f"{i:05d}") for i in numbers)
        (target / f"test_{suite}_{f:03d}.py").write_text(HEADERS[suite] + tests)
    return target


def write_io_suite(root: Path) -> Path:
    """Write the io_wait suite into root/io_wait: IO_TESTS tests in files of PER_FILE, with the
    IO_ALONE tests spread among them (each in its normal place, between the others)."""
    target = root / IO_WAIT
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    (target / "pytest.ini").write_text(INI)
    (target / "conftest.py").write_text(IO_CONFTEST)
    (target / "ioclient.py").write_text(IO_CLIENT)
    every = IO_TESTS // IO_ALONE  # an alone test after every `every` tests
    files = max(1, -(-IO_TESTS // PER_FILE))
    for f in range(files):
        tests = []
        for i in range(f * IO_TESTS // files, (f + 1) * IO_TESTS // files):
            tests.append(IO_TEST.format(i=f"{i:05d}"))
            if (i + 1) % every == every // 2:
                tests.append(IO_ALONE_TEST.format(i=f"{i:05d}"))
        (target / f"test_{IO_WAIT}_{f:03d}.py").write_text(IO_HEADER + "".join(tests))
    return target


def measure_io_wait(
    sides: list[Side], repeat: int, autoload: bool, concurrency: int | None = None
) -> list[str]:
    """--io-wait: whole runs of the io_wait suite on each side, interleaved, by wall clock.
    With ``concurrency``, also awaitest with that many tests in flight, right after its serial
    run in every round (see :func:`compared`)."""
    at, n = write_io_suite(WORK), IO_TESTS + IO_ALONE
    if concurrency is not None:
        sides = [*sides, replace(sides[0], name=CONCURRENT, options=concurrently(concurrency))]
    for side in sides:  # untimed warm-up: fills the assertion-rewrite .pyc cache
        run_pytest(side, at, n, autoload, collect=True)
    walls: list[list[float]] = [[] for _ in sides]
    pairs: list[dict[str, Compared]] = []
    for r in range(repeat):
        pair: dict[str, Compared] = {}
        for side, got in zip(sides, walls, strict=True):
            if concurrency is None or side.name not in ("awaitest", CONCURRENT):
                got.append(run_pytest(side, at, n, autoload, collect=False).wall)
            else:
                pair[side.name] = compared(side, at, n, autoload)
                got.append(pair[side.name].wall)
            print(f"  round {r + 1}/{repeat} {IO_WAIT} {side.name:<19} {got[-1]:7.2f} s")
        if pair:
            same_outcomes(pair["awaitest"].outcomes, pair[CONCURRENT].outcomes)
            pairs.append(pair)
    waiting = n * IO_DELAY
    lines = [
        f"{IO_WAIT}: {IO_TESTS} tests waiting {IO_DELAY * 1000:.0f} ms each on a local TCP "
        f"server, {IO_ALONE} using monkeypatch (must run alone); wall time of the whole run, "
        f"one test at a time (their waits alone add up to {waiting:.2f} s):"
    ]
    for side, got in zip(sides, walls, strict=True):
        median = statistics.median(got)
        lines.append(
            f"  {side.name:<19} median {median:6.2f} s  ({' '.join(f'{w:.2f}' for w in got)})  "
            f"{median / n * 1000:5.1f} ms per test, {median - waiting:5.2f} s beyond the waits"
        )
    if concurrency is not None:
        lines += speedups(pairs, concurrency, n)
    return lines


@dataclass(frozen=True)
class Compared:  # one run of the serial or the concurrent side, with what it said per test
    wall: float
    collect: float  # the same side's --collect-only run, just before: start-up and collection
    outcomes: Outcomes
    said: list[str]  # awaitest's "concurrency: ..." summary lines


def compared(side: Side, at: Path, n: int, autoload: bool) -> Compared:
    """A timed run with -rA and --junitxml, and a timed --collect-only run before it."""
    collect = run_pytest(side, at, n, autoload, collect=True).wall
    junit = WORK / f"{IO_WAIT}-{side.name.replace(' ', '-')}.xml"
    more = ("-rA", f"--junitxml={junit}")
    run, text = run_and_read(side, at, n, autoload, collect=False, more=more)
    said = re.findall(r"^concurrency: .*$", text, re.MULTILINE)
    return Compared(run.wall, collect, outcomes(text, junit), said)


def speedups(pairs: list[dict[str, Compared]], concurrency: int, n: int) -> list[str]:
    """Serial over concurrent: whole runs, and the tests' own time (a run less its
    --collect-only run), medians over the rounds; the target is issue 18's 20x."""

    def median(name: str, tests_only: bool) -> float:
        runs = [pair[name] for pair in pairs]
        return float(statistics.median(r.wall - (r.collect if tests_only else 0) for r in runs))

    lines = [
        f"  {CONCURRENT} ran with {shlex.join(concurrently(concurrency))}; it said: "
        + (" / ".join(pairs[-1][CONCURRENT].said) or "(no concurrency line)")
    ]
    for what, tests_only in (("whole run", False), ("tests alone (run - collect-only)", True)):
        serial, together = median("awaitest", tests_only), median(CONCURRENT, tests_only)
        lines.append(
            f"  speedup, {what}: {serial:6.2f} s serial / {together:5.2f} s concurrent = "
            f"{serial / together:5.1f}x  (target >= 20x) "
            + ("PASS" if serial / together >= 20 else "MISS")
        )
    lines.append(
        "  outcomes test by test (-rA) and junit XML testcases (classname, name, outcome): "
        f"the same in all {len(pairs)} rounds ({n} tests)"
    )
    return lines


#: a run's outcomes: its short test summary lines (-rA), in order, and its junit XML
#: testcases as (classname, name, outcome), in order
Outcomes = tuple[list[str], list[tuple[str, str, str]]]


def outcomes(text: str, junit: Path) -> Outcomes:
    """What a run said about each test: -rA's short summary and the junit XML testcases."""
    summary = text.partition("short test summary info")[2].splitlines()[1:]
    lines = [line for line in summary if re.match(r"[A-Z]+ ", line)]
    cases = []
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        cases.append((case.get("classname", ""), case.get("name", ""), ",".join(kinds) or "passed"))
    return lines, cases


def same_outcomes(serial: Outcomes, concurrent: Outcomes) -> None:
    """Fail loudly, showing the first differences, unless both runs said the same."""
    for what, mine, theirs in (
        ("short test summary (-rA) line", serial[0], concurrent[0]),
        ("junit XML testcase", serial[1], concurrent[1]),
    ):
        if mine == theirs:
            continue
        diffs = [
            f"  #{i}: serial {a!r}\n      concurrent {b!r}"
            for i, (a, b) in enumerate(itertools.zip_longest(mine, theirs))
            if a != b
        ]
        raise BenchError(
            f"the concurrent run's {what}s differ from the serial run's ({len(mine)} vs "
            f"{len(theirs)}, {len(diffs)} differ), first ones:\n" + "\n".join(diffs[:10])
        )


def run_pytest(
    side: Side, at: Path, n: int, autoload: bool, collect: bool, *, count: bool = False
) -> Run:
    """One whole pytest run in a child process; fails unless it passed (collected) n tests.
    ``count``: under callgrind, for the instructions (its times and memory are valgrind's)."""
    return run_and_read(side, at, n, autoload, collect, count=count)[0]


def run_and_read(
    side: Side,
    at: Path,
    n: int,
    autoload: bool,
    collect: bool,
    *,
    count: bool = False,
    more: tuple[str, ...] = (),
) -> tuple[Run, str]:
    """:func:`run_pytest` with ``more`` arguments, and what the run printed."""
    args = [side.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", side.plugin, "."]
    args += [*side.options, *more]
    args += ["--collect-only"] if collect else []
    if count:  # the profile itself is not wanted, only the total valgrind prints
        args = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *args]
    env = {k: v for k, v in os.environ.items() if k not in DROP_ENV}
    # A fixed hash seed: with a random one, set and dict layouts (and so the instructions
    # counted) change from run to run by about 0.5%.
    env["PYTHONHASHSEED"] = HASH_SEED
    if side.path is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [side.path, env.get("PYTHONPATH")]))
    if not autoload:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(args, cwd=at, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    counts = re.findall(r"(\d+) tests? collected" if collect else r"(\d+) passed", text)
    if proc.returncode != 0 or not counts or int(counts[-1]) != n:
        tail = "\n".join(text.splitlines()[-30:])
        raise BenchError(
            f"{side.name} run in {at} exited {proc.returncode}; expected {n} "
            f"{'collected' if collect else 'passed'}\n$ {shlex.join(args)}\n{tail}"
        )
    peak = usage.ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)  # bytes vs KiB
    counted = re.findall(r"Collected : (\d+)", text) if count else None
    if counted == []:
        raise BenchError(f"valgrind printed no instruction count\n$ {shlex.join(args)}\n{text}")
    instructions = int(counted[-1]) / 1e6 if counted else None
    return Run(wall, usage.ru_utime + usage.ru_stime, peak, instructions), text


def sample(side: Side, at: Path, n: int, autoload: bool, collect: bool, *, count: bool) -> Run:
    """A run's times and memory; with ``count`` also its instructions, from a second run."""
    run = run_pytest(side, at, n, autoload, collect)
    if not count:
        return run
    return replace(
        run, instructions=run_pytest(side, at, n, autoload, collect, count=True).instructions
    )


def measure(
    sides: list[Side], n: int, repeat: int, autoload: bool, count: bool
) -> dict[str, list[Samples]]:
    """All runs for one N, interleaved round by round, suite by suite, side by side."""
    dirs = {suite: write_suite(WORK / f"n{n}", suite, n) for suite in SUITES}
    samples = {suite: [Samples() for _ in sides] for suite in SUITES}
    for suite in SUITES:  # untimed warm-up: fills the assertion-rewrite .pyc cache
        for side in sides:
            if suite in side.suites:
                run_pytest(side, dirs[suite], n, autoload, collect=True)
    for r in range(repeat):
        for suite in SUITES:
            for side, got in zip(sides, samples[suite], strict=True):
                if suite not in side.suites:
                    continue
                got.runs.append(run := sample(side, dirs[suite], n, autoload, False, count=count))
                collected = ""
                if suite in COLLECTED:
                    col = sample(side, dirs[suite], n, autoload, True, count=count)
                    got.collects.append(col)
                    collected = f"  collect {col.wall:6.2f} s"
                counted = f"  {run.instructions:9.1f} M instr" if count else ""
                print(
                    f"  N={n} round {r + 1}/{repeat} {suite:<14} {side.name:<14} {run.wall:7.2f} s"
                    f" {run.peak_mb:6.1f} MB  cpu {run.cpu:6.2f} s{collected}{counted}",
                    flush=True,
                )
    return samples


def overhead(suite: Stats, sync: Stats, n: int) -> float:
    """Milliseconds per test that a suite costs over the same side's sync suite."""
    return (suite.run - sync.run) / n * 1000


def table(n: int, stats: dict[str, list[Stats]], clock: str) -> list[list[str]]:
    """Rows of columns() for one N; peer cells are '-' when there is no peer side."""
    formats = COUNTED if clock == "instructions" else FORMATS
    sync, rows = stats["sync"], []
    for suite, (aw, *rest) in stats.items():
        peer = rest[0] if rest else None
        mine: list[float | None] = [aw.run, overhead(aw, sync[0], n), aw.peak_mb, aw.collect]
        theirs: list[float | None] = [None] * 4
        if peer is not None:
            theirs = [peer.run, overhead(peer, sync[1], n), peer.peak_mb, peer.collect]
        ratios = [aw.run / sync[0].run, None if peer is None else aw.run / peer.run]
        values = [mine[0], theirs[0], *ratios]
        values += [v for pair in zip(mine[1:], theirs[1:], strict=True) for v in pair]
        cells = ["-" if v is None else format(v, f) for v, f in zip(values, formats, strict=True)]
        rows.append([suite, *cells])
    return rows


def targets(results: Results, clock: str) -> list[str]:
    """One line per target and N (the limit, the measured value, PASS/MISS), then scaling."""
    lines, w = [], len(str(max(results)))  # w: width of the largest N, to keep columns aligned

    def check(label: str, value: float | None, limit: float) -> None:
        verdict = "n/a (no peer side)" if value is None else "PASS" if value <= limit else "MISS"
        shown = "   -  " if value is None else f"{value:6.3f}"
        lines.append(f"N={label:<{w + 48}} <= {limit:.2f}  measured {shown}  {verdict}")

    for n, stats in results.items():
        sync, fixture, at = stats["sync"][0], stats["async_fixture"], f"{n:<{w}}"
        check(f"{at} floor: async / sync (awaitest)", stats["async"][0].run / sync.run, 1.10)
        peer = fixture[0].run / fixture[1].run if len(fixture) > 1 else None
        check(f"{at} peer: async_fixture, awaitest / pytest-asyncio", peer, 0.70)
        worst = max(ASYNC_SUITES, key=lambda s: stats[s][0].peak_mb)
        check(f"{at} peak memory: {worst} / sync", stats[worst][0].peak_mb / sync.peak_mb, 1.10)
        collect, sync_collect = stats["async"][0].collect, sync.collect
        assert collect is not None  # COLLECTED suites
        assert sync_collect is not None
        check(f"{at} collection: async / sync", collect / sync_collect, 1.05)
    lines.append(
        "per-test overhead over the sync suite (awaitest; pytest-asyncio), "
        f"{UNITS[clock][1]} per test:"
    )
    for suite in ASYNC_SUITES:
        cells = []
        for n, stats in results.items():
            pairs = zip(stats[suite], stats["sync"], strict=True)
            cells.append(
                f"{f'N={n}:':<{w + 3}} " + "; ".join(f"{overhead(x, y, n):7.4f}" for x, y in pairs)
            )
        lines.append(f"  {suite:<14} " + "   ".join(cells))
    return lines


def render_text(rows: list[list[str]], clock: str) -> str:
    rows = [columns(clock), *rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def render_markdown(results: Results, lines: list[str], head: str, clock: str) -> str:
    out = [head, ""]
    for n, stats in results.items():
        out += [
            f"**N = {n:,}**",
            "",
            "| " + " | ".join(columns(clock)) + " |",
            "|---" * len(columns(clock)) + "|",
        ]
        out += ["| " + " | ".join(row) + " |" for row in table(n, stats, clock)] + [""]
    return "\n".join([*out, "```", *lines, "```", ""])


def chart(every: Every, sides: list[Side], path: Path, clock: str) -> None:
    """Per N: median whole runs (top) and the overhead per test over sync (bottom), per side
    that runs every suite (not the reference side)."""
    shown = [i for i, side in enumerate(sides) if side.suites == SUITES]
    sides = [sides[i] for i in shown]
    results = {n: {k: full([v[i] for i in shown]) for k, v in s.items()} for n, s in every.items()}
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"matplotlib is not importable: chart {path} skipped")
        return
    fig, axes = plt.subplots(2, len(results), figsize=(5.5 * len(results), 7), squeeze=False)
    width = 0.8 / len(sides)
    for col, (n, stats) in enumerate(results.items()):
        top, bottom = axes[0][col], axes[1][col]
        for i, side in enumerate(sides):
            offset = (i - (len(sides) - 1) / 2) * width
            walls = [stats[s][i].run for s in SUITES]
            bars = top.bar([k + offset for k in range(len(SUITES))], walls, width, label=side.name)
            top.bar_label(bars, fmt="%.0f" if clock == "instructions" else "%.2f", fontsize=7)
            ovh = [overhead(stats[s][i], stats["sync"][i], n) for s in ASYNC_SUITES]
            bars = bottom.bar([k + offset for k in range(len(ASYNC_SUITES))], ovh, width)
            bottom.bar_label(bars, fmt="%.1f" if clock == "instructions" else "%.3f", fontsize=7)
        top.set_xticks(range(len(SUITES)), SUITES)
        top.set_title(f"N = {n:,}: median whole pytest run")
        counted = clock == "instructions"
        top.set_ylabel("millions of instructions" if counted else f"seconds ({clock} time)")
        bottom.set_xticks(range(len(ASYNC_SUITES)), ASYNC_SUITES)
        bottom.set_title(f"N = {n:,}: overhead over the sync suite")
        bottom.set_ylabel(("thousands of instructions" if counted else "ms") + " per test")
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="upper center", ncol=len(sides))
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.savefig(path, dpi=120)
    print(f"chart written to {path}")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--n", type=int, action="append", help="tests per suite; repeatable (2000)")
    p.add_argument("--repeat", type=int, default=5, help="interleaved rounds (5)")
    p.add_argument("--peer-version", default="1.5.0", help="pytest-asyncio for the peer (1.5.0)")
    p.add_argument("--no-peer", action="store_true", help="time awaitest alone; no venv")
    p.add_argument("--awaitest-python", default=sys.executable, help="awaitest side's Python")
    p.add_argument("--awaitest-plugin", default="awaitest", help="its -p plugin (awaitest)")
    p.add_argument(
        "--clock",
        choices=tuple(UNITS),
        default="wall",
        help="wall or child CPU time, or instructions (needs valgrind; ~50x slower)",
    )
    p.add_argument("--autoload", action="store_true", help="leave plugin autoloading on")
    p.add_argument(
        "--checks-side",
        action="store_true",
        help="also time awaitest with every check on, and print what the checks cost",
    )
    p.add_argument(
        "--reference-side",
        action="store_true",
        help="also time the sync, async and async_fixture suites under "
        "benchmarks/reference_plugin.py",
    )
    p.add_argument(
        "--io-wait",
        action="store_true",
        help=f"time only the {IO_WAIT} suite ({IO_TESTS} tests waiting on a local TCP server, "
        f"{IO_ALONE} that must run alone), by wall clock, serially: the baseline for "
        "concurrent tests",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        metavar="N",
        help="with --io-wait: also run the suite with N tests in flight (every eligible test "
        "opted in), print the speedup, and fail unless each test's outcome and the junit XML "
        "testcases are the same as serially",
    )
    p.add_argument(
        "--idle-concurrency-side",
        action="store_true",
        help="also time every suite with --asyncio-concurrency 50 and no test opted in, and "
        "print what that costs (target: within 2%%; read it with --clock instructions)",
    )
    p.add_argument("--markdown", type=Path, help="write the tables and targets as Markdown")
    p.add_argument("--chart", type=Path, help="write a bar chart PNG (needs matplotlib)")
    p.add_argument("--json", type=Path, help="write every sample as JSON")
    args = p.parse_args()
    if args.repeat < 1 or any(n < 1 for n in args.n or []):
        p.error("--n and --repeat must be at least 1")
    if args.concurrency is not None and (not args.io_wait or args.concurrency < 1):
        p.error("--concurrency N (N >= 1) goes with --io-wait")
    return args


def setup_sides(args: argparse.Namespace) -> tuple[list[Side], dict[str, str | None]]:
    """The awaitest side, checked, and unless --no-peer the pytest-asyncio side."""
    python, plugin = os.path.abspath(args.awaitest_python), args.awaitest_plugin  # keep venv links
    module = "pytest_asyncio" if plugin == "asyncio" else plugin  # entry-point name -> module
    versions = probe(python, module)
    if versions["error"]:
        raise BenchError(f"{python} cannot import {module}: {versions['error']}", code=2)
    if plugin.startswith("awaitest") and versions["pytest-asyncio"]:
        raise BenchError(f"{python} has pytest-asyncio installed: uninstall it there", code=2)
    if args.clock == "instructions" and shutil.which("valgrind") is None:
        raise BenchError(
            "--clock instructions counts with valgrind, which is not on PATH: install it "
            "(Debian: apt install valgrind) or use --clock cpu",
            code=2,
        )
    # The interpreter itself, not a launcher (a pyenv shim is a shell script valgrind would
    # count); a venv's own python keeps its venv.
    python = versions["executable"] or python
    sides = [Side("awaitest", python, plugin)]
    if not args.no_peer:
        peer_python = ensure_peer_venv(sides[0], versions, args.peer_version)
        sides.append(Side("pytest-asyncio", peer_python, "asyncio"))
    # the extra sides come last: table() and targets() read the first one or two
    if args.checks_side:
        sides.append(Side(CHECKS, python, plugin, ALL_CHECKS))
    if args.idle_concurrency_side:
        sides.append(Side(IDLE, python, plugin, IDLE_CONCURRENCY))
    if args.reference_side:
        here = str(Path(__file__).resolve().parent)
        suites = (*SUITES[:3], *SHAPES)
        sides.append(Side(REFERENCE, python, "reference_plugin", suites=suites, path=here))
    return sides, versions


def full(stats: list[Stats | None]) -> list[Stats]:
    """Medians of sides that ran the suite; only called where every side did."""
    assert all(x is not None for x in stats)
    return [x for x in stats if x is not None]


def side_index(sides: list[Side], name: str) -> int:
    return [side.name for side in sides].index(name)


def side_stats(every: Every, sides: list[Side], name: str, n: int, suite: str) -> Stats:
    found = every[n][suite][side_index(sides, name)]
    assert found is not None
    return found


def checks_cost(every: Every, sides: list[Side]) -> list[str]:
    """What turning every check on adds, per async suite: (checks side / awaitest side) - 1."""
    title = "cost of every check on (" + " ".join(ALL_CHECKS[1::2]) + "), whole run:"
    return extra_cost(every, sides, CHECKS, title, suites=ASYNC_SUITES, limit=0.05)


def idle_concurrency_cost(every: Every, sides: list[Side], clock: str) -> list[str]:
    """What concurrency turned on costs a suite with no test opted in, per suite."""
    title = (
        f"cost of {shlex.join(IDLE_CONCURRENCY)} with no test opted in (nothing eligible), "
        f"whole run, in {UNITS[clock][0]}:"
    )
    return extra_cost(every, sides, IDLE, title, suites=SUITES, limit=0.02)


def extra_cost(
    every: Every,
    sides: list[Side],
    name: str,
    title: str,
    *,
    suites: tuple[str, ...],
    limit: float,
) -> list[str]:
    """Per suite: (side ``name`` / awaitest side) - 1, against ``limit``."""
    lines = [title]
    for n in every:
        for suite in suites:
            base = side_stats(every, sides, "awaitest", n, suite).run
            other = side_stats(every, sides, name, n, suite).run
            verdict = "PASS" if other / base - 1 < limit else "MISS"
            lines.append(
                f"  N={n} {suite:<14} {base:9.2f} -> {other:9.2f}  "
                f"{(other / base - 1) * 100:+5.1f}%  (target < +{limit * 100:.0f}%) {verdict}"
            )
    return lines


def reference_floor(every: Every, sides: list[Side]) -> list[str]:
    """The targets' ratios for the plugin that does the least (reference_plugin.py), beside
    awaitest's: what no plugin giving each test and its fixture a new loop can go under."""
    lines = [
        "a plugin that only runs each test and its fixture on a new loop "
        "(benchmarks/reference_plugin.py), beside awaitest:"
    ]
    peer = "pytest-asyncio" in [side.name for side in sides]
    for n in every:
        for name in (REFERENCE, "awaitest"):
            sync, run, fixture = (
                side_stats(every, sides, name, n, suite)
                for suite in ("sync", "async", "async_fixture")
            )
            assert run.collect is not None  # COLLECTED suites
            assert sync.collect is not None
            cells = [
                f"floor {run.run / sync.run:.3f}",
                f"async_fixture / sync {fixture.run / sync.run:.3f}",
                f"memory {run.peak_mb / sync.peak_mb:.3f}",
                f"collection {run.collect / sync.collect:.3f}",
            ]
            if peer:
                theirs = side_stats(every, sides, "pytest-asyncio", n, "async_fixture")
                cells.append(f"peer {fixture.run / theirs.run:.3f}")
            lines.append(f"  N={n} {name:<9} " + ", ".join(cells))
    return lines


def shape_targets(every: Every, sides: list[Side], clock: str) -> list[str]:
    """Issue 17's targets on the real-suite shapes: awaitest at most 0.80 x pytest-asyncio and
    at most 1.05 x the reference plugin, and what awaitest costs per test over the reference."""
    names = [side.name for side in sides]
    unit = UNITS[clock][1]
    lines = [
        "real-suite shapes: awaitest / pytest-asyncio (<= 0.80), awaitest / reference "
        f"(<= 1.05), awaitest - reference in {unit} per test:"
    ]

    def ratio(value: float | None, limit: float) -> str:
        if value is None:
            return "   -   n/a "
        return f"{value:6.3f} {'PASS' if value <= limit else 'MISS'}"

    for n in every:
        for suite in SHAPES:
            mine = side_stats(every, sides, "awaitest", n, suite).run
            peer = ref = None
            if "pytest-asyncio" in names:
                peer = mine / side_stats(every, sides, "pytest-asyncio", n, suite).run
            extra = ""
            if REFERENCE in names:
                theirs = side_stats(every, sides, REFERENCE, n, suite).run
                ref = mine / theirs
                extra = f"  {(mine - theirs) / n * 1000:8.3f}"
            lines.append(
                f"  N={n} {suite:<15} peer {ratio(peer, 0.80)}  reference {ratio(ref, 1.05)}"
                + extra
            )
    return lines


def paired(
    samples: dict[int, dict[str, list[Samples]]], sides: list[Side], clock: str
) -> list[str]:
    """The floor and peer ratios taken round by round (runs minutes apart, not half an hour):
    on a machine whose speed drifts they scatter less than ratios of medians."""
    lines = ["the same ratios round by round (median, lowest-highest of the rounds):"]
    names = [side.name for side in sides]

    def spread(
        suites: dict[str, list[Samples]], mine: tuple[str, str], other: tuple[str, str]
    ) -> str:
        a = suites[mine[0]][side_index(sides, mine[1])].runs
        b = suites[other[0]][side_index(sides, other[1])].runs
        ratios = [getattr(x, clock) / getattr(y, clock) for x, y in zip(a, b, strict=True)]
        return f"{statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f})"

    for n, suites in samples.items():
        cells = [f"floor {spread(suites, ('async', 'awaitest'), ('sync', 'awaitest'))}"]
        if "pytest-asyncio" in names:
            peer = spread(
                suites, ("async_fixture", "awaitest"), ("async_fixture", "pytest-asyncio")
            )
            cells.append(f"peer {peer}")
        if REFERENCE in names:
            cells.append(
                f"reference floor {spread(suites, ('async', REFERENCE), ('sync', REFERENCE))}"
            )
        if REFERENCE in names and "pytest-asyncio" in names:
            theirs = ("async_fixture", "pytest-asyncio")
            cells.append(f"reference peer {spread(suites, ('async_fixture', REFERENCE), theirs)}")
        lines.append(f"  N={n}: " + ";  ".join(cells))
    return lines


def main() -> int:
    args = parse_args()
    try:
        sides, versions = setup_sides(args)
        peer_version = "-" if args.no_peer else args.peer_version
        measured = "instructions" if args.clock == "instructions" else f"{args.clock} time"
        head = (
            f"`python benchmarks/bench.py {shlex.join(sys.argv[1:])}`: "
            f"Python {versions['python']}, pytest {versions['pytest']}, "
            f"awaitest {versions['awaitest'] or 'not installed'}, pytest-asyncio {peer_version}, "
            f"{os.cpu_count()} CPUs, {measured}, medians of {args.repeat} interleaved runs"
        )
        if not args.awaitest_plugin.startswith("awaitest"):
            head += f"; STAND-IN: the 'awaitest' side runs plugin {args.awaitest_plugin!r}"
        print(head, flush=True)
        if args.io_wait:
            sides = [side for side in sides if side.name != REFERENCE]  # no session fixtures
            lines = measure_io_wait(sides, args.repeat, args.autoload, args.concurrency)
            print("\n".join(["", *lines]))
            return 0
        count = args.clock == "instructions"
        samples = {
            n: measure(sides, n, args.repeat, args.autoload, count) for n in args.n or [2000]
        }
    except BenchError as exc:
        print(f"bench.py: {exc}", file=sys.stderr)
        return exc.code
    every: Every = {
        n: {k: [x.medians(args.clock) for x in v] for k, v in s.items()} for n, s in samples.items()
    }
    cut = 1 if args.no_peer else 2  # awaitest and the peer; the extra sides come after them
    results = {n: {k: full(v[:cut]) for k, v in s.items()} for n, s in every.items()}
    for n, stats in results.items():
        print(f"\nN = {n:,}\n{render_text(table(n, stats, args.clock), args.clock)}")
    lines = targets(results, args.clock) + paired(samples, sides, args.clock)
    lines += shape_targets(every, sides, args.clock)
    if args.checks_side:
        lines += checks_cost(every, sides)
    if args.idle_concurrency_side:
        lines += idle_concurrency_cost(every, sides, args.clock)
    if args.reference_side:
        lines += reference_floor(every, sides)
    print("\nTARGETS\n" + "\n".join(lines))
    if args.markdown:
        args.markdown.write_text(render_markdown(results, lines, head, args.clock))
    if args.json:
        data = {n: {k: [asdict(x) for x in v] for k, v in s.items()} for n, s in samples.items()}
        args.json.write_text(json.dumps({"header": head, "results": data}, indent=2) + "\n")
    if args.chart:
        chart(every, sides, args.chart, args.clock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
