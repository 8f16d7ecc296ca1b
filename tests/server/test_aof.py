"""The append-only file with real processes: acknowledged writes survive kill -9 under
appendfsync always, truncated and corrupt files, BGREWRITEAOF, CONFIG SET appendonly, automatic
rewrites, and files exchanged with stock redis-server (checked by redis-check-aof too)."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from tests.conftest import ServerProcess
from tests.server.test_persistence import (
    db_client,
    populate,
    restart,
    snapshot,
    wait_exit,
    wait_until,
)

StartServer = Callable[..., ServerProcess]

AOF = ("--appendonly", "yes", "--save", "")
ALWAYS = (*AOF, "--appendfsync", "always")


def aofdir(sp: ServerProcess) -> Path:
    return sp.cwd / "appendonlydir"


def manifest(sp: ServerProcess) -> list[list[str]]:
    text = (aofdir(sp) / "appendonly.aof.manifest").read_text()
    return [line.split() for line in text.splitlines() if line.strip()]


def last_incr(sp: ServerProcess) -> Path:
    incrs = [m[1] for m in manifest(sp) if m[5] == "i"]
    return aofdir(sp) / incrs[-1]


def base_name(sp: ServerProcess) -> str:
    return next(m[1] for m in manifest(sp) if m[5] == "b")


def check_aof(sp: ServerProcess) -> str:
    """redis-check-aof on the manifest; fails the test if stock Redis calls it invalid."""
    if shutil.which("redis-check-aof") is None:
        pytest.skip("redis-check-aof not installed")
    p = subprocess.run(
        ["redis-check-aof", str(aofdir(sp) / "appendonly.aof.manifest")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert "is valid" in p.stdout, p.stdout
    return p.stdout


def need_stock() -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("stock redis-server not installed")


# --- durability -------------------------------------------------------------------------------------


def test_kill9_keeps_every_acknowledged_write_under_always(start_server: StartServer) -> None:
    sp = start_server(*ALWAYS)
    populate(sp)
    c = db_client(sp, 5)
    c.set("gone", "x")
    c.delete("gone")
    c.incrbyfloat("float", 1.5)
    c.set("rel", "v", ex=1000)
    c.expire("rel2", 10)  # no such key: nothing to propagate
    before = snapshot(sp)

    acked: list[tuple[int, int]] = []
    stop = threading.Event()

    def writer() -> None:
        cl = [db_client(sp, db) for db in (1, 2)]
        i = 0
        try:
            while not stop.is_set():
                cl[i % 2].set(f"w:{i}", i)
                acked.append((1 + i % 2, i))
                i += 1
        except (redis.ConnectionError, redis.TimeoutError):
            pass

    th = threading.Thread(target=writer, daemon=True)
    th.start()
    wait_until(lambda: len(acked) > 300, what="acknowledged writes")
    sp.kill9()
    stop.set()
    th.join(timeout=10)
    sp2 = restart(start_server, sp, *ALWAYS)
    after = snapshot(sp2)
    for db, i in acked:
        assert after[db].pop(f"w:{i}".encode())[1] == str(i).encode()
    for db in (1, 2):  # at most the one write in flight at the kill may remain
        assert len(after.get(db, {})) <= 1
        after.pop(db, None)
    assert after == before


def test_everysec_restart_after_clean_shutdown(start_server: StartServer) -> None:
    sp = start_server(*AOF, "--appendfsync", "everysec")
    populate(sp)
    before = snapshot(sp)
    time.sleep(1.5)  # let a background fsync happen
    assert sp.client().info("persistence")["aof_last_write_status"] == "ok"
    sp.client().shutdown()
    assert wait_exit(sp) == 0
    check_aof(sp)
    sp2 = restart(start_server, sp, *AOF)
    assert snapshot(sp2) == before


def test_transactions_replay(start_server: StartServer) -> None:
    sp = start_server(*ALWAYS)
    r = sp.client()
    p = r.pipeline(transaction=True)
    p.set("t1", "a")
    p.incr("t2")
    p.sadd("t3", "x", "y")
    p.execute()
    sp.kill9()
    sp2 = restart(start_server, sp, *ALWAYS)
    r2 = sp2.client()
    assert r2.get("t1") == b"a"
    assert r2.get("t2") == b"1"
    assert r2.smembers("t3") == {b"x", b"y"}


# --- truncation and corruption ----------------------------------------------------------------------------


def test_truncated_incr_file_loads_without_the_partial_command(start_server: StartServer) -> None:
    sp = start_server(*ALWAYS)
    r = sp.client()
    for i in range(20):
        r.set(f"k{i}", i)
    sp.kill9()
    incr = last_incr(sp)
    good_size = incr.stat().st_size
    with open(incr, "ab") as f:  # a kill -9 in the middle of a write
        f.write(b"*3\r\n$3\r\nSET\r\n$4\r\nhalf\r\n$10\r\n12345")
    sp2 = restart(start_server, sp, *ALWAYS)
    r2 = sp2.client()
    assert [r2.get(f"k{i}") for i in range(20)] == [str(i).encode() for i in range(20)]
    assert r2.get("half") is None
    assert "short read while loading the AOF file" in sp2.log()
    r2.set("after", "1")
    sp2.kill9()
    assert incr.stat().st_size > good_size
    check_aof(sp2)
    sp3 = restart(start_server, sp, *ALWAYS)
    assert sp3.client().get("after") == b"1"
    assert sp3.client().get("k19") == b"19"


def test_incomplete_multi_is_reverted(start_server: StartServer) -> None:
    sp = start_server(*ALWAYS)
    sp.client().set("before", "1")
    sp.kill9()
    with open(last_incr(sp), "ab") as f:
        f.write(b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$6\r\nin-tx1\r\n$1\r\n1\r\n")
    sp2 = restart(start_server, sp, *ALWAYS)
    r2 = sp2.client()
    assert r2.get("before") == b"1"
    assert r2.get("in-tx1") is None
    check_aof(sp2)


def test_truncated_aof_refused_when_aof_load_truncated_no(start_server: StartServer) -> None:
    sp = start_server(*ALWAYS)
    sp.client().set("a", "1")
    sp.kill9()
    with open(last_incr(sp), "ab") as f:
        f.write(b"*2\r\n$3\r\nDEL")
    with pytest.raises(RuntimeError, match="exited"):
        restart(start_server, sp, *ALWAYS, "--aof-load-truncated", "no")
    assert "Unexpected end of file reading the append only file" in (sp.cwd / "server.log").read_text()


def test_corruption_in_the_middle_is_fatal(start_server: StartServer) -> None:
    sp = start_server(*ALWAYS)
    r = sp.client()
    for i in range(10):
        r.set(f"k{i}", i)
    sp.kill9()
    incr = last_incr(sp)
    data = incr.read_bytes()
    mid = data.rindex(b"*3\r\n", 0, data.index(b"$2\r\nk5\r\n"))
    incr.write_bytes(data[:mid] + b"garbage!\r\n" + data[mid:])
    with pytest.raises(RuntimeError, match="exited"):
        restart(start_server, sp, *ALWAYS)
    log = (sp.cwd / "server.log").read_text()
    assert "Bad file format reading the append only file" in log
    assert incr.read_bytes()[mid : mid + 8] == b"garbage!"  # nothing was "repaired" behind our back


def test_bad_manifest_is_fatal(start_server: StartServer) -> None:
    sp = start_server(*AOF)
    sp.client().set("a", "1")
    sp.kill9()
    (aofdir(sp) / "appendonly.aof.manifest").write_text("file x seq\n")
    with pytest.raises(RuntimeError, match="exited"):
        restart(start_server, sp, *AOF)
    assert "Invalid AOF manifest file format" in (sp.cwd / "server.log").read_text()


# --- rewrites -------------------------------------------------------------------------------------------


def test_bgrewriteaof_then_restart(start_server: StartServer) -> None:
    sp = start_server(*ALWAYS)
    populate(sp)
    r = sp.client()
    for i in range(500):
        r.set("counter", i)
    old_base = base_name(sp)
    r.bgrewriteaof()
    wait_until(lambda: base_name(sp) != old_base, what="the rewrite's new base file")
    wait_until(lambda: r.info("persistence")["aof_rewrite_in_progress"] == 0, what="rewrite reaped")
    assert r.info("persistence")["aof_last_bgrewrite_status"] == "ok"
    names = sorted(p.name for p in aofdir(sp).iterdir())
    assert names == sorted([base_name(sp), last_incr(sp).name, "appendonly.aof.manifest"])
    populate(sp, tag="-after")
    before = snapshot(sp)
    sp.kill9()
    check_aof(sp)
    sp2 = restart(start_server, sp, *ALWAYS)
    assert snapshot(sp2) == before


def test_writes_during_rewrite_are_kept(start_server: StartServer) -> None:
    sp = start_server(*ALWAYS)
    c = sp.client()
    for start in range(0, 200_000, 5000):
        c.mset({f"bulk:{i}": i for i in range(start, start + 5000)})
    old_base = base_name(sp)
    c.bgrewriteaof()
    i = 0
    while base_name(sp) == old_base and i < 100_000:
        c.set(f"during:{i}", i)
        i += 1
    assert i > 0
    wait_until(lambda: base_name(sp) != old_base, what="rewrite done")
    c.set("last", "1")
    sp.kill9()
    sp2 = restart(start_server, sp, *ALWAYS)
    c2 = sp2.client()
    assert c2.dbsize() == 200_000 + i + 1
    assert c2.get(f"during:{i - 1}") == str(i - 1).encode()


def test_rdb_preamble_off_writes_a_resp_base(start_server: StartServer) -> None:
    sp = start_server(*ALWAYS, "--aof-use-rdb-preamble", "no")
    populate(sp)
    r = sp.client()
    r.bgrewriteaof()
    wait_until(lambda: base_name(sp).endswith(".2.base.aof"), what="a RESP base")
    populate(sp, tag="-after")
    before = snapshot(sp)
    sp.kill9()
    assert (aofdir(sp) / base_name(sp)).read_bytes().startswith(b"*2\r\n$6\r\nSELECT")
    check_aof(sp)
    sp2 = restart(start_server, sp, *ALWAYS)
    assert snapshot(sp2) == before


def test_auto_rewrite_on_growth(start_server: StartServer) -> None:
    sp = start_server(*AOF, "--auto-aof-rewrite-percentage", "100", "--auto-aof-rewrite-min-size", "64kb")
    r = sp.client()
    old_base = base_name(sp)
    for i in range(3000):
        r.set("same", "x" * 100 + str(i))
    wait_until(lambda: base_name(sp) != old_base, timeout=10, what="an automatic rewrite")
    wait_until(lambda: r.info("persistence")["aof_rewrite_in_progress"] == 0, what="rewrite reaped")
    info = r.info("persistence")
    assert info["aof_rewrites"] >= 1
    # ~400 KB were appended in all; rewrites keep the files near the last rewrite's size (x2 at most).
    assert info["aof_current_size"] < 200 * 1024


def test_config_set_appendonly_at_run_time(start_server: StartServer) -> None:
    sp = start_server("--appendonly", "no", "--save", "")
    populate(sp)
    r = sp.client()
    assert not aofdir(sp).exists()
    r.config_set("appendonly", "yes")
    wait_until(lambda: (aofdir(sp) / "appendonly.aof.manifest").exists(), what="the first AOF")
    wait_until(lambda: r.info("persistence")["aof_rewrite_in_progress"] == 0, what="rewrite reaped")
    populate(sp, tag="-on")
    before = snapshot(sp)
    sp.kill9()
    check_aof(sp)
    sp2 = restart(start_server, sp, *AOF)
    assert snapshot(sp2) == before
    r2 = sp2.client()
    r2.config_set("appendonly", "no")
    assert r2.info("persistence")["aof_enabled"] == 0
    r2.set("not-logged", "1")
    sp2.kill9()
    sp3 = restart(start_server, sp, *AOF)
    assert sp3.client().get("not-logged") is None


# --- interoperability with stock Redis ----------------------------------------------------------------------


def test_stock_redis_loads_our_aof(start_server: StartServer) -> None:
    need_stock()
    sp = start_server(*ALWAYS)
    populate(sp)
    r = sp.client()
    r.bgrewriteaof()
    wait_until(
        lambda: (
            r.info("persistence")["aof_rewrites"] == 1
            and r.info("persistence")["aof_rewrite_in_progress"] == 0
        ),
        what="rewrite",
    )
    populate(sp, tag="-tail")
    db_client(sp, 3).delete("str-tail:3")
    before = snapshot(sp)
    sp.kill9()
    check_aof(sp)
    stock = restart(start_server, sp, *AOF, stock=True)
    assert snapshot(stock) == before


def test_we_load_stock_redis_aof(start_server: StartServer) -> None:
    need_stock()
    stock = start_server(*AOF, stock=True)
    populate(stock)
    stock.client().bgrewriteaof()
    wait_until(
        lambda: (
            stock.client().info("persistence")["aof_rewrite_in_progress"] == 0
            and stock.client().info("persistence")["aof_rewrites"] >= 1
        ),
        what="stock rewrite",
    )
    populate(stock, tag="-tail")
    db_client(stock, 15).incrbyfloat("fl", 2.25)
    before = snapshot(stock)
    stock.client().shutdown(nosave=True)
    wait_exit(stock)
    sp = restart(start_server, stock, *AOF)
    assert snapshot(sp) == before
    sp.client().set("ours", "1")
    sp.kill9()
    check_aof(sp)
    stock2 = restart(start_server, stock, *AOF, stock=True)
    assert stock2.client().get("ours") == b"1"


def test_legacy_single_file_aof_is_upgraded(start_server: StartServer, tmp_path: Path) -> None:
    d = tmp_path / "legacy"
    d.mkdir()
    cmds = [
        [b"SELECT", b"0"],
        [b"SET", b"a", b"1"],
        [b"SADD", b"s", b"x", b"y"],
        [b"SELECT", b"2"],
        [b"HSET", b"h", b"f", b"v"],
    ]
    out = b"".join(b"*%d\r\n" % len(c) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in c) for c in cmds)
    (d / "appendonly.aof").write_bytes(out)
    sp = start_server(*AOF, cwd=d)
    r = sp.client()
    assert r.get("a") == b"1"
    assert r.smembers("s") == {b"x", b"y"}
    assert db_client(sp, 2).hget("h", "f") == b"v"
    assert not (d / "appendonly.aof").exists()
    assert manifest(sp)[0][:2] == ["file", "appendonly.aof"]
    r.set("b", "2")
    sp.kill9()
    sp2 = restart(start_server, sp, *AOF)
    assert sp2.client().mget("a", "b") == [b"1", b"2"]


def test_appendonly_with_only_an_rdb_starts_from_the_rdb(start_server: StartServer) -> None:
    sp = start_server("--save", "")
    populate(sp)
    before = snapshot(sp)
    sp.client().save()
    sp.kill9()
    sp2 = restart(start_server, sp, *AOF)
    assert snapshot(sp2) == before
    sp2.kill9()
    sp3 = restart(start_server, sp, *AOF)
    assert snapshot(sp3) == before


def test_legacy_aof_with_rdb_preamble_and_tail(start_server: StartServer, tmp_path: Path) -> None:
    import io

    from server.persistence.rdb import save_rdb
    from tests.server.rdb_helpers import new_keyspace

    ks = new_keyspace()
    ks[0].data[b"from-preamble"] = b"p"
    ks[4].data[b"h"] = {b"f": b"v"}
    buf = io.BytesIO()
    save_rdb(buf, ks.dbs, aux={"aof-preamble": 1})
    tail = b"*2\r\n$6\r\nSELECT\r\n$1\r\n4\r\n*4\r\n$4\r\nHSET\r\n$1\r\nh\r\n$1\r\ng\r\n$1\r\nw\r\n"
    d = tmp_path / "legacy-preamble"
    d.mkdir()
    (d / "appendonly.aof").write_bytes(buf.getvalue() + tail)
    sp = start_server(*AOF, cwd=d)
    assert sp.client().get("from-preamble") == b"p"
    assert db_client(sp, 4).hgetall("h") == {b"f": b"v", b"g": b"w"}
    sp.kill9()
    check_aof(sp)


def test_debug_loadaof(start_server: StartServer) -> None:
    sp = start_server(*AOF)
    populate(sp)
    before = snapshot(sp)
    r = sp.client()
    r.execute_command("DEBUG", "LOADAOF")
    assert snapshot(sp) == before
    r.config_set("appendonly", "no")
    with pytest.raises(redis.ResponseError, match="AOF is not enabled"):
        r.execute_command("DEBUG", "LOADAOF")


def test_one_child_at_a_time(start_server: StartServer) -> None:
    sp = start_server(*AOF)
    c = sp.client()
    for start in range(0, 400_000, 10_000):
        c.mset({f"k:{i}": i for i in range(start, start + 10_000)})
    assert c.bgsave()
    reply = c.execute_command("BGREWRITEAOF")
    info = c.info("persistence")
    if info["rdb_bgsave_in_progress"]:  # the save is still running: the rewrite waits for it
        assert reply in (True, b"Background append only file rewriting scheduled")
        assert info["aof_rewrite_scheduled"] == 1
    wait_until(lambda: c.info("persistence")["aof_rewrites"] == 1, what="the scheduled rewrite")
    if c.info("persistence")["aof_rewrite_in_progress"]:
        with pytest.raises(redis.ResponseError, match="Another child process is active"):
            c.execute_command("BGSAVE")  # redis-py's bgsave() adds SCHEDULE
        assert c.execute_command("BGSAVE", "SCHEDULE")  # "Background saving scheduled"
        assert c.info("persistence")["rdb_bgsave_in_progress"] == 0
    wait_until(lambda: c.info("persistence")["aof_rewrite_in_progress"] == 0, what="rewrite done")
    assert c.info("persistence")["aof_last_bgrewrite_status"] == "ok"
    wait_until((sp.cwd / "dump.rdb").exists, what="the first BGSAVE's file")
    sp.kill9()
    sp2 = restart(start_server, sp, *AOF)
    assert sp2.client().dbsize() == 400_000
