"""List commands: behaviour through redis-py, and byte-for-byte replies against stock Redis 7.0.

Stock Redis is the specification, so most edge cases (error texts and their order of checks,
RESP2/RESP3 null shapes, LPOS's odd corners) are scripts replayed on both servers over raw RESP
sockets. This module also holds the small raw-socket helpers (`Raw`, `ReplTap`, `Pair`) that
test_zsets.py and test_blocking.py import.
"""

from __future__ import annotations

import random
import shlex
import socket
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.conftest import ServerProcess, free_port, our_server_argv, stock_server_argv

# --- helpers shared by the list, zset and blocking tests ------------------------------------------


def _reply_end(buf: bytes, pos: int) -> int | None:
    """End offset of the RESP2/RESP3 reply starting at `pos`, or None if incomplete."""
    eol = buf.find(b"\r\n", pos)
    if eol < 0:
        return None
    kind = buf[pos : pos + 1]
    if kind in b"+-:_,#(":
        return eol + 2
    n = int(buf[pos + 1 : eol])
    if kind in b"$=!":
        if n < 0:
            return eol + 2
        end = eol + 2 + n + 2
        return end if len(buf) >= end else None
    if kind in b"*~>%|":
        if n < 0:
            return eol + 2
        count = 2 * n if kind in b"%|" else n
        p: int | None = eol + 2
        for _ in range(count):
            assert p is not None
            p = _reply_end(buf, p)
            if p is None:
                return None
        return p
    raise AssertionError(f"bad RESP type byte {kind!r} in {buf[pos : pos + 40]!r}")


def encode(args: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in args)


def to_args(cmd: str | list[bytes]) -> list[bytes]:
    if isinstance(cmd, str):
        return [a.encode("latin-1") for a in shlex.split(cmd)]
    return cmd


