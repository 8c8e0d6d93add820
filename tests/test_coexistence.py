"""awaitest answers to pytest-asyncio's plugin name, ``asyncio``, and runs the async tests when
the real pytest-asyncio is installed too, whichever order pytest loads the two plugins in.

The project's own environment must not have pytest-asyncio (awaitest's ``pytest_asyncio`` alias
and the conformance setup rely on its absence), so the tests marked ``network`` install it, with
pytest-aiohttp (which depends on it), into a directory of their own and run pytest in a
subprocess with that directory on ``sys.path``: before site-packages, so that pytest reaches
pytest-asyncio's entry point first, or after it, so that it reaches awaitest's first (pytest
loads entry points in the order of ``importlib.metadata.distributions()``, i.e. of sys.path).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

#: What the subprocess installs: pytest-asyncio 1.5, and pytest-aiohttp, whose fixtures are
#: declared with the real ``pytest_asyncio.fixture`` (aiohttp itself is in the test extras).
PACKAGES = ("pytest-asyncio==1.5.0", "pytest-aiohttp==1.1.1")

AWAITEST_HEADER = (
    "awaitest: pytest-asyncio 1.5.0 is installed too; awaitest runs the async tests and "
    "pytest-asyncio's plugin is off (-p no:awaitest to use pytest-asyncio instead)"
)
INI = """
[pytest]
asyncio_mode = strict
asyncio_default_fixture_loop_scope = function
filterwarnings = error
"""


def test_awaitest_is_the_plugin_named_asyncio(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        async def test_plugin(request):
            plugin = request.config.pluginmanager.getplugin("asyncio")
            print("asyncio plugin:", plugin.__name__)
        """
    )
    result = pytester.runpytest("-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*asyncio plugin: awaitest.plugin*"])


#: With the async plugin off: pytest's own failure for the async test, no header line of ours.
PLUGIN_OFF = """
import pytest

@pytest.mark.asyncio
async def test_async():
    pass

def test_sync(request):
    assert request.config.pluginmanager.getplugin("asyncio") is None
"""
UNKNOWN_MARK = ("-W", "ignore::pytest.PytestUnknownMarkWarning")


def assert_plugin_off(result: pytest.RunResult) -> None:
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["async def functions are not natively supported."])
    result.stdout.no_fnmatch_line("asyncio: mode=*")


@pytest.mark.parametrize("name", ["asyncio", "awaitest"])
def test_p_no_asyncio_or_awaitest_turns_awaitest_off(pytester: pytest.Pytester, name: str) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        async def test_async():
            pass

        def test_sync(request):
            assert request.config.pluginmanager.getplugin("asyncio") is None
        """
    )
    result = pytester.runpytest_subprocess(
        "-p",
        f"no:{name}",
        "-p",
        "no:cacheprovider",
        "-W",
        "ignore::pytest.PytestUnknownMarkWarning",
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["async def functions are not natively supported."])
    result.stdout.no_fnmatch_line("asyncio: mode=*")


@pytest.mark.parametrize(
    "plugins",
    [
        pytest.param(["-p", "awaitest"], id="-p awaitest"),
        pytest.param(["-p", "asyncio", "-p", "awaitest"], id="-p asyncio -p awaitest"),
        pytest.param(["-p", "awaitest", "-p", "asyncio"], id="-p awaitest -p asyncio"),
    ],
)
def test_plugin_autoload_disabled(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, plugins: list[str]
) -> None:
    # Without pytest-asyncio installed, "-p asyncio" alone finds no entry point and registers
    # the standard library's asyncio module; awaitest takes the name back when it loads.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        async def test_async(request):
            print("asyncio plugin:", request.config.pluginmanager.getplugin("asyncio").__name__)
        """
    )
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider", *plugins)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["asyncio: mode=strict, *", "*asyncio plugin: awaitest.plugin*"])


def test_another_plugin_holding_the_name_asyncio(pytester: pytest.Pytester) -> None:
    holder = type(sys)("asyncio")  # a plugin registered before awaitest as "asyncio"
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        async def test_async():
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", plugins=[holder])
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "awaitest: the plugin name 'asyncio' is taken by <module 'asyncio'>, so plugins "
            "that look for pytest-asyncio by that name (looptime) don't find awaitest",
        ]
    )


def test_a_hookspec_awaitest_does_not_call_the_same_way(pytester: pytest.Pytester) -> None:
    class Specs:
        @pytest.hookspec(firstresult=True)
        def pytest_asyncio_loop_factories(
            self, config: object, item: object, scope: object
        ) -> None:
            """A future declaration with one more argument."""

    class Declaring:
        def pytest_addhooks(self, pluginmanager: pytest.PytestPluginManager) -> None:
            pluginmanager.add_hookspecs(Specs)

    pytester.makepyfile("def test_sync():\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider", plugins=[Declaring()])
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: *test_coexistence declares the hook "
            "pytest_asyncio_loop_factories(config, item, scope) (firstresult=True), and "
            "awaitest calls it as pytest_asyncio_loop_factories(config, item) "
            "(firstresult=True). Run with -p no:awaitest to let pytest-asyncio run the async "
            "tests, or install a pytest-asyncio that awaitest supports (1.5).",
        ]
    )


# -- with the real pytest-asyncio installed ------------------------------------------------


