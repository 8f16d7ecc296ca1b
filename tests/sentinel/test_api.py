"""The sentinel's RESP API against a running `python -m sentinel` monitoring our server (one replica).

redis-py with RESP2 and RESP3, raw sockets for exact bytes, and redis-cli. One sentinel per module
(fixtures below); tests that change state put it back.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis

from tests.conftest import ServerProcess, free_port, our_server_argv
from tests.sentinel.test_sentinel_e2e_basic import (
    FAST,
    SentinelProcess,
    link_up,
    sentinel_conf,
    smaster,
    wait_until,
)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    base = tmp_path_factory.mktemp("servers")
    procs: list[ServerProcess] = []
    mport = free_port()
    m = ServerProcess(our_server_argv(mport, "--dir", str(base), *FAST), mport, base, base / "m.log")
    procs.append(m.start())
    rport = free_port()
    rdir = base / "r"
    rdir.mkdir()
    r = ServerProcess(
        our_server_argv(rport, "--dir", str(rdir), *FAST, "--replicaof", "127.0.0.1", str(mport)), rport, rdir, rdir / "r.log"
    )
    procs.append(r.start())
    rc = r.client()
    wait_until(lambda: link_up(rc), what="replica up")
    yield m, r
    for p in procs:
        p.stop()


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory: pytest.TempPathFactory, servers: tuple[ServerProcess, ServerProcess]) -> Iterator[SentinelProcess]:
    m, _r = servers
    d = tmp_path_factory.mktemp("sentinel")
    port = free_port()
    s = SentinelProcess(d, port, sentinel_conf(port, d, m.port, quorum=1, down_after=5000))
    s.start()
    c = s.client()
    wait_until(lambda: smaster(c)["num-slaves"] == 1, what="replica discovered")
    wait_until(lambda: "disconnected" not in smaster(c)["flags"], what="links up")
    yield s
    s.stop()


def raw(port: int, *commands: list[str], wait: float = 0.3) -> bytes:
    """Send commands pipelined on one socket, return everything read within `wait` seconds."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        out = b""
        for argv in commands:
            out += b"*%d\r\n" % len(argv)
            for a in argv:
                b = a.encode()
                out += b"$%d\r\n%s\r\n" % (len(b), b)
        sock.sendall(out)
        sock.settimeout(wait)
        data = b""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            data += chunk
        return data


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def client(request: pytest.FixtureRequest, sentinel: SentinelProcess) -> Iterator[redis.Redis]:
    c = sentinel.client(protocol=request.param)
    yield c
    c.close()


# --- SENTINEL queries ----------------------------------------------------------------------


def test_masters_and_master(client: redis.Redis, servers: tuple[ServerProcess, ServerProcess]) -> None:
    m, _ = servers
    masters = cast(dict[str, Any], client.sentinel_masters())
    assert set(masters) == {"mymaster"}
    info = masters["mymaster"]
    assert info["ip"] == "127.0.0.1" and info["port"] == m.port
    assert info["is_master"] and not info["is_sdown"] and not info["is_odown"]
    assert "disconnected" not in str(info["flags"])
    assert info["num-other-sentinels"] == 0 and info["num-slaves"] == 1 and info["quorum"] == 1
    assert len(info["runid"]) == 40
    one = smaster(client)
    assert one["port"] == m.port and one["flags"] in ("master", {"master"})
    with pytest.raises(redis.ResponseError, match="No such master with that name"):
        client.sentinel_master("nope")


def test_stock_field_order_resp2(sentinel: SentinelProcess) -> None:
    """Test 11 of the stock suite reads num-other-sentinels at index 33 of the flat reply."""
    reply = raw(sentinel.port, ["SENTINEL", "MASTER", "mymaster"])
    assert reply.startswith(b"*")  # RESP2: a flat array of pairs
    c = sentinel.client(protocol=2)
    c.set_response_callback("SENTINEL", lambda r, **kw: r)
    items = c.execute_command("SENTINEL", "MASTER", "mymaster")
    assert items[32] == "num-other-sentinels"
    assert items[:10:2] == ["name", "ip", "port", "runid", "flags"]


