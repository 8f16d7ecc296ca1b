"""Replication between real processes: ours and stock Redis 7, in both directions.

Every scenario checks the data on both sides with a digest of every key (type, value, TTL
presence), not just that a link is up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from server.replication.backlog import Backlog
from tests.conftest import ServerProcess

Start = Callable[..., ServerProcess]


def wait_until(pred: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = pred()
        except (redis.ConnectionError, redis.ResponseError):
            last = None
        if last:
            return last
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what} (last value {last!r})")


def digest(r: redis.Redis) -> dict[tuple[int, bytes], tuple[str, Any, bool]]:
    """Every key of every non-empty db: (type, value, has_ttl)."""
    out: dict[tuple[int, bytes], tuple[str, Any, bool]] = {}
    info = r.info("keyspace")
    for dbname in info:
        db = int(dbname[2:])
        c = redis.Redis(host="127.0.0.1", port=r.connection_pool.connection_kwargs["port"], db=db)
        for key in c.scan_iter(count=1000):
            t = c.type(key).decode()
            if t == "string":
                v: Any = c.get(key)
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
            out[(db, key)] = (t, v, c.ttl(key) > 0)
        c.close()
    return out


def fill(r: redis.Redis, n: int = 300, tag: str = "") -> None:
    p = r.pipeline(transaction=False)
    for i in range(n):
        p.set(f"s{tag}{i}", f"v{i}")
        p.rpush(f"l{tag}{i % 7}", i)
        p.hset(f"h{tag}{i % 5}", f"f{i}", i)
        p.sadd(f"set{tag}{i % 3}", i)
        p.zadd(f"z{tag}{i % 4}", {f"m{i}": i / 3})
    p.set(f"ttl{tag}", "x", ex=1000)
    p.execute()
    r.execute_command("SELECT", 3)
    r.set(f"db3{tag}", "in db 3")
    r.execute_command("SELECT", 0)


def link_up(r: redis.Redis) -> bool:
    info = r.info("replication")
    return info.get("role") == "slave" and info.get("master_link_status") == "up"


def in_sync(master: redis.Redis, replica: redis.Redis) -> bool:
    return bool(
        link_up(replica)
        and master.info("replication")["master_repl_offset"] == replica.info("replication")["slave_repl_offset"]
    )


FAST = ("--repl-diskless-sync-delay", "0")


# --- unit: the backlog -------------------------------------------------------------------------


def test_backlog_offsets_and_trim() -> None:
    b = Backlog(16 * 1024)
    b.append(b"a" * 10)
    assert (b.first_offset, b.offset, b.histlen) == (1, 10, 10)
    assert b.can_serve(1) and b.can_serve(11) and not b.can_serve(12)
    assert b.since(6) == b"a" * 5
    b.append(b"b" * 40000)
    assert b.offset == 40010
    assert b.histlen == 16 * 1024
    assert b.first_offset == 40010 - 16 * 1024 + 1
    assert not b.can_serve(1)
    assert b.since(b.offset) == b"b"


# --- ours -> ours --------------------------------------------------------------------------------


def test_full_sync_stream_wait_and_readonly(start_server: Start) -> None:
    m = start_server("--save", "", *FAST)
    mc = m.client()
    fill(mc)
    rp = start_server("--save", "", "--replicaof", "127.0.0.1", str(m.port))
    rc = rp.client()
    wait_until(lambda: link_up(rc), what="replica link up")
    mc.set("after-sync", "1")
    mc.lpush("l0", "pushed")
    mc.expire("s1", 500)
    mc.delete("s2")
    assert mc.execute_command("WAIT", 1, 5000) == 1
    wait_until(lambda: in_sync(mc, rc), what="offsets equal")
    assert digest(mc) == digest(rc)
    with pytest.raises(redis.ResponseError, match=r"You can't write against a read only replica\."):
        rc.set("x", "y")
    role = rc.execute_command("ROLE")
    assert role[0] == b"slave" and role[3] == b"connected"
    mrole = mc.execute_command("ROLE")
    assert mrole[0] == b"master" and len(mrole[2]) == 1


def test_info_replication_fields_in_redis_order(start_server: Start) -> None:
    m = start_server("--save", "", *FAST)
    rp = start_server("--save", "", "--replicaof", "127.0.0.1", str(m.port))
    rc = rp.client()
    wait_until(lambda: link_up(rc), what="replica link up")
    names = list(rc.info("replication"))
    assert names[:8] == [
        "role", "master_host", "master_port", "master_link_status", "master_last_io_seconds_ago",
        "master_sync_in_progress", "slave_read_repl_offset", "slave_repl_offset",
    ]
    assert names.index("slave_priority") < names.index("connected_slaves") < names.index("master_replid")
    slave0 = m.client().info("replication")["slave0"]
    assert (slave0["ip"], slave0["port"], slave0["state"]) == ("127.0.0.1", rp.port, "online")


def test_partial_resync_after_link_drop(start_server: Start) -> None:
    m = start_server("--save", "", *FAST)
    mc = m.client()
    fill(mc, 100)
    rp = start_server("--save", "", "--replicaof", "127.0.0.1", str(m.port))
    rc = rp.client()
    wait_until(lambda: in_sync(mc, rc), what="initial sync")
    fill(mc, 30, tag="streamed")  # non-idempotent writes: a resync from a stale offset would duplicate them
    wait_until(lambda: in_sync(mc, rc), what="stream applied")
    full_before = mc.info("stats")["sync_full"]
    assert mc.execute_command("CLIENT", "KILL", "TYPE", "replica") == 1
    mc.set("while-down", "1")
    wait_until(lambda: in_sync(mc, rc), what="resync after kill")
    stats = mc.info("stats")
    assert stats["sync_full"] == full_before, "a short drop must not cost a full resync"
    assert stats["sync_partial_ok"] >= 1
    assert rc.get("while-down") == b"1"
    assert digest(mc) == digest(rc)


def test_promotion_keeps_siblings_on_partial_resync(start_server: Start) -> None:
    """PSYNC2: after REPLICAOF NO ONE on one replica, its sibling resyncs partially from it."""
    m = start_server("--save", "", *FAST)
    mc = m.client()
    fill(mc, 100)
    a = start_server("--save", "", *FAST, "--replicaof", "127.0.0.1", str(m.port))
    b = start_server("--save", "", "--replicaof", "127.0.0.1", str(m.port))
    ac, bc = a.client(), b.client()
    wait_until(lambda: in_sync(mc, ac) and in_sync(mc, bc), what="both replicas in sync")
    m.kill9()
    assert ac.execute_command("REPLICAOF", "NO", "ONE") == b"OK"
    ainfo = ac.info("replication")
    assert ainfo["role"] == "master" and ainfo["second_repl_offset"] > 0
    assert ainfo["master_replid2"] == bc.info("replication")["master_replid"]
    assert bc.execute_command("REPLICAOF", "127.0.0.1", str(a.port)) == b"OK"
    ac.set("new-world", "1")
    wait_until(lambda: in_sync(ac, bc), what="sibling follows the promoted replica")
    st = ac.info("stats")
    assert st["sync_partial_ok"] == 1 and st["sync_full"] == 0
    assert bc.get("new-world") == b"1"
    assert digest(ac) == digest(bc)


def test_min_replicas_to_write_fences_an_isolated_master(start_server: Start) -> None:
    m = start_server("--save", "", *FAST, "--min-replicas-to-write", "1", "--min-replicas-max-lag", "2")
    mc = m.client()
    with pytest.raises(redis.ResponseError, match="Not enough good replicas to write"):
        mc.set("a", "1")
    rp = start_server("--save", "", "--replicaof", "127.0.0.1", str(m.port))
    wait_until(lambda: link_up(rp.client()), what="replica up")
    wait_until(lambda: mc.set("a", "1"), what="writes accepted with a good replica")
    rp.kill9()
    time.sleep(3.5)  # > min-replicas-max-lag: the master has not heard an ACK since
    with pytest.raises(redis.ResponseError, match="Not enough good replicas"):
        mc.set("b", "1")
    assert mc.get("a") == b"1"  # reads still work


def test_wait_times_out_with_the_count_reached(start_server: Start) -> None:
    m = start_server("--save", "", *FAST)
    mc = m.client()
    mc.set("k", "v")
    t0 = time.monotonic()
    assert mc.execute_command("WAIT", 1, 300) == 0
    assert 0.25 <= time.monotonic() - t0 < 3
    rp = start_server("--save", "", "--replicaof", "127.0.0.1", str(m.port))
    wait_until(lambda: in_sync(mc, rp.client()), what="replica up and acknowledging")
    mc.set("k2", "v")
    assert mc.execute_command("WAIT", 2, 1000) == 1  # times out at 2, reports the one it has


def test_coordinated_failover_command(start_server: Start) -> None:
    m = start_server("--save", "", *FAST)
    mc = m.client()
    fill(mc, 50)
    rp = start_server("--save", "", "--replicaof", "127.0.0.1", str(m.port))
    rc = rp.client()
    wait_until(lambda: in_sync(mc, rc), what="sync")
    # FAILOVER TO needs the replica online on the master's side (its first ACK processed)
    wait_until(lambda: mc.info("replication").get("slave0", {}).get("state") == "online", what="replica online")
    mc.set("last-before-failover", "1")
    assert mc.execute_command("FAILOVER", "TO", "127.0.0.1", str(rp.port), "TIMEOUT", "5000") == b"OK"
    wait_until(lambda: rc.info("replication")["role"] == "master", what="target promoted")
    wait_until(lambda: link_up(mc), what="old master follows the new one")
    assert rc.get("last-before-failover") == b"1"
    rc.set("after", "2")
    wait_until(lambda: mc.get("after") == b"2", what="stream from the new master")
    assert mc.info("replication")["master_failover_state"] == "no-failover"


def test_unknown_replid_and_out_of_range_offset_get_full_resync(server: ServerProcess) -> None:
    import socket

    mc = server.client()
    mc.set("x", "1")
    for replid, off in ((b"f" * 40, b"1"), (b"?", b"-1"), (mc.info("replication")["master_replid"].encode(), b"99999999")):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(b"*3\r\n$5\r\nPSYNC\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(replid), replid, len(off), off))
            data = b""
            deadline = time.monotonic() + 10
            while b"\r\n" not in data and time.monotonic() < deadline:
                data += s.recv(4096)
            assert data.startswith(b"+FULLRESYNC ")


def test_replica_keeps_old_data_when_master_dies_mid_transfer(start_server: Start) -> None:
    """A master that disappears during the RDB transfer never leaves a half-loaded dataset."""
    m = start_server("--save", "", *FAST)
    mc = m.client()
    big = "x" * 1000
    for chunk in range(40):
        p = mc.pipeline(transaction=False)
        for i in range(1000):
            p.set(f"big{chunk}:{i}", big)
        p.execute()
    rp = start_server("--save", "")
    rc = rp.client()
    rc.set("mine", "old")
    rc.execute_command("CONFIG", "SET", "replica-read-only", "yes")
    rc.execute_command("REPLICAOF", "127.0.0.1", str(m.port))
    wait_until(lambda: rc.info("replication").get("master_sync_in_progress") == 1
               or link_up(rc), timeout=10, what="sync started")
    m.kill9()
    time.sleep(0.5)
    n = rc.dbsize()
    # Either the whole snapshot made it (then all 40000 keys), or none of it did.
    assert n in (1, 40000), n
    if n == 1:
        assert rc.get("mine") == b"old"


# --- interop with stock Redis 7 ------------------------------------------------------------------


def test_stock_replica_of_our_master(start_server: Start) -> None:
    m = start_server("--save", "", *FAST)
    mc = m.client()
    fill(mc)
    st = start_server("--save", "", "--replicaof", "127.0.0.1", str(m.port), stock=True)
    sc = st.client()
    wait_until(lambda: in_sync(mc, sc), what="stock replica in sync (full sync)")
    assert digest(mc) == digest(sc)
    fill(mc, 50, tag="live")
    assert mc.execute_command("WAIT", 1, 5000) == 1
    wait_until(lambda: in_sync(mc, sc), what="live stream")
    assert digest(mc) == digest(sc)
    full = mc.info("stats")["sync_full"]
    mc.execute_command("CLIENT", "KILL", "TYPE", "replica")
    mc.set("during-drop", "1")
    wait_until(lambda: in_sync(mc, sc), what="partial resync")
    assert mc.info("stats")["sync_full"] == full
    assert digest(mc) == digest(sc)


def test_our_replica_of_stock_master(start_server: Start) -> None:
    m = start_server("--save", "", *FAST, stock=True)
    mc = m.client()
    fill(mc)
    mc.set("int", 12345)
    mc.set("neg", -7)
    ours = start_server("--save", "", "--replicaof", "127.0.0.1", str(m.port))
    oc = ours.client()
    wait_until(lambda: in_sync(mc, oc), what="our replica in sync (full sync)")
    assert digest(mc) == digest(oc)
    fill(mc, 50, tag="live")
    assert mc.execute_command("WAIT", 1, 5000) == 1
    wait_until(lambda: in_sync(mc, oc), what="live stream")
    assert digest(mc) == digest(oc)
    full = mc.info("stats")["sync_full"]
    mc.execute_command("CLIENT", "KILL", "TYPE", "replica")
    mc.set("during-drop", "1")
    wait_until(lambda: in_sync(mc, oc), what="partial resync")
    assert mc.info("stats")["sync_full"] == full
    assert digest(mc) == digest(oc)


def test_corrupt_rdb_from_master_is_rejected_and_retried(start_server: Start) -> None:
    """A fake master that sends a corrupt RDB: the replica keeps its data, stays up, and retries."""
    import socket
    import threading

    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    port = lsock.getsockname()[1]
    attempts: list[int] = []
    stop = threading.Event()

    def fake_master() -> None:
        lsock.settimeout(0.2)
        while not stop.is_set() and len(attempts) < 20:
            try:
                conn, _ = lsock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                buf = b""
                try:
                    while b"PSYNC" not in buf:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        buf += chunk
                        # Answer the handshake: PING -> +PONG, each REPLCONF -> +OK.
                        if b"PING" in buf and b"+PONG" not in buf:
                            conn.sendall(b"+PONG\r\n")
                            buf = buf.replace(b"PING", b"ping-answered")
                        for word in (b"listening-port", b"capa"):
                            if word in buf:
                                conn.sendall(b"+OK\r\n")
                                buf = buf.replace(word, b"answered")
                    attempts.append(1)
                    payload = b"REDIS0010\xfa\x09redis-ver\x067.0.15\xfe\x00\xfb\x01\x00\x00\x03key\xff" + b"\x00" * 3
                    conn.sendall(b"+FULLRESYNC " + b"a" * 40 + b" 0\r\n$%d\r\n" % len(payload) + payload)
                    time.sleep(0.2)
                except OSError:
                    pass

    th = threading.Thread(target=fake_master, daemon=True)
    th.start()
    try:
        rp = start_server("--save", "")
        rc = rp.client()
        rc.set("mine", "kept")
        rc.execute_command("REPLICAOF", "127.0.0.1", str(port))
        wait_until(lambda: len(attempts) >= 2, timeout=15, what="the replica to retry after a corrupt RDB")
        assert rc.ping()
        assert rc.get("mine") == b"kept"
        assert rc.dbsize() == 1
        assert rc.info("replication")["master_link_status"] == "down"
    finally:
        stop.set()
        th.join(timeout=5)
        lsock.close()


def test_restarted_replica_resyncs_partially_from_its_rdb(start_server: Start) -> None:
    m = start_server("--save", "", *FAST)
    mc = m.client()
    fill(mc, 50)
    rp = start_server("--save", "", "--replicaof", "127.0.0.1", str(m.port))
    rc = rp.client()
    wait_until(lambda: in_sync(mc, rc), what="sync")
    rc.execute_command("SAVE")
    rp.stop()
    mc.set("while-replica-down", "1")
    full = mc.info("stats")["sync_full"]
    restarted = ServerProcess(rp.argv, rp.port, rp.cwd, rp.log_path).start()
    try:
        rc2 = restarted.client()
        wait_until(lambda: in_sync(mc, rc2), what="restarted replica in sync")
        assert mc.info("stats")["sync_full"] == full, "restart from its RDB should need only a partial resync"
        assert rc2.get("while-replica-down") == b"1"
        assert digest(mc) == digest(rc2)
    finally:
        restarted.stop()


@pytest.mark.parametrize("stock_replica", [False, True], ids=["our-replica", "stock-replica"])
def test_diskless_sync_under_concurrent_writes(start_server: Start, stock_replica: bool) -> None:
    """Writes during a diskless (EOF-marked) transfer must follow the RDB without corrupting it:
    the master holds them until the replica's first ACK, and our replica finds the mark anywhere."""
    import threading

    m = start_server("--save", "", "--repl-diskless-sync", "yes", *FAST)
    mc = m.client()
    fill(mc, 2000)
    stop = threading.Event()
    written: list[int] = []

    def writer() -> None:
        w = m.client()
        i = 0
        while not stop.is_set() and i < 200_000:
            w.rpush("during-sync", i)
            written.append(i)
            i += 1

    th = threading.Thread(target=writer)
    th.start()
    try:
        rp = start_server("--save", "", "--replicaof", "127.0.0.1", str(m.port), stock=stock_replica)
        rc = rp.client()
        wait_until(lambda: link_up(rc), timeout=20, what="replica up after a diskless sync under load")
        time.sleep(0.3)
    finally:
        stop.set()
        th.join(timeout=10)
    wait_until(lambda: in_sync(mc, rc), timeout=20, what="replica caught up")
    assert rc.lrange("during-sync", 0, -1) == [str(i).encode() for i in written]
    assert digest(mc) == digest(rc)


