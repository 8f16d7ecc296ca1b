"""sd_notify over NOTIFY_SOCKET: path and abstract sockets, the watchdog interval, no-op outside systemd."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest

from sentinel.supervisor.notify import Notifier, socket_address, watchdog_interval


def test_socket_address_forms() -> None:
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("@abstract") == "\0abstract"
    assert socket_address("") is None
    assert socket_address("vsock:2:1234") is None


def test_watchdog_interval() -> None:
    pid = os.getpid()
    assert watchdog_interval({}, pid) is None
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}, pid) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(pid)}, pid) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(pid + 1)}, pid) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}, pid) is None
    assert watchdog_interval({"WATCHDOG_USEC": "junk"}, pid) is None


def _receiver(addr: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(addr)
    s.settimeout(5)
    return s


@pytest.mark.parametrize("abstract", [False, True])
def test_messages_arrive(tmp_path: Path, abstract: bool) -> None:
    if abstract:
        name = f"hasentinel-test-{uuid.uuid4().hex}"
        env_value, bind_addr = "@" + name, "\0" + name
    else:
        env_value = bind_addr = str(tmp_path / "notify.sock")
    with _receiver(bind_addr) as rx:
        n = Notifier.from_env({"NOTIFY_SOCKET": env_value})
        assert n.enabled
        assert n.ready("up")
        assert n.watchdog()
        assert n.status("two\nlines")
        assert n.stopping()
        got = [rx.recv(4096).decode() for _ in range(4)]
        n.close()
    assert got == ["READY=1\nSTATUS=up", "WATCHDOG=1", "STATUS=two lines", "STOPPING=1"]


def test_without_socket_everything_is_a_noop() -> None:
    n = Notifier.from_env({})
    assert not n.enabled
    assert not n.ready()
    assert not n.watchdog()


def test_send_errors_are_counted_not_raised(tmp_path: Path) -> None:
    n = Notifier(str(tmp_path / "nobody-listens.sock"))
    assert not n.notify("READY=1")
    assert n.errors == 1
    n.close()
