"""awaitest's entry point (``pytest11``, named ``awaitest``): it registers the plugin,
:mod:`awaitest.plugin`, under pytest-asyncio's plugin name, ``asyncio``.

That is the name users and other plugins know the async plugin by: ``-p no:asyncio`` turns it
off, and ``pluginmanager.getplugin("asyncio")`` finds it (looptime asks for it). It also decides
which of awaitest and an installed pytest-asyncio runs the async tests: awaitest, whichever
order pytest loads their entry points in (the order of ``importlib.metadata.distributions()``,
which follows the filesystem, so both happen):

* awaitest first: "asyncio" is taken when pytest reaches pytest-asyncio's entry point, and
  pytest skips an entry point whose name is taken;
* pytest-asyncio first: of its hooks only ``pytest_addoption`` has run. Its options, ini keys
  and hookspec stay (awaitest's are the same, see ``plugin.pytest_addhooks`` and
  ``_config.add_options``); its plugin is unregistered and its registration forgotten.

``-p no:awaitest`` skips this module, and pytest-asyncio loads as if awaitest weren't there.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Final

import pytest

from . import plugin
from ._compat import alias
from ._pytest_private.internals import forget_registration

PYTEST_ASYNCIO_PLUGIN: Final = "pytest_asyncio.plugin"


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Historic: pluggy calls it the moment pytest registers this module, inside pytest's loop
    over the entry points, before it reaches the ones that follow."""
    if pluginmanager.is_blocked(plugin.NAME) or pluginmanager.is_registered(plugin):
        return  # -p no:asyncio turns the async plugin off, awaitest included
    theirs = sys.modules.get(PYTEST_ASYNCIO_PLUGIN)
    if theirs is not None and pluginmanager.is_registered(theirs):
        _displace(pluginmanager, theirs)  # loaded first, under any name (-p pytest_asyncio.plugin)
    if pluginmanager.get_plugin(plugin.NAME) is asyncio:
        # `-p asyncio` where pytest-asyncio isn't installed: pytest registered the standard
        # library's module under that name, and it has no hooks.
        _displace(pluginmanager, asyncio)
    pluginmanager.set_blocked(PYTEST_ASYNCIO_PLUGIN)  # a later -p or pytest_plugins naming it
    taken = pluginmanager.has_plugin(plugin.NAME)
    pluginmanager.register(plugin, plugin.FALLBACK_NAME if taken else plugin.NAME)
    alias.answer_for_pytest_asyncio()


def _displace(pluginmanager: pytest.PytestPluginManager, other: object) -> None:
    pluginmanager.unregister(other)
    forget_registration(pluginmanager, other)