@pytest.mark.parametrize("master_kind", ["stock", "ours"])
def test_chained_replica_gets_the_stream_as_the_master_sent_it(start_server: Start, master_kind: str) -> None:
    """master -> our replica -> stock sub-replica: our replica passes the stream on as received
    (runs of commands, split at REPLCONF GETACK), so every offset in the chain is the master's and
    the data is the same at the end of it; WAIT on the master counts our replica's ACKs."""
    m = start_server("--save", "", *FAST, stock=master_kind == "stock")
    mc = m.client()
    fill(mc, 100)
    mid = start_server("--save", "", *FAST, "--replicaof", "127.0.0.1", str(m.port))
    midc = mid.client()
    leaf = start_server("--save", "", "--replicaof", "127.0.0.1", str(mid.port), stock=True)
    leafc = leaf.client()
    wait_until(lambda: in_sync(mc, midc) and in_sync(midc, leafc), what="the chain in sync")
    for round_ in range(20):  # live stream: plain writes, MULTI/EXEC, SELECT, expiry, WAIT
        p = mc.pipeline(transaction=round_ % 2 == 0)
        for i in range(50):
            p.set(f"live{round_}:{i}", "x" * (i % 13))
            p.incr(f"ctr{i % 3}")
        p.expire(f"live{round_}:0", 1000)
        p.execute()
        mc.execute_command("SELECT", 5)
        mc.lpush("db5list", round_)
        mc.execute_command("SELECT", 0)
        assert mc.execute_command("WAIT", 1, 5000) == 1
    wait_until(lambda: in_sync(mc, midc) and in_sync(midc, leafc), what="the chain in sync after the writes")
    off = mc.info("replication")["master_repl_offset"]
    assert midc.info("replication")["master_repl_offset"] == off
    assert leafc.info("replication")["slave_repl_offset"] == off
    assert digest(mc) == digest(midc) == digest(leafc)