@pytest.fixture(scope="session")
def pytest_asyncio_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with the real pytest-asyncio and pytest-aiohttp in it (once per session)."""
    target = tmp_path_factory.mktemp("pytest-asyncio")
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    done = subprocess.run(
        [*command, "--no-deps", "--target", str(target), *PACKAGES],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["(no output)"]
        message = f"pip can't install {' '.join(PACKAGES)} (no package index?): {lines[-1]}"
        if os.environ.get("CI"):
            pytest.fail(message)  # in CI these tests must run
        pytest.skip(message)
    return target


Run = Callable[..., pytest.RunResult]

#: How the subprocess puts pytest-asyncio's directory on sys.path, for each load order.
SYS_PATH = {
    "pytest-asyncio first": "sys.path.insert(0, {!r})",
    "awaitest first": "sys.path.append({!r})",
}


@pytest.fixture(params=list(SYS_PATH))
def order(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def run_beside(pytester: pytest.Pytester, pytest_asyncio_dir: Path, order: str) -> Run:
    """Run pytest in a subprocess that can import the real pytest-asyncio, in one load order;
    check that it loaded the plugins in that order, without an internal error."""
    script = (
        f"import sys; {SYS_PATH[order].format(str(pytest_asyncio_dir))}; "
        "import pytest; sys.exit(pytest.main(sys.argv[1:]))"
    )

    def run(*args: str) -> pytest.RunResult:
        result = pytester.run(sys.executable, "-c", script, "-p", "no:cacheprovider", *args)
        result.stdout.no_fnmatch_line("*INTERNALERROR*")
        result.stderr.no_fnmatch_line("*Error while loading plugin*")
        if "no:awaitest" not in args and "no:asyncio" not in args:
            # pytest-asyncio's plugin is loaded (listed) only if pytest reached it first
            if order == "pytest-asyncio first":
                result.stdout.fnmatch_lines(["plugins: *asyncio-1.5.0*awaitest-0.1.0*"])
            else:
                result.stdout.no_fnmatch_line("plugins: *asyncio-1.5.0*")
        return result

    return run


SUITE = {
    "conftest.py": """
        import pytest_asyncio

        @pytest_asyncio.fixture  # the real decorator: awaitest runs the fixture
        async def greeting():
            yield "hi"
        """,
    "test_app.py": """
        import pytest
        from aiohttp import web

        @pytest.mark.asyncio
        async def test_aiohttp_client(aiohttp_client, greeting):  # pytest-aiohttp's fixture
            async def hello(request):
                return web.Response(text=greeting)

            app = web.Application()
            app.router.add_get("/", hello)
            client = await aiohttp_client(app)
            response = await client.get("/")
            assert await response.text() == "hi"

        @pytest.mark.asyncio
        async def test_item(request):
            print("item class:", type(request.node).__name__)

        def test_sync(request):
            print("asyncio plugin:", request.config.pluginmanager.getplugin("asyncio").__name__)
            print("fixtures of a sync test:", request.fixturenames)
        """,
}


@pytest.mark.network
def test_awaitest_runs_the_async_tests(pytester: pytest.Pytester, run_beside: Run) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(**SUITE)
    result = run_beside("-s")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "asyncio: mode=strict, debug=False, asyncio_default_fixture_loop_scope=function, "
            "asyncio_default_test_loop_scope=function",
            AWAITEST_HEADER,
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*item class: Function*",
            "*asyncio plugin: awaitest.plugin",
            # pytest-asyncio's fixtures are not there (its autouse event_loop_policy)
            "fixtures of a sync test: ['request']",
        ]
    )


@pytest.mark.network
def test_p_no_awaitest_gives_pytest_asyncio_back(
    pytester: pytest.Pytester, run_beside: Run
) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(**SUITE)
    result = run_beside("-s", "-p", "no:awaitest")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "asyncio: mode=Mode.STRICT, debug=False, asyncio_default_fixture_loop_scope=function, "
            "asyncio_default_test_loop_scope=function",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*item class: Coroutine*",
            "*asyncio plugin: pytest_asyncio.plugin",
            "fixtures of a sync test: ['event_loop_policy', 'request']",
        ]
    )
    result.stdout.no_fnmatch_line("awaitest: *")


@pytest.mark.network
def test_p_no_asyncio_turns_both_off(pytester: pytest.Pytester, run_beside: Run) -> None:
    pytester.makepyfile(PLUGIN_OFF)
    # pytest-aiohttp needs one of the two (it reads the option --asyncio-mode)
    assert_plugin_off(run_beside("-p", "no:asyncio", "-p", "no:aiohttp", *UNKNOWN_MARK))


@pytest.mark.network
def test_pytest_asyncio_names_in_a_conftest(pytester: pytest.Pytester, run_beside: Run) -> None:
    pytester.makeini(INI)
    pytester.makeconftest(
        """
        import pytest
        from pytest_asyncio import is_async_test

        pytest_plugins = ["pytest_asyncio.plugin"]  # ignored: awaitest runs the tests

        def pytest_collection_modifyitems(items):
            # pytest-asyncio's recipe: every async test on the session's loop
            for item in items:
                if is_async_test(item):
                    item.add_marker(pytest.mark.asyncio(loop_scope="session"), append=False)
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        loops = []

        @pytest.mark.asyncio
        async def test_1():
            loops.append(asyncio.get_running_loop())

        @pytest.mark.asyncio
        async def test_2():
            loops.append(asyncio.get_running_loop())
            assert loops[0] is loops[1]
        """
    )
    run_beside().assert_outcomes(passed=2)