def test_map_replies_in_resp3(sentinel: SentinelProcess) -> None:
    data = raw(sentinel.port, ["HELLO", "3"], ["SENTINEL", "MASTER", "mymaster"], ["SENTINEL", "MASTERS"], ["SENTINEL", "DEBUG"])
    hello_end = data.index(b"%", 1)
    rest = data[hello_end:]
    assert rest.startswith(b"%")  # MASTER is a map
    assert b"*1\r\n%" in rest  # MASTERS an array of maps
    assert b"%20\r\n$11\r\nINFO-PERIOD\r\n$5\r\n10000\r\n" in rest  # DEBUG: a map, stock names first


def test_replicas_and_sentinels(client: redis.Redis, servers: tuple[ServerProcess, ServerProcess]) -> None:
    _, r = servers
    replicas = client.sentinel_slaves("mymaster")
    assert [(x["ip"], x["port"]) for x in replicas] == [("127.0.0.1", r.port)]
    assert replicas[0]["is_slave"]
    assert client.execute_command("SENTINEL", "REPLICAS", "mymaster")
    assert client.sentinel_sentinels("mymaster") == []
    with pytest.raises(redis.ResponseError, match="No such master"):
        client.sentinel_slaves("nope")


def test_get_master_addr_by_name(client: redis.Redis, servers: tuple[ServerProcess, ServerProcess]) -> None:
    m, _ = servers
    assert client.sentinel_get_master_addr_by_name("mymaster") == ("127.0.0.1", m.port)
    assert client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "nope") is None


