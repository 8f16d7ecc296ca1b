"""`hasentinel events`: follow the event channels (`PSUBSCRIBE *`) of every reachable sentinel.

One thread per sentinel feeds a queue; the main thread prints in arrival order. A lost sentinel
is reported and retried every second. Human lines or one JSON object per line (`--json`):
`{"time", "sentinel", "event", "payload"}`; connection changes come as events named
`#connected` / `#lost` (never a sentinel event name: those start with + or -).
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from sentinel.cli.client import Endpoint, Sources, explain, sentinel_client
from sentinel.cli.survey import survey


@dataclass(frozen=True)
class Event:
    """One event from one sentinel."""

    time: float
    sentinel: str
    event: str
    payload: str

    def to_json(self) -> dict[str, str]:
        """JSON form (ISO time, UTC)."""
        return {
            "time": dt.datetime.fromtimestamp(self.time, dt.UTC).isoformat(timespec="milliseconds"),
            "sentinel": self.sentinel,
            "event": self.event,
            "payload": self.payload,
        }

    def line(self) -> str:
        """Human form."""
        t = dt.datetime.fromtimestamp(self.time, dt.UTC).strftime("%H:%M:%S.%f")[:-3]
        return f"{t} {self.sentinel:<21} {self.event} {self.payload}"


def _mentions(payload: str, master: str) -> bool:
    parts = payload.split()
    return master in parts


def _follow(src: Sources, ep: Endpoint, out: queue.Queue[Event], stop: threading.Event) -> None:
    connected = False
    lost_reported = False
    while not stop.is_set():
        c = sentinel_client(src, ep)
        ps = c.pubsub(ignore_subscribe_messages=True)
        try:
            ps.psubscribe("*")
            while not stop.is_set():
                msg = ps.get_message(timeout=0.2)
                if not connected and ps.subscribed:
                    connected, lost_reported = True, False
                    out.put(Event(time.time(), str(ep), "#connected", "following every event"))
                if msg is not None and msg.get("type") == "pmessage":
                    out.put(Event(time.time(), str(ep), str(msg["channel"]), str(msg["data"])))
        except (redis.RedisError, OSError) as e:
            if not stop.is_set() and not lost_reported:  # once per loss, not once per retry
                out.put(Event(time.time(), str(ep), "#lost", explain(e, "sentinel", ep, src.timeout) + "; retrying"))
                lost_reported = True
            connected = False
            stop.wait(1.0)
        finally:
            ps.close()
            c.close()


def follow(
    src: Sources,
    emit: Callable[[Event], None],
    master: str | None = None,
    count: int | None = None,
    duration: float | None = None,
) -> int:
    """Print events until `count` sentinel events were shown, `duration` passed, or Ctrl-C.

    Returns how many sentinel events were shown.
    """
    sv = survey(src)
    targets = [s.ep for s in sv.sentinels]  # unreachable ones too: they are retried
    q: queue.Queue[Event] = queue.Queue()
    stop = threading.Event()
    threads = [threading.Thread(target=_follow, args=(src, ep, q, stop), daemon=True) for ep in targets]
    for t in threads:
        t.start()
    shown = 0
    end = time.monotonic() + duration if duration is not None else None
    try:
        while count is None or shown < count:
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                break
            try:
                ev = q.get(timeout=min(0.5, left) if left is not None else 0.5)
            except queue.Empty:
                continue
            if master is not None and not ev.event.startswith("#") and not _mentions(ev.payload, master):
                continue
            emit(ev)
            if not ev.event.startswith("#"):
                shown += 1
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=2)
    return shown