def test_replica_accepted_in_the_round_of_a_client_kill_gets_its_psync_reply(start_server: Start) -> None:
    """A sentinel's promotion runs CLIENT KILL TYPE normal while a sibling replica is connecting
    to the new master. When the kill ran in the same scheduling round as the accept (before the
    connection's task first ran), the client was unregistered but its connection kept being
    served: PING and REPLCONF were answered, but the +CONTINUE of its PSYNC (out-of-band output,
    dropped for a closed client) and the whole stream never went out, so the replica stayed in
    `handshake` for good. A killed connection must close; one the kill missed must be complete.

    Deterministic enough: DEBUG SLEEP stalls the server while the kernel completes the victim's
    connect and the killer's CLIENT KILL arrives, so both are seen by the same epoll wake; Trio
    runs the accept before the kill in about half the attempts."""
    import socket

    m = start_server("--save", "", *FAST)
    mc = m.client()
    r = start_server("--save", "", *FAST, "--replicaof", "127.0.0.1", str(m.port))
    wait_until(lambda: in_sync(mc, r.client()), what="a replica attached (the master keeps a backlog)")

    def connect() -> socket.socket:
        return socket.create_connection(("127.0.0.1", m.port), timeout=3)

    def send(s: socket.socket, *args: bytes) -> None:
        s.sendall(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))

    def reply_line(s: socket.socket) -> bytes | None:
        """One reply line, or None once the server closed the connection."""
        buf = b""
        try:
            while not buf.endswith(b"\r\n"):
                chunk = s.recv(1)
                if not chunk:
                    return None
                buf += chunk
        except ConnectionResetError:
            return None
        return buf

    killed = missed = 0
    for attempt in range(30):
        sleeper, killer = connect(), connect()
        send(killer, b"PING")
        assert reply_line(killer) == b"+PONG\r\n"
        info = mc.info("replication")
        replid, offset = info["master_replid"].encode(), info["master_repl_offset"]
        send(sleeper, b"DEBUG", b"SLEEP", b"0.15")
        time.sleep(0.04)
        victim = connect()  # accepted by the kernel now, by the stalled server after the sleep
        send(killer, b"CLIENT", b"KILL", b"TYPE", b"normal")
        assert (reply_line(killer) or b"").startswith(b":")
        try:
            send(victim, b"REPLCONF", b"capa", b"eof", b"capa", b"psync2")
            ok = reply_line(victim)
            if ok is not None:
                assert ok == b"+OK\r\n"
                send(victim, b"PSYNC", replid, b"%d" % (offset + 1))
                try:
                    head = reply_line(victim)
                except TimeoutError:
                    raise AssertionError(f"attempt {attempt}: no reply to PSYNC (a killed connection still served)") from None
                if head is not None:
                    assert head.startswith(b"+CONTINUE "), head
                    missed += 1
                else:
                    killed += 1
            else:
                killed += 1
        except (BrokenPipeError, ConnectionResetError):
            killed += 1
        for s in (sleeper, killer, victim):
            s.close()
    print(f"victims killed {killed}, accepted after the kill {missed}")
    assert killed + missed == 30 and killed > 0