def test_null_array_bytes(sentinel: SentinelProcess) -> None:
    assert raw(sentinel.port, ["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "nope"]) == b"*-1\r\n"
    assert raw(sentinel.port, ["HELLO", "3"], ["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "nope"]).endswith(b"_\r\n")


def test_ckquorum_myid_info_cache_pending(client: redis.Redis, sentinel: SentinelProcess) -> None:
    assert client.execute_command("SENTINEL", "CKQUORUM", "mymaster").startswith(
        "OK 1 usable Sentinels. Quorum and failover authorization can be reached"
    )
    myid = client.execute_command("SENTINEL", "MYID")
    assert len(myid) == 40 and int(myid, 16) >= 0
    cache = client.execute_command("SENTINEL", "INFO-CACHE", "mymaster", "nope")
    assert cache[0] == "mymaster" and len(cache) == 2
    entries = cache[1]
    assert len(entries) == 2 and all(isinstance(age, int) for age, _ in entries)
    assert "role:master" in entries[0][1]
    assert client.execute_command("SENTINEL", "PENDING-SCRIPTS") == []
    assert client.execute_command("SENTINEL", "SIMULATE-FAILURE", "HELP") == [
        "crash-after-election",
        "crash-after-promotion",
    ]


def test_is_master_down_by_addr(sentinel: SentinelProcess, servers: tuple[ServerProcess, ServerProcess]) -> None:
    m, _ = servers
    c = sentinel.client(protocol=2)
    assert c.execute_command("SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "127.0.0.1", str(m.port), "0", "*") == [0, "*", 0]
    with pytest.raises(redis.ResponseError, match="value is not an integer or out of range"):
        c.execute_command("SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "127.0.0.1", "x", "0", "*")
    assert raw(sentinel.port, ["SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "10.9.9.9", "1", "0", "*"]) == (
        b"*3\r\n:0\r\n$1\r\n*\r\n:0\r\n"
    )


def test_debug_and_config(client: redis.Redis) -> None:
    debug = client.execute_command("SENTINEL", "DEBUG")
    pairs = list(debug.items()) if isinstance(debug, dict) else list(zip(debug[::2], debug[1::2], strict=True))
    assert pairs[0] == ("INFO-PERIOD", "10000") or pairs[0] == ("INFO-PERIOD", 10000)
    assert client.execute_command("SENTINEL", "DEBUG", "info-period", "9000") in (b"OK", "OK", True)
    client.execute_command("SENTINEL", "DEBUG", "info-period", "10000")
    with pytest.raises(redis.ResponseError, match="Unknown option or number of arguments for SENTINEL DEBUG 'foo'"):
        client.execute_command("SENTINEL", "DEBUG", "foo", "1")
    got = client.execute_command("SENTINEL", "CONFIG", "GET", "announce-*")
    flat = list(got.items()) if isinstance(got, dict) else list(zip(got[::2], got[1::2], strict=True))
    assert dict(flat) == {"announce-hostnames": "no", "announce-ip": "", "announce-port": "0"}
    client.execute_command("SENTINEL", "CONFIG", "SET", "loglevel", "verbose")
    assert "verbose" in str(client.execute_command("SENTINEL", "CONFIG", "GET", "loglevel"))
    client.execute_command("SENTINEL", "CONFIG", "SET", "loglevel", "notice")
    with pytest.raises(redis.ResponseError, match="Only SENTINEL CONFIG GET"):
        client.execute_command("SENTINEL", "CONFIG", "FOO", "x")


def test_set_flushconfig_and_state_file(
    client: redis.Redis, sentinel: SentinelProcess, servers: tuple[ServerProcess, ServerProcess]
) -> None:
    m, _ = servers
    assert client.sentinel_set("mymaster", "down-after-milliseconds", 4000)
    assert smaster(client)["down-after-milliseconds"] == 4000
    assert client.sentinel_flushconfig()
    assert '"down_after": 4000' in sentinel.state_path.read_text()
    client.sentinel_set("mymaster", "down-after-milliseconds", 5000)
    with pytest.raises(redis.ResponseError, match="Invalid argument '-20' for SENTINEL SET 'quorum'"):
        client.sentinel_set("mymaster", "quorum", -20)
    with pytest.raises(redis.ResponseError, match="Reconfiguration of scripts path is denied"):
        client.sentinel_set("mymaster", "notification-script", "/bin/true")
    assert sentinel.conf_path.read_text() == sentinel_conf(sentinel.port, sentinel.dir, m.port, quorum=1, down_after=5000)


def test_monitor_remove_reset(client: redis.Redis, servers: tuple[ServerProcess, ServerProcess]) -> None:
    _, r = servers
    assert client.sentinel_monitor("other", "127.0.0.1", r.port, 1)
    with pytest.raises(redis.ResponseError, match=r"Duplicate master name\."):
        client.sentinel_monitor("other", "127.0.0.1", r.port, 1)
    with pytest.raises(redis.ResponseError, match="Invalid quorum"):
        client.execute_command("SENTINEL", "MONITOR", "x", "127.0.0.1", "1", "q")
    assert set(client.sentinel_masters()) == {"mymaster", "other"}
    assert client.execute_command("SENTINEL", "RESET", "oth*") == 1
    assert client.sentinel_remove("other")
    assert set(client.sentinel_masters()) == {"mymaster"}
    with pytest.raises(redis.ResponseError, match="No such master with that name"):
        client.sentinel_remove("other")


def test_failover_without_good_replica(client: redis.Redis) -> None:
    """The replica's master link is fine, but the master is healthy: FAILOVER is accepted only if a
    replica is eligible; this checks the error path with a master that has none."""
    client.sentinel_monitor("lonely", "127.0.0.1", 1, 1)
    try:
        with pytest.raises(redis.ResponseError, match="NOGOODSLAVE No suitable replica to promote"):
            client.execute_command("SENTINEL", "FAILOVER", "lonely")
    finally:
        client.sentinel_remove("lonely")


# --- the rest of the command table ---------------------------------------------------------


def test_ping_role_info(client: redis.Redis) -> None:
    assert client.ping()
    assert raw(int(client.connection_pool.connection_kwargs["port"]), ["PING", "hi"]) == b"$2\r\nhi\r\n"
    assert client.execute_command("ROLE") == ["sentinel", ["mymaster"]]
    info = client.info()
    assert info["redis_mode"] == "sentinel" and info["sentinel_masters"] == 1
    assert "used_cpu_user" in info and "maxclients" in info and "redis_version" in info
    assert "used_memory" not in info and "master_repl_offset" not in info
    text = raw(int(client.connection_pool.connection_kwargs["port"]), ["INFO", "sentinel"]).decode()
    assert text.startswith("$") and "\r\n# Sentinel\r\nsentinel_masters:1\r\n" in text
    assert "master0:name=mymaster,status=ok,address=127.0.0.1:" in text


def test_info_is_a_plain_bulk_in_resp3(sentinel: SentinelProcess) -> None:
    data = raw(sentinel.port, ["HELLO", "3"], ["INFO", "server"])
    tail = data[data.index(b"# Server") - 10 :]
    assert b"$" in tail[:10] and b"=" not in tail[:10]


def test_hello(sentinel: SentinelProcess) -> None:
    c = sentinel.client(protocol=3)
    hello = c.execute_command("HELLO", "3")
    assert hello["server"] == "redis" and hello["proto"] == 3 and hello["mode"] == "sentinel"
    assert "role" not in hello and hello["modules"] == []
    assert len(hello) == 6
    data = raw(sentinel.port, ["HELLO", "4"], ["HELLO", "x"], ["HELLO", "3", "FOO"], ["HELLO", "2", "SETNAME", "bob"], ["CLIENT", "GETNAME"])
    assert data.startswith(
        b"-NOPROTO unsupported protocol version\r\n"
        b"-ERR Protocol version is not an integer or out of range\r\n"
        b"-ERR Syntax error in HELLO option 'FOO'\r\n*12\r\n"
    )
    assert data.endswith(b"$3\r\nbob\r\n")


def test_errors_like_stock(sentinel: SentinelProcess) -> None:
    data = raw(
        sentinel.port,
        ["FOO", "a", "b"],
        ["SENTINEL", "FOO"],
        ["SENTINEL", "MASTERS", "x"],
        ["CLIENT", "NO-TOUCH", "on"],
        ["PUBLISH", "foo", "bar"],
        ["SAVE"],
        ["PING", "a", "b"],
        ["SENTINEL"],
        ["AUTH", "x"],
        ["SHUTDOWN", "ABORT"],
    )
    assert data == (
        b"-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n"
        b"-ERR unknown subcommand 'FOO'. Try SENTINEL HELP.\r\n"
        b"-ERR wrong number of arguments for 'sentinel|masters' command\r\n"
        b"-ERR unknown subcommand 'NO-TOUCH'. Try CLIENT HELP.\r\n"
        b"-ERR Only HELLO messages are accepted by Sentinel instances.\r\n"
        b"-ERR unknown command 'SAVE', with args beginning with: \r\n"
        b"-ERR wrong number of arguments for 'ping' command\r\n"
        b"-ERR wrong number of arguments for 'sentinel' command\r\n"
        b"-ERR AUTH <password> called without any password configured for the default user. "
        b"Are you sure your configuration is correct?\r\n"
        b"-ERR No shutdown in progress.\r\n"
    )


def test_hello_publish_is_accepted(client: redis.Redis) -> None:
    # A hello for an unknown master is ignored by the core, but always answered 1.
    assert client.execute_command("PUBLISH", "__sentinel__:hello", "1.2.3.4,1,x,0,nope,1.2.3.4,1,0") == 1


def test_client_commands(sentinel: SentinelProcess) -> None:
    c = sentinel.client(protocol=2)
    assert c.client_setname("me")
    assert c.client_getname() == "me"
    cid = c.client_id()
    assert isinstance(cid, int)
    line = c.execute_command("CLIENT", "INFO")
    assert f"id={cid} " in line and " name=me " in line and " resp=2" in line
    listed = c.client_list()
    assert any(x["name"] == "me" for x in listed)
    assert c.execute_command("CLIENT", "SETINFO", "lib-name", "mylib")
    other = sentinel.client(protocol=3)
    other.client_setname("victim")
    other_id = other.client_id()
    assert c.client_kill_filter(_id=str(other_id)) == 1
    assert not any(x["name"] == "victim" for x in c.client_list())
    with pytest.raises(redis.ResponseError, match="Client names cannot contain spaces"):
        c.client_setname("a b")
    assert c.execute_command("CLIENT", "HELP")[0].startswith("CLIENT <subcommand>")


def test_command_table(sentinel: SentinelProcess) -> None:
    assert raw(sentinel.port, ["COMMAND", "COUNT"]) == b":14\r\n"
    info = raw(sentinel.port, ["COMMAND", "INFO", "ping", "nope"])
    assert info == (
        b"*2\r\n*10\r\n$4\r\nping\r\n:-1\r\n*1\r\n+fast\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@fast\r\n"
        b"+@connection\r\n*0\r\n*0\r\n*0\r\n*-1\r\n"
    )
    names = raw(sentinel.port, ["COMMAND", "LIST"])
    assert b"\r\nsentinel|get-master-addr-by-name\r\n" in names and b"\r\nclient|setinfo\r\n" in names
    assert b"\r\nsave\r\n" not in names
    docs = raw(sentinel.port, ["COMMAND", "DOCS", "ping"])
    assert docs.startswith(b"*2\r\n$4\r\nping\r\n*6\r\n$7\r\nsummary\r\n")
    assert raw(sentinel.port, ["COMMAND"]).startswith(b"*14\r\n*10\r\n")


def test_pubsub_events_resp3_and_resp2(sentinel: SentinelProcess) -> None:
    admin = sentinel.client()
    subs = []
    clients = []  # keep them: a collected Redis closes its pool, pub/sub connection included
    for proto in (2, 3):
        c = sentinel.client(protocol=proto)
        clients.append(c)
        p = c.pubsub()
        p.subscribe("+set")
        p.psubscribe("*")
        for _ in range(2):
            msg = p.get_message(timeout=5)
            assert msg is not None and msg["type"] in ("subscribe", "psubscribe")
        subs.append(p)
    admin.sentinel_set("mymaster", "quorum", 1)
    for p in subs:
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + 5
        while len(got) < 2 and time.monotonic() < deadline:
            msg = p.get_message(timeout=1)
            if msg and msg["type"] in ("message", "pmessage") and msg["channel"] == "+set":
                got.append(msg)
        assert {m["type"] for m in got} == {"message", "pmessage"}
        port = smaster(sentinel.client())["port"]
        assert got[0]["data"] == f"master mymaster 127.0.0.1 {port} quorum 1"
        p.close()


def test_resp2_subscribed_context(sentinel: SentinelProcess) -> None:
    data = raw(sentinel.port, ["SUBSCRIBE", "a"], ["PING"], ["INFO"], ["UNSUBSCRIBE"], ["PING"])
    assert data == (
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"
        b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"
        b"-ERR Can't execute 'info': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"
        b"*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n"
        b"+PONG\r\n"
    )


@pytest.mark.skipif(shutil.which("redis-cli") is None, reason="redis-cli is not installed")
def test_redis_cli(sentinel: SentinelProcess) -> None:
    def cli(*args: str) -> str:
        p = subprocess.run(["redis-cli", "-p", str(sentinel.port), *args], capture_output=True, timeout=10, text=True)
        assert p.returncode == 0, p.stderr
        return p.stdout

    assert cli("PING") == "PONG\n"
    assert "mymaster" in cli("SENTINEL", "MASTERS")
    assert cli("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster").startswith("127.0.0.1\n")
    assert "mode sentinel" in cli("-3", "HELLO", "3")
    assert "sentinel_masters:1" in cli("INFO")
    # Interactive mode fetches COMMAND DOCS first; it must not choke on ours.
    p = subprocess.run(["redis-cli", "-p", str(sentinel.port)], input="PING\nROLE\n", capture_output=True, timeout=10, text=True)
    assert "PONG" in p.stdout and "sentinel" in p.stdout


# --- requirepass, SHUTDOWN, restart --------------------------------------------------------


def test_requirepass_and_shutdown(tmp_path: Path, servers: tuple[ServerProcess, ServerProcess]) -> None:
    m, _ = servers
    port = free_port()
    s = SentinelProcess(tmp_path, port, sentinel_conf(port, tmp_path, m.port, quorum=1, extra="requirepass s3cret\n"))
    s.start()
    try:
        data = raw(port, ["PING"], ["SENTINEL", "MASTERS"], ["FOO"], ["HELLO", "3"], ["AUTH", "bad"], ["AUTH", "s3cret"], ["PING"])
        assert data.startswith(b"-NOAUTH Authentication required.\r\n-NOAUTH Authentication required.\r\n-ERR unknown command 'FOO'")
        assert b"-NOAUTH HELLO must be called with the client already authenticated" in data
        assert data.endswith(b"-WRONGPASS invalid username-password pair or user is disabled.\r\n+OK\r\n+PONG\r\n")
        c3 = s.client(protocol=3, password="s3cret")
        assert smaster(c3)["port"] == m.port
        myid = c3.execute_command("SENTINEL", "MYID")
        with pytest.raises(redis.AuthenticationError):
            s.client(protocol=3, password="wrong").ping()
        # SHUTDOWN: no reply, exit 0; a restart keeps the same id (state file).
        c3.shutdown()  # redis-py treats the closed connection as success
        assert s.proc is not None
        assert s.proc.wait(timeout=10) == 0
        s.start()
        assert s.client(password="s3cret").execute_command("SENTINEL", "MYID") == myid
        assert s.stop() == 0  # SIGTERM: clean exit
    finally:
        s.stop()


def test_hasentinel_cli_runs_a_sentinel(tmp_path: Path, servers: tuple[ServerProcess, ServerProcess]) -> None:
    m, _ = servers
    port = free_port()
    conf = tmp_path / "s.conf"
    conf.write_text(sentinel_conf(1, tmp_path, m.port, quorum=1))  # port overridden below
    exe = Path(sys.executable).parent / "hasentinel"
    argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "sentinel.cli.app"]
    p = subprocess.Popen([*argv, "sentinel", str(conf), "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        c = redis.Redis(port=port, decode_responses=True, socket_timeout=5)
        wait_until(lambda: c.ping(), what="hasentinel sentinel listening")
        assert smaster(c)["port"] == m.port
        assert (tmp_path / "s.conf.state.json").exists()
    finally:
        p.terminate()
        assert p.wait(timeout=10) == 0


def test_simulate_failure_exits_99(tmp_path: Path, servers: tuple[ServerProcess, ServerProcess]) -> None:
    """crash-after-election + a forced FAILOVER: the process exits with 99 before promoting."""
    m, r = servers
    port = free_port()
    s = SentinelProcess(tmp_path, port, sentinel_conf(port, tmp_path, m.port, quorum=1))
    s.start()
    try:
        c = s.client()
        wait_until(lambda: smaster(c)["num-slaves"] == 1, what="replica discovered")
        wait_until(lambda: c.sentinel_slaves("mymaster")[0]["master-link-status"] == "ok", what="replica INFO")
        assert c.execute_command("SENTINEL", "SIMULATE-FAILURE", "crash-after-election") == "OK"
        assert "sentinel_simulate_failure_flags:1" in raw(port, ["INFO", "sentinel"]).decode()
        try:
            c.execute_command("SENTINEL", "FAILOVER", "mymaster")
        except redis.ConnectionError:
            pass  # the reply may not make it out before the exit
        assert s.proc is not None
        assert s.proc.wait(timeout=10) == 99
        assert '"+elected-leader"' in s.log() and "simulated failure" in s.log()
        assert r.client().info("replication")["role"] == "slave"
    finally:
        s.stop()
