"""RDB persistence of the running server, with real processes: SAVE, BGSAVE (forked, without
stalling clients), save points, SHUTDOWN [SAVE|NOSAVE], FLUSHALL's save, the MISCONF fence,
and fatal errors on a corrupt file.

The helpers here (dataset writing, full snapshots, bounded waits) are shared with test_aof.py.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import ServerProcess

StartServer = Callable[..., ServerProcess]
Snapshot = dict[int, dict[bytes, tuple[str, Any, int]]]

DBS = (0, 3, 15)


def wait_until(pred: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    """Poll `pred` until true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_exit(sp: ServerProcess, timeout: float = 15.0) -> int:
    assert sp.proc is not None
    return sp.proc.wait(timeout=timeout)


def db_client(sp: ServerProcess, db: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=sp.port, db=db, socket_timeout=10)


def populate(sp: ServerProcess, tag: str = "", with_expiry: bool = True) -> None:
    """Every type, in several dbs, some keys with a TTL (far enough not to expire mid-test)."""
    for db in DBS:
        c = db_client(sp, db)
        p = c.pipeline(transaction=False)
        p.set(f"str{tag}:{db}", f"value-{db}")
        p.set(f"int{tag}:{db}", 12345 + db)
        p.set(f"big{tag}:{db}", b"x" * 20000 + bytes(range(256)))
        p.rpush(f"list{tag}:{db}", *[f"e{i}" for i in range(200)])
        p.sadd(f"set{tag}:{db}", *[f"m{i}" for i in range(100)])
        p.sadd(f"iset{tag}:{db}", *range(50))
        p.zadd(f"zset{tag}:{db}", {f"z{i}": i * 1.5 - 20 for i in range(150)})
        p.zadd(f"zinf{tag}:{db}", {"lo": float("-inf"), "hi": float("inf"), "mid": 0.1})
        p.hset(f"hash{tag}:{db}", mapping={f"f{i}": f"v{i}" for i in range(100)})
        p.hset(f"small{tag}:{db}", mapping={"a": "1", "b": "2"})
        p.set(f"bin{tag}:{db}", bytes(range(256)) * 3)
        if with_expiry:
            p.set(f"ttl{tag}:{db}", "soon", px=3_600_000)
            p.hset(f"httl{tag}:{db}", "f", "v")
            p.pexpire(f"httl{tag}:{db}", 7_200_000)
        p.execute()
        c.close()


def snapshot(sp: ServerProcess, dbs: tuple[int, ...] = tuple(range(16))) -> Snapshot:
    """Every key of `dbs`: (type, full value, absolute expiry in ms or -1)."""
    out: Snapshot = {}
    for db in dbs:
        c = db_client(sp, db)
        keys: dict[bytes, tuple[str, Any, int]] = {}
        for key in c.scan_iter(count=1000):
            raw = c.type(key)
            t = raw.decode() if isinstance(raw, bytes) else str(raw)
            v: Any
            if t == "string":
                v = c.get(key)
            elif t == "list":
                v = c.lrange(key, 0, -1)
            elif t == "set":
                v = sorted(c.smembers(key))
            elif t == "zset":
                v = c.zrange(key, 0, -1, withscores=True)
            elif t == "hash":
                v = sorted(c.hgetall(key).items())
            else:
                v = None
            keys[key] = (t, v, int(c.execute_command("PEXPIRETIME", key)))
        if keys:
            out[db] = keys
        c.close()
    return out


def restart(start_server: StartServer, sp: ServerProcess, *args: str, stock: bool = False) -> ServerProcess:
    """A new server (ours or stock) on the same directory."""
    return start_server(*args, cwd=sp.cwd, stock=stock)


# --- SAVE, restart, formats --------------------------------------------------------------------


