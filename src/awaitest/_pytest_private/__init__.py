"""Private pytest API: every use of it is in this package, one function each, with the reason
(``internals``, and here the one function that must run before it is imported).

This ``__init__`` holds only :func:`keep_own_modules_unrewritten`. The package ``awaitest`` runs
it first thing, so the two files imported before it, the package's ``__init__`` and this one,
are the only ones of awaitest that pytest rewrites; where pytest can't cache a rewritten module
(``PYTHONDONTWRITEBYTECODE``, a read-only site-packages, the first run after an install) it
rewrites them from source on every run. perf: kept this small, that costs next to nothing;
with ``internals`` in this file it cost about 45 million instructions per run.
"""

from __future__ import annotations

import sys


def keep_own_modules_unrewritten() -> None:
    """Stop pytest rewriting the asserts of awaitest's own modules; never anyone else's.

    pytest marks every module of a distribution with a ``pytest11`` entry point for assertion
    rewriting. A rewritten module is parsed, rewritten and compiled from source, its ``.pyc``
    cached only where pytest may write one of its own: with ``PYTHONDONTWRITEBYTECODE`` (common
    in CI containers) or a read-only site-packages that is every module of awaitest on every
    run, about 0.1 s, and the normal ``.pyc`` goes unused. Nothing depends on awaitest's own
    asserts being rewritten, and pytest has no public way to unmark a plugin
    (``PYTEST_DONT_REWRITE`` in a docstring still parses and compiles the source).

    Private: pytest's ``AssertionRewritingHook`` in ``sys.meta_path``, its ``_must_rewrite``
    set of marked names and its ``_marked_for_rewrite_cache`` (pytest 8.4 and 9 have both).
    Without them it does nothing. Only awaitest's own names (``awaitest`` and
    ``awaitest.<module>``) are unmarked: test files and conftests are rewritten for their
    names, not for a mark, and any other marked package stays marked. The package's
    ``__init__`` calls it first thing, so only it and this module are rewritten.
    """
    package = __name__.partition(".")[0]
    for finder in sys.meta_path:
        if type(finder).__name__ != "AssertionRewritingHook":
            continue
        marked = getattr(finder, "_must_rewrite", None)
        cache = getattr(finder, "_marked_for_rewrite_cache", None)
        if not isinstance(marked, set) or not isinstance(cache, dict):
            continue
        ours = {name for name in marked if name == package or name.startswith(package + ".")}
        if ours:
            marked -= ours
            cache.clear()  # as pytest's mark_rewrite() does: recomputed per module name