class Raw:
    """A raw RESP connection returning each reply's exact bytes (every read is bounded)."""

    def __init__(self, port: int, resp3: bool = False, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.timeout = timeout
        self.buf = b""
        if resp3:
            assert self("HELLO 3").startswith(b"%")

    def send(self, cmd: str | list[bytes]) -> None:
        self.sock.sendall(encode(to_args(cmd)))

    def read(self, timeout: float | None = None) -> bytes:
        """The next complete reply; raises socket.timeout if none arrives within `timeout`."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            end = _reply_end(self.buf, 0) if self.buf else None
            if end is not None:
                r, self.buf = self.buf[:end], self.buf[end:]
                return r
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no complete reply in time")
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("connection closed")
            self.buf += data

    def nothing_within(self, seconds: float) -> bool:
        """True if no reply arrives within `seconds` (a client that is still blocked)."""
        try:
            r = self.read(seconds)
        except TimeoutError:
            return True
        self.buf = r + self.buf
        return False

    def closed_within(self, seconds: float) -> bool:
        """True if the server closes the connection within `seconds`."""
        self.sock.settimeout(seconds)
        try:
            return self.sock.recv(65536) == b""
        except TimeoutError:
            return False
        except OSError:
            return True

    def __call__(self, cmd: str | list[bytes]) -> bytes:
        self.send(cmd)
        return self.read()

    def close(self) -> None:
        self.sock.close()


def parse_commands(data: bytes) -> tuple[list[list[bytes]], bytes]:
    """Split a replication stream into argv lists; returns (commands, unparsed rest)."""
    out: list[list[bytes]] = []
    pos = 0
    while pos < len(data):
        end = _reply_end(data, pos)
        if end is None:
            break
        chunk = data[pos:end]
        assert chunk[:1] == b"*", chunk[:40]
        lines = chunk.split(b"\r\n")
        n = int(lines[0][1:])
        out.append([lines[2 + 2 * i] for i in range(n)])
        pos = end
    return out, data[pos:]


class ReplTap:
    """A fake replica (PSYNC ? -1): the commands a server propagates after it attached."""

    MARK = b"__repltap_mark__"

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.sock.sendall(encode([b"REPLCONF", b"listening-port", b"1"]))
        buf = self._until(b"\r\n", b"")
        assert buf.startswith(b"+OK\r\n"), buf
        buf = buf[5:]
        self.sock.sendall(encode([b"PSYNC", b"?", b"-1"]))
        buf = self._until(b"\r\n", buf)
        line, buf = buf.split(b"\r\n", 1)
        assert line.startswith(b"+FULLRESYNC"), line
        buf = self._until(b"\r\n", buf)
        line, buf = buf.split(b"\r\n", 1)
        assert line.startswith(b"$") and not line.startswith(b"$EOF:"), line
        size = int(line[1:])
        while len(buf) < size:
            buf += self._recv()
        self.buf = buf[size:]

    def _recv(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("master closed the replication link")
        return data

    def _until(self, marker: bytes, buf: bytes) -> bytes:
        while marker not in buf:
            buf += self._recv()
        return buf

    def commands(self, writer: Raw) -> list[list[bytes]]:
        """Everything propagated so far: `writer` sets a marker key, read up to it (bounded)."""
        assert writer([b"SET", self.MARK, b"1"]) == b"+OK\r\n"
        cmds: list[list[bytes]] = []
        deadline = time.monotonic() + 15
        while True:
            parsed, self.buf = parse_commands(self.buf)
            cmds.extend(parsed)
            if any(c[:2] == [b"SET", self.MARK] for c in cmds):
                break
            assert time.monotonic() < deadline, f"marker not propagated; got {cmds}"
            self.sock.settimeout(max(deadline - time.monotonic(), 0.01))
            self.buf += self._recv()
        keep = []
        for c in cmds:
            name = c[0].upper()
            if name in (b"PING", b"REPLCONF") or c[:2] == [b"SET", self.MARK]:
                continue
            keep.append(c)
        return keep

    def close(self) -> None:
        self.sock.close()


def _start(tmp: Path, stock: bool, *extra: str) -> ServerProcess:
    port = free_port()
    d = tmp / f"{'stock' if stock else 'ours'}-{port}"
    d.mkdir(parents=True, exist_ok=True)
    make = stock_server_argv if stock else our_server_argv
    argv = make(port, "--dir", str(d), "--save", "", "--appendonly", "no", *extra)
    return ServerProcess(argv, port, d, d / "server.log").start()


class Pair:
    """Our server and a stock redis-server, shared by a module's tests (flushed per test)."""

    def __init__(self, ours: ServerProcess, stock: ServerProcess) -> None:
        self.ours = ours
        self.stock = stock
        self._conns: list[Raw] = []

    def conns(self, resp3: bool = False) -> tuple[Raw, Raw]:
        a, b = Raw(self.ours.port, resp3), Raw(self.stock.port, resp3)
        self._conns += [a, b]
        return a, b

    def compare(self, script: str | list[str], resp3: bool = False) -> None:
        """Replay `script` (one command per line, '#' comments) on both servers; replies must be
        byte-identical."""
        lines = script.splitlines() if isinstance(script, str) else script
        ours, stock = self.conns(resp3)
        diffs = []
        for line in lines:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                a, b = ours(line), stock(line)
            except TimeoutError:
                raise AssertionError(f"no reply to {line!r}") from None
            if a != b:
                diffs.append(f"{line!r}\n   ours:  {a[:300]!r}\n   stock: {b[:300]!r}")
        assert not diffs, f"{len(diffs)} replies differ (resp{3 if resp3 else 2}):\n" + "\n".join(diffs)

    def reset(self) -> None:
        for c in self._conns:
            c.close()
        self._conns = []
        for sp in (self.ours, self.stock):
            r = Raw(sp.port)
            assert r("FLUSHALL") == b"+OK\r\n"
            r.close()


@pytest.fixture(scope="module")
def pair_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    import shutil

    if shutil.which("redis-server") is None:
        pytest.skip("stock redis-server is not installed")
    tmp = tmp_path_factory.mktemp("pair")
    ours = _start(tmp, False)
    try:
        stock = _start(tmp, True)
    except BaseException:
        ours.stop()
        raise
    yield ours, stock
    ours.stop()
    stock.stop()


@pytest.fixture
def pair(pair_servers: tuple[ServerProcess, ServerProcess]) -> Iterator[Pair]:
    p = Pair(*pair_servers)
    p.reset()
    yield p
    p.reset()


@pytest.fixture
def ours(pair: Pair) -> Iterator[redis.Redis]:
    """redis-py on our (shared, flushed) server."""
    c = pair.ours.client()
    yield c
    c.close()


# --- behaviour -------------------------------------------------------------------------------------


def test_push_pop_order_and_lengths(ours: redis.Redis) -> None:
    assert ours.lpush("l", "a", "b", "c") == 3
    assert ours.rpush("l", "d", "e") == 5
    assert ours.lrange("l", 0, -1) == [b"c", b"b", b"a", b"d", b"e"]
    assert ours.llen("l") == 5
    assert ours.lpop("l") == b"c"
    assert ours.rpop("l") == b"e"
    assert ours.lpop("l", 2) == [b"b", b"a"]
    assert ours.rpop("l", 5) == [b"d"]
    assert ours.exists("l") == 0  # an emptied list is deleted
    assert ours.lpop("l") is None
    assert ours.lpushx("l", "x") == 0 and ours.rpushx("l", "x") == 0
    assert ours.exists("l") == 0
    ours.rpush("l", "m")
    assert ours.lpushx("l", "a", "b") == 3 and ours.rpushx("l", "z") == 4
    assert ours.lrange("l", 0, -1) == [b"b", b"a", b"m", b"z"]


def test_lrange_matches_python_slicing_model(ours: redis.Redis) -> None:
    rng = random.Random(11)
    items = [b"%d" % i for i in range(300)]
    ours.rpush("big", *items)
    for _ in range(300):
        start, end = rng.randint(-350, 350), rng.randint(-350, 350)
        n = len(items)
        s = start + n if start < 0 else start
        e = end + n if end < 0 else end
        s = max(s, 0)
        expected = [] if s > e or s >= n else items[s : min(e, n - 1) + 1]
        assert ours.lrange("big", start, end) == expected, (start, end)


def test_random_ops_against_a_deque_model(ours: redis.Redis) -> None:
    """Seeded mixes of every in-place list write, checked against collections.deque."""
    rng = random.Random(5)
    model: deque[bytes] = deque()
    for step in range(1500):
        op = rng.choice(["lpush", "rpush", "lpop", "rpop", "lset", "lrem", "ltrim", "linsert", "lmove"])
        v = b"v%d" % rng.randint(0, 6)
        if op == "lpush":
            ours.lpush("k", v)
            model.appendleft(v)
        elif op == "rpush":
            ours.rpush("k", v)
            model.append(v)
        elif op in ("lpop", "rpop"):
            got = getattr(ours, op)("k")
            want = (model.popleft() if op == "lpop" else model.pop()) if model else None
            assert got == want
        elif op == "lset" and model:
            i = rng.randint(-len(model), len(model) - 1)
            ours.lset("k", i, v.decode())
            model[i] = v
        elif op == "lrem":
            cnt = rng.randint(-2, 2)
            items = list(model)
            if cnt >= 0:
                limit, kept, removed = cnt or len(items), [], 0
                for x in items:
                    if removed < limit and x == v:
                        removed += 1
                    else:
                        kept.append(x)
            else:
                limit, kept, removed = -cnt, [], 0
                for x in reversed(items):
                    if removed < limit and x == v:
                        removed += 1
                    else:
                        kept.append(x)
                kept.reverse()
            assert ours.lrem("k", cnt, v.decode()) == removed
            model = deque(kept)
        elif op == "ltrim" and len(model) > 20:
            ours.ltrim("k", 2, -3)
            model = deque(list(model)[2:-2])
        elif op == "linsert" and model:
            pivot = rng.choice(list(model))
            where = rng.choice(["BEFORE", "AFTER"])
            i = list(model).index(pivot)
            assert ours.linsert("k", where, pivot.decode(), v.decode()) == len(model) + 1
            model.insert(i if where == "BEFORE" else i + 1, v)
        elif op == "lmove" and model:
            ours.lmove("k", "k", "LEFT", "RIGHT")
            model.rotate(-1)
        if step % 50 == 0:
            assert ours.lrange("k", 0, -1) == list(model)
    assert ours.lrange("k", 0, -1) == list(model)


def test_lpos_options(ours: redis.Redis) -> None:
    ours.rpush("p", *"abcabcabc")
    assert ours.lpos("p", "a") == 0
    assert ours.lpos("p", "a", rank=2) == 3
    assert ours.lpos("p", "a", rank=-1) == 6
    assert ours.lpos("p", "a", count=0) == [0, 3, 6]
    assert ours.lpos("p", "c", rank=-1, count=2) == [8, 5]
    assert ours.lpos("p", "c", maxlen=3) == 2
    assert ours.lpos("p", "c", rank=2, maxlen=3) is None
    assert ours.lpos("p", "z") is None
    assert ours.lpos("p", "z", count=2) == []


def test_lmove_and_rpoplpush_rotation_and_types(ours: redis.Redis) -> None:
    ours.rpush("src", "1", "2", "3")
    assert ours.lmove("src", "dst", "LEFT", "RIGHT") == b"1"
    assert ours.rpoplpush("src", "dst") == b"3"
    assert ours.lrange("dst", 0, -1) == [b"3", b"1"]
    assert ours.lmove("src", "src", "LEFT", "RIGHT") == b"2"  # single element onto itself
    assert ours.lrange("src", 0, -1) == [b"2"]
    ours.set("str", "x")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        ours.lmove("src", "str", "LEFT", "LEFT")
    assert ours.lrange("src", 0, -1) == [b"2"]  # nothing popped on a wrong-type destination
    assert ours.lmove("missing", "str", "LEFT", "LEFT") is None  # missing source wins


def test_lmpop(ours: redis.Redis) -> None:
    ours.rpush("b", "1", "2", "3")
    assert ours.lmpop(2, "a", "b", direction="RIGHT", count=2) == [b"b", [b"3", b"2"]]
    assert ours.lmpop(2, "a", "b", direction="LEFT") == [b"b", [b"1"]]
    assert ours.lmpop(2, "a", "b", direction="LEFT") is None
    assert ours.exists("b") == 0


def test_noop_writes_are_not_propagated(pair: Pair) -> None:
    """A write that changes nothing does not count as a change: nothing reaches replicas."""
    tap = ReplTap(pair.ours.port)
    w = Raw(pair.ours.port)
    try:
        w("rpush l a b")
        for line in [
            "lrem l 0 zz",
            "linsert l BEFORE zz x",
            "ltrim l 0 -1",
            "lpop nokey",
            "lpushx nokey x",
            "rpop nokey 2",
            "lmove nokey l left left",
            "lmpop 1 nokey left",
            "lpop l 0",
        ]:
            w(line)
        w("ltrim l 1 -1")
        assert tap.commands(w) == [
            [b"SELECT", b"0"],
            [b"rpush", b"l", b"a", b"b"],
            [b"ltrim", b"l", b"1", b"-1"],
        ]
    finally:
        tap.close()
        w.close()


# --- byte-for-byte against stock -------------------------------------------------------------------

SCRIPTS = {
    "push_pop": """
        lpush l a b c
        rpush l d e f
        lrange l 0 -1
        lpushx nokey a
        rpushx nokey a
        lpushx l x
        rpushx l y
        lpop l
        rpop l
        lpop l 2
        rpop l 2
        lpop l 0
        lpop l -1
        lpop l abc
        lpop l 1 2
        lpop nokey
        lpop nokey 3
        rpop nokey 0
        lpop l 100
        exists l
    """,
    "reads": """
        rpush l a b c d e f
        lrange l -100 100
        lrange l 2 1
        lrange l 5 10
        lrange l -2 -1
        lrange l abc 1
        lrange nokey 0 -1
        lrange nokey abc 1
        llen l
        llen nokey
        lindex l 0
        lindex l -1
        lindex l 100
        lindex l -100
        lindex l abc
        lindex nokey abc
    """,
    "wrongtype": """
        set s str
        lpush s a
        rpushx s a
        lpop s
        lpop s 0
        lpop s abc
        llen s
        lrange s 0 1
        lindex s 0
        lset s 0 a
        lrem s 0 a
        ltrim s 0 1
        linsert s before a b
        linsert s middle a b
        lpos s a
        lpos s a rank 0
        lmove s l left left
        rpush l x
        lmove l s left left
        lmpop 1 s left
        blpop s 0
        brpop nokey s 0
        blmpop 0 1 s left
        blmove s d left left 0
        brpoplpush s d 0
    """,
    "lset_lrem_ltrim_linsert": """
        rpush l a b c
        lset l 0 X
        lset l -1 Y
        lset l 100 Z
        lset nokey 0 Z
        lset nokey abc Z
        lset l abc Z
        lrange l 0 -1
        rpush r a b c a b c a b c
        lrem r 2 a
        lrem r -1 b
        lrem r 0 c
        lrem r 0 zz
        lrem r abc a
        lrem nokey 1 a
        lrange r 0 -1
        ltrim r 1 -1
        ltrim r 0 -1
        ltrim r -100 100
        lrange r 0 -1
        ltrim r 5 10
        exists r
        ltrim nokey 0 1
        ltrim nokey a b
        rpush p a b c
        linsert p before b X
        linsert p after c Y
        linsert p AFTER zz Y
        linsert p middle b Y
        linsert nokey before a b
        lrange p 0 -1
    """,
    "lpos": """
        rpush p a b c a b c a b c
        lpos p a
        lpos p a rank 2
        lpos p a rank -1
        lpos p a rank -2
        lpos p a rank 10
        lpos p a count 0
        lpos p a count 2
        lpos p a count 2 rank -1
        lpos p a count 0 rank 2
        lpos p a maxlen 1
        lpos p a maxlen 4 count 0
        lpos p c maxlen 2 rank -1
        lpos p a rank 0
        lpos p a rank -9223372036854775808
        lpos p a rank -9223372036854775808 count 2
        lpos p a rank 9223372036854775807
        lpos p a count -1
        lpos p a count abc
        lpos p a maxlen -1
        lpos p a rank abc
        lpos p a foo
        lpos p a rank
        lpos p a RANK 1 COUNT 1 MAXLEN 0
        lpos p zz
        lpos p zz count 1
        lpos nokey a
        lpos nokey a count 1
        lpos nokey a rank 0
    """,
    "moves": """
        rpush src 1 2 3
        lmove src dst left right
        lmove src dst right left
        lmove src dst LEFT Left
        lmove src dst left up
        lmove src dst up left
        lrange dst 0 -1
        exists src
        lmove src dst left left
        rpoplpush dst dst
        lrange dst 0 -1
        rpoplpush nokey dst
        rpush one x
        rpoplpush one one
        lrange one 0 -1
        lmove nokey s left left
    """,
    "mpop": """
        rpush l a b c d
        lmpop 0 l left
        lmpop -1 l left
        lmpop 2 l left
        lmpop 1 l middle
        lmpop 1 l left count 0
        lmpop 1 l left count -1
        lmpop 1 l left count abc
        lmpop 1 l left count 2 count 3
        lmpop 1 l left count
        lmpop 1 l left foo
        lmpop abc l left
        lmpop 1 nokey left
        lmpop 2 nokey l right count 2
        lmpop 1 l left count 100
        lmpop 1 l left
    """,
    "blocking_args": """
        rpush bl a b c
        blpop l -1
        blpop l abc
        blpop l 0x7FFFFFFFFFFFFF
        blpop l 1e400
        blpop l 1e5000
        blpop l inf
        blpop l nan
        blpop l ' 1'
        blpop l '1 '
        blpop l 1_0
        blpop l ''
        blpop l -0.5
        blpop l 0.001
        brpop l 0x1p-20
        blmpop 0 0 l left
        blmpop 0 1 l left count 0
        blmpop abc 1 l left
        blmpop -1 1 l left
        blmpop 0 1 l middle
        blmove nokey d left middle 0
        blmove nokey d left left abc
        brpoplpush nokey d -1
        blpop nokey bl 0
        brpop bl nokey 0
        blmpop 0 2 nokey bl left count 5
        rpush bl a b c
        blmove bl bl2 right left 0
        brpoplpush bl bl2 0
        lrange bl2 0 -1
        blpop bl bl 0
        blmpop 0.01 1 nokey left
        blmove nokey d left left 0.01
        brpoplpush nokey d 0.01
    """,
    "in_multi": """
        multi
        blpop empty 0
        brpop empty 0
        blmove empty x left left 0
        brpoplpush empty x 0
        blmpop 0 1 empty left
        rpush full a b c
        blpop full 0
        blmove full x left left 0
        blmpop 0 1 full right count 5
        exec
    """,
}


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_replies_match_stock(pair: Pair, name: str, resp3: bool) -> None:
    pair.compare(SCRIPTS[name], resp3)


def test_random_streams_match_stock(pair: Pair) -> None:
    """Seeded random list commands over three keys (one sometimes a string): identical replies."""
    rng = random.Random(2024)
    keys = ["a", "b", "c"]
    lines = []
    for _ in range(600):
        k, k2 = rng.choice(keys), rng.choice(keys)
        v = rng.choice(["x", "y", "z", "1"])
        i, j = rng.randint(-6, 6), rng.randint(-6, 6)
        lines.append(
            rng.choice(
                [
                    f"lpush {k} {v} {v}x",
                    f"rpush {k} {v}",
                    f"lpushx {k} {v}",
                    f"lpop {k}",
                    f"rpop {k} {abs(i)}",
                    f"lrange {k} {i} {j}",
                    f"lindex {k} {i}",
                    f"lset {k} {i} {v}",
                    f"lrem {k} {i} {v}",
                    f"ltrim {k} {i} {j}",
                    f"linsert {k} {rng.choice(['before', 'after'])} {v} q",
                    f"lpos {k} {v} rank {i or 1} count {abs(j)}",
                    f"lmove {k} {k2} {rng.choice(['left', 'right'])} {rng.choice(['left', 'right'])}",
                    f"rpoplpush {k} {k2}",
                    f"lmpop 2 {k} {k2} {rng.choice(['left', 'right'])} count {abs(i) + 1}",
                    f"blpop {k} {k2} 0.01",
                    f"llen {k}",
                    f"set {k} str" if rng.random() < 0.1 else f"del {k}",
                ]
            )
        )
    pair.compare(lines)
    pair.compare(lines, resp3=True)


def test_propagation_matches_stock(pair: Pair) -> None:
    """What reaches replicas: LMPOP/BLMPOP as [LR]POP key n, BLMOVE as LMOVE, no-ops dropped."""
    script = [
        "rpush l a b c d e f g h",
        "blpop l 0",
        "brpop l 0",
        "blmove l d left right 0",
        "brpoplpush l d 0",
        "blmpop 0 1 l left count 2",
        "lmpop 1 l right count 10",
        "lpop nokey 3",
        "rpush l x",
        "lrem l 0 nomatch",
        "linsert l before nomatch y",
        "ltrim l 0 -1",
        "ltrim l 5 10",
        "lpushx nokey a",
        "multi",
        "rpush m 1 2",
        "blpop m 0",
        "exec",
    ]
    streams = []
    for sp in (pair.ours, pair.stock):
        tap = ReplTap(sp.port)
        w = Raw(sp.port)
        for line in script:
            w(line)
        streams.append(tap.commands(w))
        tap.close()
        w.close()
    ours, stock = streams
    assert ours == stock
    assert [b"LMOVE", b"l", b"d", b"left", b"right"] in ours
    assert [b"LPOP", b"l", b"2"] in ours and [b"RPOP", b"l", b"2"] in ours