def test_save_then_kill9_restart_keeps_everything(start_server: StartServer) -> None:
    sp = start_server("--save", "")
    populate(sp)
    before = snapshot(sp)
    r = sp.client()
    t0 = r.lastsave()
    assert r.save() is True
    assert r.lastsave() >= t0
    sp.kill9()
    sp2 = restart(start_server, sp, "--save", "")
    assert snapshot(sp2) == before


def test_our_dump_loads_in_stock_and_back(start_server: StartServer) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("stock redis-server not installed")
    sp = start_server("--save", "")
    populate(sp)
    before = snapshot(sp)
    sp.client().save()
    sp.kill9()
    stock = restart(start_server, sp, "--save", "", "--appendonly", "no", stock=True)
    assert snapshot(stock) == before
    stock.client().set("from-stock", "1")
    stock.client().save()
    stock.kill9()
    sp3 = restart(start_server, sp, "--save", "")
    after = snapshot(sp3)
    assert after[0].pop(b"from-stock")[1] == b"1"
    assert after == before


def test_corrupt_rdb_is_fatal(start_server: StartServer, tmp_path: Path) -> None:
    d = tmp_path / "corrupt"
    d.mkdir()
    good = start_server("--save", "", cwd=d)
    populate(good)
    good.client().save()
    good.kill9()
    data = bytearray((d / "dump.rdb").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (d / "dump.rdb").write_bytes(bytes(data))
    with pytest.raises(RuntimeError, match="exited"):
        start_server("--save", "", cwd=d)
    log = (d / "server.log").read_text()
    assert "fatal error loading the dataset" in log
    # Truncated files are refused as well.
    (d / "dump.rdb").write_bytes(bytes(data[: len(data) // 3]))
    with pytest.raises(RuntimeError, match="exited"):
        start_server("--save", "", cwd=d)


# --- BGSAVE --------------------------------------------------------------------------------------


def _fill_many(sp: ServerProcess, n: int) -> None:
    c = sp.client()
    batch = 5000
    for start in range(0, n, batch):
        p = c.pipeline(transaction=False)
        p.mset({f"key:{i}": f"value-{i}-" + "p" * 40 for i in range(start, min(n, start + batch))})
        p.hset(f"h:{start}", mapping={f"f{i}": i for i in range(100)})
        p.execute()
    c.close()


def test_bgsave_does_not_stall_clients_and_loads(start_server: StartServer) -> None:
    sp = start_server("--save", "")
    n = 500_000
    _fill_many(sp, n)
    dump = sp.cwd / "dump.rdb"
    assert not dump.exists()
    latencies: list[float] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def hammer() -> None:
        c = sp.client()
        i = 0
        try:
            while not stop.is_set():
                t = time.perf_counter()
                c.set(f"live:{i % 100}", i)
                c.get(f"key:{i % n}")
                latencies.append(time.perf_counter() - t)
                i += 1
        except BaseException as e:  # surfaced below
            errors.append(e)
        finally:
            c.close()

    th = threading.Thread(target=hammer, daemon=True)
    th.start()
    time.sleep(0.3)
    r = sp.client()
    latencies.clear()
    t0 = time.perf_counter()
    assert r.bgsave() is True
    with pytest.raises(redis.ResponseError, match="Background save already in progress"):
        r.bgsave()
    wait_until(dump.exists, timeout=120, what="dump.rdb written by the BGSAVE child")
    save_time = time.perf_counter() - t0
    stop.set()
    th.join(timeout=10)
    assert not errors, errors
    assert len(latencies) > 50, "the client hardly ran during the save"
    worst = max(latencies)
    # The parent kept answering while the child wrote: no pause anywhere near the save's length.
    assert save_time > 0.3, f"save too quick ({save_time:.3f}s) to measure a stall"
    assert worst < max(0.25, save_time / 4), f"worst latency {worst:.3f}s during a {save_time:.3f}s save"
    wait_until(lambda: r.info("persistence")["rdb_bgsave_in_progress"] == 0, what="BGSAVE reaped")
    info = r.info("persistence")
    assert info["rdb_last_bgsave_status"] == "ok"
    assert info["rdb_saves"] >= 1
    expected = r.dbsize()
    sp.kill9()
    sp2 = restart(start_server, sp, "--save", "")
    c2 = sp2.client()
    assert c2.dbsize() >= n
    assert c2.dbsize() <= expected
    assert c2.get("key:12345") == b"value-12345-" + b"p" * 40
    assert c2.hget("h:5000", "f99") == b"99"


def test_bgsave_syntax_and_schedule(start_server: StartServer) -> None:
    sp = start_server("--save", "")
    r = sp.client()
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("BGSAVE", "foo")
    r.set("a", "1")
    assert r.execute_command("BGSAVE", "SCHEDULE")  # redis-py maps "Background saving started" to True
    wait_until((sp.cwd / "dump.rdb").exists, what="scheduled bgsave")


# --- save points, SHUTDOWN, FLUSHALL ------------------------------------------------------------------


def test_save_point_triggers_background_save(start_server: StartServer) -> None:
    sp = start_server("--save", "1", "2")
    r = sp.client()
    r.set("a", "1")
    time.sleep(1.5)
    assert not (sp.cwd / "dump.rdb").exists(), "one change must not reach a '1 2' save point"
    r.set("b", "2")
    wait_until((sp.cwd / "dump.rdb").exists, timeout=10, what="the save point's BGSAVE")
    wait_until(lambda: r.info("persistence")["rdb_changes_since_last_save"] == 0, what="dirty reset")
    sp.kill9()
    sp2 = restart(start_server, sp, "--save", "")
    assert sp2.client().mget("a", "b") == [b"1", b"2"]


def test_shutdown_nosave_and_save(start_server: StartServer) -> None:
    sp = start_server("--save", "3600", "1")
    r = sp.client()
    r.set("k", "v1")
    r.shutdown(nosave=True)
    assert wait_exit(sp) == 0
    assert not (sp.cwd / "dump.rdb").exists()

    sp2 = restart(start_server, sp, "--save", "")
    r2 = sp2.client()
    assert r2.get("k") is None
    r2.set("k", "v2")
    r2.shutdown(save=True)  # no save points configured: SAVE forces it
    assert wait_exit(sp2) == 0
    sp3 = restart(start_server, sp, "--save", "3600", "1")
    r3 = sp3.client()
    assert r3.get("k") == b"v2"
    r3.set("k", "v3")
    r3.shutdown()  # save points configured: the default saves
    assert wait_exit(sp3) == 0
    sp4 = restart(start_server, sp, "--save", "")
    r4 = sp4.client()
    assert r4.get("k") == b"v3"
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r4.execute_command("SHUTDOWN", "SAVE", "NOSAVE")
    with pytest.raises(redis.ResponseError, match="No shutdown in progress"):
        r4.execute_command("SHUTDOWN", "ABORT")


def test_sigterm_saves_with_save_points(start_server: StartServer) -> None:
    sp = start_server("--save", "3600", "1")
    sp.client().set("k", "by-sigterm")
    sp.stop()
    assert sp.proc is not None and sp.proc.returncode == 0
    sp2 = restart(start_server, sp, "--save", "")
    assert sp2.client().get("k") == b"by-sigterm"


def test_shutdown_fails_when_the_save_fails(start_server: StartServer, tmp_path: Path) -> None:
    sub = tmp_path / "gone"
    sub.mkdir()
    sp = start_server("--save", "3600", "1", "--dir", str(sub))
    r = sp.client()
    r.set("k", "v")
    shutil.rmtree(sub)
    with pytest.raises(redis.ResponseError, match="Errors trying to SHUTDOWN"):
        r.execute_command("SHUTDOWN")
    assert r.ping()
    sub.mkdir()
    with pytest.raises(redis.ConnectionError):
        r.execute_command("SHUTDOWN")
    assert wait_exit(sp) == 0
    assert (sub / "dump.rdb").exists()


def test_shutdown_force_exits_even_if_save_fails(start_server: StartServer, tmp_path: Path) -> None:
    sub = tmp_path / "gone2"
    sub.mkdir()
    sp = start_server("--save", "3600", "1", "--dir", str(sub))
    r = sp.client()
    r.set("k", "v")
    shutil.rmtree(sub)
    r.shutdown(force=True)
    assert wait_exit(sp) == 0


def test_flushall_with_save_points_saves_the_empty_dataset(start_server: StartServer) -> None:
    sp = start_server("--save", "3600", "1")
    r = sp.client()
    r.set("a", "1")
    r.save()
    r.set("b", "2")
    r.flushall()
    wait_until(lambda: r.info("persistence")["rdb_changes_since_last_save"] == 0, what="dirty reset")
    sp.kill9()
    sp2 = restart(start_server, sp, "--save", "")
    assert sp2.client().dbsize() == 0


# --- the MISCONF fence ---------------------------------------------------------------------------------


def test_misconf_fence_after_failed_bgsave(start_server: StartServer, tmp_path: Path) -> None:
    sub = tmp_path / "rdbdir"
    sub.mkdir()
    sp = start_server("--save", "3600", "1", "--dir", str(sub))
    r = sp.client()
    r.set("before", "1")
    shutil.rmtree(sub)
    r.bgsave()
    wait_until(lambda: r.info("persistence")["rdb_last_bgsave_status"] == "err", what="the failed BGSAVE")
    with pytest.raises(redis.ResponseError) as ei:
        r.set("after", "1")
    assert str(ei.value).startswith(
        "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk."
    )
    assert r.get("before") == b"1"  # reads still work
    sub.mkdir()
    r.bgsave()
    wait_until(lambda: r.info("persistence")["rdb_last_bgsave_status"] == "ok", what="a good BGSAVE")
    assert r.set("after", "1") is True
    # With the fence turned off, or without save points, a failed save does not stop writes.
    shutil.rmtree(sub)
    r.bgsave()
    wait_until(lambda: r.info("persistence")["rdb_last_bgsave_status"] == "err", what="the failed BGSAVE")
    r.config_set("stop-writes-on-bgsave-error", "no")
    assert r.set("again", "1") is True
    r.config_set("stop-writes-on-bgsave-error", "yes")
    with pytest.raises(redis.ResponseError, match="MISCONF"):
        r.set("again", "2")
    r.config_set("save", "")
    assert r.set("again", "3") is True


def test_save_error_reply(start_server: StartServer, tmp_path: Path) -> None:
    sub = tmp_path / "savedir"
    sub.mkdir()
    sp = start_server("--save", "", "--dir", str(sub))
    r = sp.client()
    r.set("k", "v")
    shutil.rmtree(sub)
    with pytest.raises(redis.ResponseError):  # the bare "-ERR" reply
        r.save()
    os.makedirs(sub)
    assert r.save() is True
    assert (sub / "dump.rdb").exists()


def test_debug_reload(start_server: StartServer) -> None:
    sp = start_server("--save", "")
    populate(sp)
    before = snapshot(sp)
    r = sp.client()
    assert r.execute_command("DEBUG", "RELOAD") in (b"OK", True, "OK")
    assert snapshot(sp) == before
    r.set("extra", "1")
    r.execute_command("DEBUG", "RELOAD", "NOSAVE")  # back to the file: "extra" is gone
    assert r.get("extra") is None
    assert snapshot(sp) == before
    r.set("extra", "2")
    r.execute_command("DEBUG", "RELOAD", "NOSAVE", "NOFLUSH", "MERGE")
    assert r.get("extra") == b"2"
    with pytest.raises(redis.ResponseError, match="only supports the MERGE, NOFLUSH and NOSAVE options"):
        r.execute_command("DEBUG", "RELOAD", "BOGUS")
