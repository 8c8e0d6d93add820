"""What a suite written for pytest-asyncio expects to find: the ``pytest_asyncio`` module, the
``event_loop`` and ``event_loop_policy`` fixtures, the port fixtures.

Old suites chose their loop by overriding a fixture: ``event_loop`` (pytest-asyncio < 1.0, often
session-scoped so that session fixtures and tests share a loop) or ``event_loop_policy``. At
collection, ``user_loop.plan_user_loop`` finds such an override visible to an async test,
makes the test request it first, and plans the test with a ``UserLoop``: at run time the loop is
the one the fixture returned (borrowed, never closed by us), or a loop of ours made by the
policy it returned. Each of these patterns is deprecated once per run, pointing to the modern
equivalent: ``event_loop_policy`` with pytest-asyncio's ``PytestDeprecationWarning``,
``event_loop`` (about which pytest-asyncio 1.x says nothing) with an advisory.

``alias``: the ``pytest_asyncio`` module and the markers auto mode adds; ``fixtures``: the
fixtures; ``user_loop``: users' overrides of ``event_loop`` and ``event_loop_policy``;
``looptime``: what the looptime plugin looks for, where pytest-asyncio has it.
"""
