"""The public surface is exactly what docs/configuration.md lists; anything new is a deliberate
change."""

from __future__ import annotations

import re

import pytest

import awaitest


def test_all_names_are_public_and_present() -> None:
    assert sorted(awaitest.__all__) == [
        "VirtualClock",
        "__version__",
        "fixture",
        "getfixturevalue",
        "is_async_test",
    ]
    for name in awaitest.__all__:
        assert hasattr(awaitest, name)


def _sections(lines: list[str]) -> dict[str, list[str]]:
    """``pytest --fixtures`` output: each "fixtures defined from MODULE" section's fixture
    lines (name, scope, location), by module."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines:
        found = re.fullmatch(r"-+ fixtures defined from (\S+) -+", line)
        if found is not None:
            current = sections.setdefault(found[1], [])
        elif line.startswith(("=", "-")):
            current = None
        elif current is not None and re.match(r"^\w+( \[\w+ scope\])? -- ", line):
            current.append(line)
    return sections


@pytest.mark.parametrize("verbose", [False, True], ids=["plain", "-v"])
def test_fixtures_lists_every_awaitest_section_with_its_fixtures(
    pytester: pytest.Pytester, verbose: bool
) -> None:
    """Every section of awaitest's in ``pytest --fixtures`` lists a fixture: pytest groups
    fixtures by module and hides underscored ones without -v, so a module holding only
    ``_asyncio_loop_factory`` showed a heading over nothing."""
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest(
        "--fixtures", "-p", "no:cacheprovider", *(["-v"] if verbose else [])
    )
    assert result.ret == 0
    ours = {
        module: sorted(line.split(" -- ")[0] for line in lines)  # pytest sorts by path:line
        for module, lines in _sections(result.stdout.lines).items()
        if module.startswith("awaitest")
    }
    factory = ["_asyncio_loop_factory [session scope]"] if verbose else []
    assert ours == {
        "awaitest._compat.fixtures": [
            *factory,
            "event_loop",
            "event_loop_policy [session scope]",
            "unused_tcp_port",
            "unused_tcp_port_factory [session scope]",
            "unused_udp_port",
            "unused_udp_port_factory [session scope]",
        ],
        "awaitest._plan": ["virtual_clock"],
    }
