"""Loop scope names and the pytest node that owns the loop of each scope.

A loop of scope ``module`` belongs to the test's module node, ``package`` to its nearest
package (or the session when there is none), ``class`` to its class (or the module when the
test is a plain function), ``function`` to the test item itself.
"""

from __future__ import annotations

from typing import Any, Final, Literal, TypeGuard, get_args

import pytest

Scope = Literal["function", "class", "module", "package", "session"]
SCOPES: Final[tuple[Scope, ...]] = get_args(Scope)
_RANK: Final[dict[str, int]] = {name: rank for rank, name in enumerate(SCOPES)}


def is_scope(value: object) -> TypeGuard[Scope]:
    return isinstance(value, str) and value in _RANK


def wider(a: Scope, b: Scope) -> bool:
    """True when a loop of scope ``a`` outlives one of scope ``b``."""
    return _RANK[a] > _RANK[b]


def widest(first: Scope, *others: Scope) -> Scope:
    best = first
    for scope in others:
        if _RANK[scope] > _RANK[best]:
            best = scope
    return best


def fixture_scope(fixturedef: pytest.FixtureDef[Any]) -> Scope:
    """A fixture's cache scope as a loop scope (``function`` for anything pytest doesn't name
    with one of ours)."""
    scope = fixturedef.scope
    return scope if is_scope(scope) else "function"


#: A test item or a collector: what owns a loop, and what a fixture is requested from.
Node = pytest.Item | pytest.Collector


def scope_node(node: Node, scope: Scope) -> Node:
    """The node whose teardown ends a loop of ``scope`` seen from ``node``.

    ``node`` is a test item or, for a wider fixture, the node of the fixture's own scope; walking
    up from it always works because a loop scope is never narrower than the fixture's scope.
    """
    if scope == "function":
        return node
    if scope == "session":
        return node.session
    kinds: tuple[type[pytest.Collector], ...]
    if scope == "class":
        kinds = (pytest.Class, pytest.Module)
    elif scope == "module":
        kinds = (pytest.Module,)
    else:
        kinds = (pytest.Package,)
    current: Node | None = node
    while current is not None:
        if isinstance(current, kinds):
            return current
        parent = current.parent
        current = parent if isinstance(parent, pytest.Item | pytest.Collector) else None
    # A package loop for a test outside any package (or a doctest without a module) is the
    # session's: nothing narrower contains it.
    return node.session


def owner_scope(node: Node) -> Scope:
    """The scope of the loops ``node`` owns, as :func:`scope_node` picked it: a class-scoped
    loop of a plain function is its module's, a package one outside any package the session's."""
    if isinstance(node, pytest.Item):
        return "function"
    if isinstance(node, pytest.Class):
        return "class"
    if isinstance(node, pytest.Module):
        return "module"
    if isinstance(node, pytest.Package):
        return "package"
    return "session"
