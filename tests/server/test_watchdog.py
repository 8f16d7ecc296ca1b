"""The watchdog's SIGPROF handler (server/instrument.py) runs between two bytecodes of whatever
the main thread is doing, so nothing it raises may escape (a command would answer "internal
error", as one MSET did in CI when a tick interrupted another tick that was reading the tracked
commands), and a tick inside a tick must not run."""

from __future__ import annotations

import sys

import pytest

from server.engine import Engine
from server.instrument import Watchdog


def _watchdog() -> Watchdog:
    wd = Watchdog(Engine().admin, 0.01)  # not armed: the test calls the handler itself
    wd.code = Engine.call.__code__
    return wd


def test_an_error_in_a_tick_never_reaches_the_interrupted_code(monkeypatch: pytest.MonkeyPatch) -> None:
    wd = _watchdog()

    def boom(frame: object) -> None:
        raise RuntimeError("dictionary changed size during iteration")

    monkeypatch.setattr(wd, "_observe", boom)
    wd._tick(27, sys._getframe())  # must not raise
    wd._tick(27, sys._getframe())
    assert wd.errors == 2


def test_a_tick_inside_a_tick_returns_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    wd = _watchdog()
    calls: list[int] = []
    real = wd._observe

    def observe(frame: object) -> None:
        calls.append(1)
        wd._tick(27, sys._getframe())  # the nested signal
        real(sys._getframe())

    monkeypatch.setattr(wd, "_observe", observe)
    wd._tick(27, sys._getframe())
    assert calls == [1] and wd.errors == 0 and not wd._in_tick
