"""The package's layers, read from its source with ``ast``: imports flow one way, the mechanics
never import pytest, and private pytest API is touched in ``_pytest_private`` only."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import awaitest

SRC = Path(awaitest.__file__).parent

#: Lowest first. A module may import modules of its own layer and of the layers below it; a
#: package's name stands for all of its modules. Every module of the package is listed.
LAYERS: dict[str, tuple[str, ...]] = {
    # pytest-free: loops, runners, checks, the virtual clock, the base of the value classes
    "mechanics": ("_record", "_realtime", "clock", "_checks", "_loops"),
    # pytest, but no run state: settings, marker, scopes, errors, advisories, private pytest access
    "basics": (
        "_errors",
        "_scopes",
        "_config",
        "_marker",
        "_pytest_private",
        "_hookspec",
        "_fixture_specs",
        "_advisories",
    ),
    # the run's state: the loop registry, plans
    "state": ("_registry", "_session"),
    # decisions made with pytest objects, outside any hook
    "decisions": (
        "_collect",
        "_plan",
        "_variants",
        "_by_name",
        "_fixtures",
        "_xunit",
        "_report",
        "_compat",
        "_concurrent_output",
        "_concurrency",
        "_batches",
    ),
    # the hooks, and the public names
    "glue": ("plugin", "_entry", "__init__"),
}
_RANK = {name: rank for rank, names in enumerate(LAYERS.values()) for name in names}
#: Modules imported in the function that first needs them, never at module level: each serves
#: only some runs, and importing it would cost every run (perf). Their imports still have to
#: flow down, and count in the cycle check.
LAZY: dict[str, str] = {
    "awaitest._batches": "concurrency's machinery, five modules: asyncio_concurrency only",
    "awaitest._xunit": "async setup_method and its kin",
}
PYTEST_FREE = LAYERS["mechanics"]
PRIVATE_MODULE = "awaitest._pytest_private"  # a package: its __init__ and internals

#: Public attributes of pytest objects whose use is private API: ``FixtureDef.finish``,
#: ``FuncFixtureInfo.names_closure``, ``FixtureDef.cached_result``.
PRIVATE_PYTEST_ATTRIBUTES = frozenset({"finish", "names_closure", "cached_result"})
#: Underscore names that are public API: NamedTuple's methods, kept by ``_record.Record``.
PUBLIC_UNDERSCORED = frozenset({"_replace", "_fields"})
#: Mutating ``item.fixturenames`` (pytest's private ``names_closure``) or ``metafunc``'s.
MUTATORS = frozenset({"append", "extend", "insert", "remove", "pop", "sort", "clear"})
#: Option names of pytest's own debugging plugin, not documented ones.
PRIVATE_OPTIONS = frozenset({"usepdb", "trace"})


def module_name(path: Path) -> str:
    parts = ["awaitest", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(SRC.rglob("*.py"))}


def layer_of(module: str) -> str:
    """The entry of LAYERS that holds ``module``: its first component below the package."""
    return module.split(".")[1] if "." in module else "__init__"


def resolve(module: str, node: ast.ImportFrom | ast.Import) -> Iterator[str]:
    """The awaitest modules an import statement in ``module`` imports."""
    if isinstance(node, ast.Import):
        yield from (a.name for a in node.names if a.name.split(".")[0] == "awaitest")
        return
    if node.level:
        is_package = MODULES[module].name == "__init__.py"
        base = module.split(".")
        base = base[: len(base) - node.level + (1 if is_package else 0)]
        target = ".".join([*base, node.module] if node.module else base)
    else:
        target = node.module or ""
    if target.split(".")[0] != "awaitest":
        return
    for alias in node.names:
        submodule = f"{target}.{alias.name}"
        yield submodule if submodule in MODULES else target


def imports(module: str, *, local: bool) -> Iterator[tuple[ast.stmt, str]]:
    """(statement, imported module) for each import of ours: at module level (``if
    TYPE_CHECKING:`` blocks included), or only those inside a function or class (``local``)."""
    tree = ast.parse(MODULES[module].read_text())
    inside = {
        id(inner)
        for scope in ast.walk(tree)
        if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        for inner in ast.walk(scope)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and (id(node) in inside) == local:
            for target in resolve(module, node):
                yield node, target


def test_every_module_has_a_layer() -> None:
    assert {layer_of(m) for m in MODULES} <= set(_RANK), "add new modules to LAYERS"


@pytest.mark.parametrize("module", MODULES)
def test_imports_flow_down(module: str) -> None:
    upward = [
        f"line {node.lineno}: {target}"
        for local in (False, True)
        for node, target in imports(module, local=local)
        if _RANK[layer_of(target)] > _RANK[layer_of(module)]
    ]
    assert upward == [], f"{module} imports a layer above its own"


@pytest.mark.parametrize("module", MODULES)
def test_no_function_local_imports_of_our_modules(module: str) -> None:
    local = [
        f"line {node.lineno}: {target}"
        for node, target in imports(module, local=True)
        if target not in LAZY
    ]
    assert local == [], f"{module}: import at module level (a local import hides a cycle)"


def test_no_import_cycles() -> None:
    graph = {
        m: {t for local in (False, True) for _, t in imports(m, local=local) if t != m}
        for m in MODULES
    }
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycle = [*path[path.index(module) :], module]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        for target in sorted(graph[module]):
            visit(target, [*path, module])
        done.add(module)

    for module in MODULES:
        visit(module, [])


def _third_party_imports(module: str) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, a.name.split(".")[0]) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            yield node.lineno, node.module.split(".")[0]


@pytest.mark.parametrize("module", [m for m in MODULES if layer_of(m) in PYTEST_FREE])
def test_mechanics_never_import_pytest(module: str) -> None:
    found = [
        f"line {line}: {name}"
        for line, name in _third_party_imports(module)
        if name in ("pytest", "_pytest", "pluggy")
    ]
    assert found == [], f"{module} is pytest-free"


@pytest.mark.parametrize("module", [m for m in MODULES if layer_of(m) != "_pytest_private"])
def test_no_private_pytest_api_outside_pytest_private(module: str) -> None:
    tree = ast.parse(MODULES[module].read_text())
    found = [
        f"line {line}: {name}" for line, name in _third_party_imports(module) if name == "_pytest"
    ]
    if layer_of(module) not in PYTEST_FREE:  # the mechanics hold no pytest objects
        found += [f"line {line}: {what}" for line, what in _private_uses(tree)]
    assert found == [], f"{module}: move this into {PRIVATE_MODULE}, one function with a reason"


def _private_uses(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """Attribute uses in a pytest-side module that are (or may be) private pytest API."""
    ours = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level
        for alias in node.names
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            owner = node.value
            owner_name = owner.id if isinstance(owner, ast.Name) else None
            name = node.attr
            if (
                name.startswith("_")
                and not name.startswith("__")
                and name not in PUBLIC_UNDERSCORED
                and owner_name not in ("self", "cls", *ours)
            ) or (name in PRIVATE_PYTEST_ATTRIBUTES and owner_name not in ours):
                yield node.lineno, f".{name}"
            elif name == "func" and isinstance(node.ctx, ast.Store):
                yield node.lineno, ".func = (a fixture definition's function swapped)"
            elif name == "fixturenames" and isinstance(node.ctx, ast.Store):
                yield node.lineno, ".fixturenames = "
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func.value
            if (
                node.func.attr in MUTATORS
                and isinstance(target, ast.Attribute)
                and target.attr == "fixturenames"
            ):
                yield node.lineno, f".fixturenames.{node.func.attr}()"
            if node.func.attr == "getoption" and any(
                isinstance(arg, ast.Constant) and arg.value in PRIVATE_OPTIONS for arg in node.args
            ):
                yield node.lineno, "getoption() of a debugging-plugin option"
