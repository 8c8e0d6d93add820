"""Event loops, pytest-free: where they come from, the current loop, running coroutines on
them (``runner``), and cheap new loops (``recycling``). Nothing in this package imports pytest."""
