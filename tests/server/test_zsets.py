"""Sorted-set commands: behaviour through redis-py, and byte-for-byte replies against stock Redis.

Score parsing (three different parsers in Redis), %.17g score formatting, RESP3 pair shapes and
the order of Redis's checks are all pinned by replaying scripts on both servers.
"""

from __future__ import annotations

import math
import random

import pytest
import redis

from tests.server.test_lists import Pair, Raw, ReplTap, ours, pair, pair_servers  # noqa: F401

# --- behaviour -------------------------------------------------------------------------------------


def test_zadd_options(ours: redis.Redis) -> None:  # noqa: F811
    assert ours.zadd("z", {"a": 1, "b": 2}) == 2
    assert ours.zadd("z", {"a": 5}, nx=True) == 0 and ours.zscore("z", "a") == 1.0
    assert ours.zadd("z", {"c": 5}, xx=True) == 0 and ours.zscore("z", "c") is None
    assert ours.zadd("z", {"a": 0, "b": 3}, gt=True, ch=True) == 1
    assert ours.zrange("z", 0, -1, withscores=True) == [(b"a", 1.0), (b"b", 3.0)]
    assert ours.zadd("z", {"a": 0, "b": 9}, lt=True, ch=True) == 1
    assert ours.zrange("z", 0, -1, withscores=True) == [(b"a", 0.0), (b"b", 3.0)]
    assert ours.zadd("z", {"a": 2}, incr=True) == 2.0
    assert ours.zadd("z", {"a": -5}, incr=True, gt=True) is None
    assert ours.zadd("z", {"new": 1}, incr=True, xx=True) is None
    assert ours.zincrby("z", 0.5, "a") == 2.5
    with pytest.raises(redis.ResponseError, match="not compatible"):
        ours.execute_command("ZADD", "z", "NX", "XX", "1", "a")
    ours.zadd("z", {"i": math.inf})
    with pytest.raises(redis.ResponseError, match="resulting score is not a number"):
        ours.zincrby("z", -math.inf, "i")
    assert ours.zscore("z", "i") == math.inf


def test_scores_are_formatted_with_17_significant_digits(ours: redis.Redis) -> None:  # noqa: F811
    ours.zadd("z", {"a": 1.1, "b": 0.1, "c": 3, "d": 1e20, "e": -math.inf})
    r = Raw(ours.connection_pool.connection_kwargs["port"])
    try:
        assert r("ZSCORE z a") == b"$18\r\n1.1000000000000001\r\n"
        assert r("ZSCORE z b") == b"$19\r\n0.10000000000000001\r\n"
        assert r("ZSCORE z c") == b"$1\r\n3\r\n"
        assert r("ZSCORE z d") == b"$5\r\n1e+20\r\n"
        assert r("ZSCORE z e") == b"$4\r\n-inf\r\n"
        assert r("HELLO 3").startswith(b"%")
        assert r("ZSCORE z a") == b",1.1000000000000001\r\n"
        assert r("ZRANGE z 0 0 WITHSCORES") == b"*1\r\n*2\r\n$1\r\ne\r\n,-inf\r\n"
    finally:
        r.close()


def test_ranges_against_a_sorted_model(ours: redis.Redis) -> None:  # noqa: F811
    rng = random.Random(3)
    members = {f"m{i:03d}": float(rng.randint(-20, 20)) / 2 for i in range(300)}
    ours.zadd("z", members)
    model = sorted((s, m.encode()) for m, s in members.items())
    for _ in range(200):
        lo, hi = sorted(rng.uniform(-12, 12) for _ in range(2))
        lo = round(lo * 2) / 2
        hi = round(hi * 2) / 2
        minex, maxex = rng.random() < 0.5, rng.random() < 0.5
        want = [
            m for s, m in model if (s > lo if minex else s >= lo) and (s < hi if maxex else s <= hi)
        ]
        bmin = f"({lo}" if minex else str(lo)
        bmax = f"({hi}" if maxex else str(hi)
        assert ours.zrangebyscore("z", bmin, bmax) == want
        assert ours.zcount("z", bmin, bmax) == len(want)
        assert ours.zrevrangebyscore("z", bmax, bmin) == want[::-1]
        off, cnt = rng.randint(0, 10), rng.randint(-1, 10)
        limited = want[off:] if cnt < 0 else want[off : off + cnt]
        assert ours.zrangebyscore("z", bmin, bmax, start=off, num=cnt) == limited
    for m, (_s, name) in enumerate(model):
        if m % 37 == 0:
            assert ours.zrank("z", name) == m
            assert ours.zrevrank("z", name) == len(model) - 1 - m


def test_zrandmember_shapes_and_uniqueness(ours: redis.Redis) -> None:  # noqa: F811
    ours.zadd("z", {f"m{i}": i for i in range(50)})
    assert ours.zrandmember("z") in {f"m{i}".encode() for i in range(50)}
    picks = ours.execute_command("ZRANDMEMBER", "z", 20)
    assert len(picks) == 20 and len(set(picks)) == 20
    rep = ours.execute_command("ZRANDMEMBER", "z", -200)
    assert len(rep) == 200 and len(set(rep)) <= 50
    # count >= size: the whole zset, highest score first (as Redis 7.0 does)
    assert ours.zrandmember("z", 80) == [f"m{i}".encode() for i in reversed(range(50))]
    with_scores = ours.execute_command("ZRANDMEMBER", "z", 5, "WITHSCORES")  # pairs, via redis-py
    assert len(with_scores) == 5 and len({m for m, _ in with_scores}) == 5
    for m, s in with_scores:
        assert float(s) == float(m[1:])


def test_zscan_returns_every_member_with_its_score(ours: redis.Redis) -> None:  # noqa: F811
    ours.zadd("small", {"a": 1.5, "b": 2})
    assert dict(ours.zscan_iter("small")) == {b"a": 1.5, b"b": 2.0}
    big = {f"m{i}": i + 0.25 for i in range(1000)}
    ours.zadd("big", big)
    got = dict(ours.zscan_iter("big", count=37))
    assert got == {k.encode(): v for k, v in big.items()}
    assert dict(ours.zscan_iter("big", match="m99*")) == {
        k.encode(): v for k, v in big.items() if k.startswith("m99")
    }


def test_store_commands_replace_destination_and_drop_ttl(ours: redis.Redis) -> None:  # noqa: F811
    ours.zadd("a", {"x": 1, "y": 2})
    ours.set("dst", "string")
    ours.expire("dst", 100)
    assert ours.zunionstore("dst", ["a"]) == 2
    assert ours.type("dst") == b"zset" and ours.ttl("dst") == -1
    assert ours.zinterstore("dst", ["a", "missing"]) == 0
    assert ours.exists("dst") == 0  # an empty result deletes the destination
    ours.sadd("s", "x", "q")
    assert ours.zunion(["a", "s"], withscores=True) == [(b"q", 1.0), (b"x", 2.0), (b"y", 2.0)]
    assert ours.zrangestore("dst", "a", 1, 2, byscore=True) == 2
    assert ours.zrange("dst", 0, -1, withscores=True) == [(b"x", 1.0), (b"y", 2.0)]


# --- byte-for-byte against stock -------------------------------------------------------------------

SCRIPTS = {
    "negative_zero": """
        zadd small -0 a 1 b
        zscore small a
        zadd small incr -0.0 c
        zscore small c
        zincrby small -0 d
        zadd big 1 m1 2 m2 3 m3 4 m4 5 m5 6 m6 7 m7 8 m8 9 m9 10 m10 11 m11 12 m12 13 m13 14 m14 15 m15 16 m16 17 m17 18 m18 19 m19 20 m20 21 m21 22 m22 23 m23 24 m24 25 m25 26 m26 27 m27 28 m28 29 m29 30 m30 31 m31 32 m32 33 m33 34 m34 35 m35 36 m36 37 m37 38 m38 39 m39 40 m40 41 m41 42 m42 43 m43 44 m44 45 m45 46 m46 47 m47 48 m48 49 m49 50 m50 51 m51 52 m52 53 m53 54 m54 55 m55 56 m56 57 m57 58 m58 59 m59 60 m60 61 m61 62 m62 63 m63 64 m64 65 m65 66 m66 67 m67 68 m68 69 m69 70 m70 71 m71 72 m72 73 m73 74 m74 75 m75 76 m76 77 m77 78 m78 79 m79 80 m80 81 m81 82 m82 83 m83 84 m84 85 m85 86 m86 87 m87 88 m88 89 m89 90 m90 91 m91 92 m92 93 m93 94 m94 95 m95 96 m96 97 m97 98 m98 99 m99 100 m100 101 m101 102 m102 103 m103 104 m104 105 m105 106 m106 107 m107 108 m108 109 m109 110 m110 111 m111 112 m112 113 m113 114 m114 115 m115 116 m116 117 m117 118 m118 119 m119 120 m120 121 m121 122 m122 123 m123 124 m124 125 m125 126 m126 127 m127 128 m128 129 m129
        zadd big -0 z
        zscore big z
        zadd big 5 z
        zadd big -0.0 z
        zscore big z
        zadd new1 -0 x 1 n1 2 n2 3 n3 4 n4 5 n5 6 n6 7 n7 8 n8 9 n9 10 n10 11 n11 12 n12 13 n13 14 n14 15 n15 16 n16 17 n17 18 n18 19 n19 20 n20 21 n21 22 n22 23 n23 24 n24 25 n25 26 n26 27 n27 28 n28 29 n29 30 n30 31 n31 32 n32 33 n33 34 n34 35 n35 36 n36 37 n37 38 n38 39 n39 40 n40 41 n41 42 n42 43 n43 44 n44 45 n45 46 n46 47 n47 48 n48 49 n49 50 n50 51 n51 52 n52 53 n53 54 n54 55 n55 56 n56 57 n57 58 n58 59 n59 60 n60 61 n61 62 n62 63 n63 64 n64 65 n65 66 n66 67 n67 68 n68 69 n69 70 n70 71 n71 72 n72 73 n73 74 n74 75 n75 76 n76 77 n77 78 n78 79 n79 80 n80 81 n81 82 n82 83 n83 84 n84 85 n85 86 n86 87 n87 88 n88 89 n89 90 n90 91 n91 92 n92 93 n93 94 n94 95 n95 96 n96 97 n97 98 n98 99 n99 100 n100 101 n101 102 n102 103 n103 104 n104 105 n105 106 n106 107 n107 108 n108 109 n109 110 n110 111 n111 112 n112 113 n113 114 n114 115 n115 116 n116 117 n117 118 n118 119 n119 120 n120 121 n121 122 n122 123 n123 124 n124 125 n125 126 n126 127 n127 128 n128
        zscore new1 x
        zadd new2 -0 a 1 LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL
        zscore new2 a
        zadd new3 1 LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL -0 a
        zscore new3 a
        zadd neg -1 x 2 y
        zunion 1 neg weights 0 withscores
        zinter 1 neg weights 0 withscores
        zunionstore d 1 neg weights 0
        zrange d 0 -1 withscores
        zadd neg -1 LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL
        zunionstore d 1 neg weights 0
        zrange d 0 -1 withscores
        zrangestore e d 0 -1
        zrange e 0 -1 withscores
        zrangestore e d 0 -1 rev
        zrange e 0 -1 withscores
        zdiff 1 d withscores
        zrangestore e2 big -inf 0 byscore
        zrange e2 0 -1 withscores
        zpopmin big
    """,
    "zadd_errors_and_options": """
        zadd z nx xx 1 a
        zadd z gt lt 1 a
        zadd z nx gt 1 a
        zadd z nx lt 1 a
        zadd z incr 1 a 2 b
        zadd z 1 a 2
        zadd z incr nx 1
        zadd z x 1 a
        zadd z nx
        zadd z abc a
        zadd z nan a
        zadd z 1e400 a
        zadd z 1e-400 a
        zadd z ' 1' a
        zadd z '1 ' a
        zadd z '' a
        zadd z 1_0 a
        zadd z 0x zz
        zadd z 1e zz
        zadd z xx incr 1 a
        zadd z xx 1 a
        exists z
        zadd z nx incr 1 a
        zadd z 1.1 a 2 b inf c -inf d
        zadd z nx incr 1 a
        zadd z gt incr -1 a
        zadd z lt incr -1 a
        zadd z gt ch 5 a 1 b 7 new
        zadd z lt ch 0 a 9 b
        zadd z xx ch 3 a 3 zz
        zadd z ch 3 a 3 b
        zadd z incr inf c
        zadd z incr -inf c
        zadd z incr 0 a
        zadd z 1 a 2 a 3 a
        zadd z infinity e -INF f 0x10 g 0e-400 h 1e-310 i +5 j .5 k 5. l -0.0 m 0.1 n 1e20 o 123456789012345678 p 3.0 q 0X1.8P1 r
        zrange z 0 -1 withscores
        zscore z a
        zscore z zz
        zscore nokey a
        zmscore z a zz b
        zmscore nokey a b
        zincrby z abc a
        zincrby z 1e308 o
        zincrby z 1e308 o
        zincrby z 2.5 newm
        zincrby z nx a
        zincrby nokey 1 a
        zcard z
        zcard nokey
    """,
    "score_ranges": """
        zadd z 1 a 2 b 3 c 4 d 5 e inf f -inf g 0x10 h
        zcount z -inf +inf
        zcount z (1 5
        zcount z 1 (5
        zcount z abc 1
        zcount z '' ''
        zcount z ' 16' 100
        zcount z '(' 100
        zcount z 1e400 inf
        zcount z '16 ' 100
        zcount z ( (
        zcount z 5 1
        zcount z (inf +inf
        zcount z -inf (-inf
        zcount z nan 1
        zcount z (nan 1
        zcount nokey 0 1
        zcount nokey a b
        zrank z a
        zrank z zz
        zrevrank z a
        zrank nokey a
        zrange z 0 -1
        zrange z 2 5 withscores
        zrange z -3 -1
        zrange z 5 2
        zrange z 0 -1 rev
        zrange z 0 2 rev withscores
        zrevrange z 0 2 withscores
        zrevrange z -2 -1
        zrange z (1 +inf byscore
        zrange z +inf (1 byscore rev
        zrange z -inf +inf byscore limit 1 2 withscores
        zrange z -inf +inf byscore rev limit 1 2 withscores
        zrange z -inf +inf byscore limit -1 2
        zrange z -inf +inf byscore limit 0 -1
        zrange z -inf +inf byscore limit 0 0
        zrange z -inf +inf byscore limit 100 1
        zrange z -inf +inf byscore limit 8 1
        zrange z 0 -1 limit 0 1
        zrange z a b bylex withscores
        zrange z 0 -1 rev rev
        zrange z 0 -1 byscore bylex
        zrange z 0 -1 withscores withscores
        zrange z 0 -1 limit 0
        zrange z a b
        zrevrange z 0 -1 byscore
        zrangebyscore z 0 1 rev
        zrangebyscore z -inf inf limit 0 1 withscores
        zrangebyscore z -inf inf limit 1
        zrangebyscore z -inf inf withscores foo
        zrangebyscore z -inf inf limit a b
        zrangebyscore z 1 5 withscores
        zrevrangebyscore z 5 1 withscores
        zrevrangebyscore z 1 5
        zrevrangebyscore z (5 (1 limit 1 1
        zrangebyscore nokey 0 1
        zrangebyscore nokey a b
    """,
    "lex_ranges": """
        zadd lex 0 a 0 b 0 c 0 d 0 e 0 f 0 g
        zrangebylex lex - +
        zrangebylex lex [b [d
        zrangebylex lex (b (d
        zrangebylex lex (b +
        zrangebylex lex - (c
        zrangebylex lex + -
        zrangebylex lex [d [b
        zrangebylex lex a b
        zrangebylex lex [a (b
        zrangebylex lex - + limit 2 3
        zrangebylex lex - + limit 0
        zrangebylex lex - + withscores
        zrevrangebylex lex + -
        zrevrangebylex lex [d [b
        zrevrangebylex lex (f - limit 1 2
        zrevrangebylex lex - +
        zlexcount lex - +
        zlexcount lex [b (e
        zlexcount lex [ (
        zlexcount lex + -
        zlexcount lex foo bar
        zlexcount lex +x -
        zlexcount lex '' +
        zlexcount nokey - +
        zlexcount nokey a b
        zrange lex [b [e bylex
        zrange lex [e [b bylex rev
        zrange lex [e [b bylex rev limit 1 1
        zadd mixed 1 d 2 a 3 c 4 b 5 e
        zrangebylex mixed - +
        zrangebylex mixed [b [d
        zrevrangebylex mixed [d [b
        zlexcount mixed [b [d
        zremrangebylex mixed [a [c
        zrange mixed 0 -1 withscores
    """,
    "removals": """
        zadd z 1 a 2 b 3 c 4 d 5 e 6 f 7 g
        zadd lex 0 a 0 b 0 c 0 d 0 e 0 f 0 g
        zrem z a zz b
        zrem z zz
        zrem nokey a
        zremrangebyrank z 0 1
        zremrangebyrank z -1 -1
        zremrangebyrank z 5 1
        zremrangebyrank z a b
        zremrangebyscore z -inf 0
        zremrangebyscore z (1 5
        zremrangebyscore z a b
        zremrangebyscore nokey 0 1
        zremrangebylex lex [a [b
        zremrangebylex lex (f +
        zremrangebylex lex a b
        zrange lex 0 -1
        zremrangebylex lex - +
        exists lex
        zrange z 0 -1 withscores
        zremrangebyrank z 0 -1
        exists z
    """,
    "pops": """
        zadd p1 1 a 2 b 3 c 4 d 5 e
        zpopmin p1
        zpopmax p1
        zpopmin p1 2
        zpopmax p1 0
        zpopmax p1 10
        zpopmin p1
        zpopmin nokey 2
        zpopmin p1 1 2
        zpopmin p1 -1
        zpopmin p1 abc
        set str x
        zpopmin str
        zpopmin str 0
        zadd p2 1 a 2 b 3 c
        zmpop 0 p2 min
        zmpop 1 p2 foo
        zmpop 1 p2 min count 0
        zmpop 1 p2 min count 1 count 2
        zmpop 2 nokey p2 max count 2
        zmpop 1 nokey min
        zmpop 2 str p2 min
        zmpop 2 p2 str min count 10
        zadd p2 1 a 2 b 3 c
        bzpopmin p2 0
        bzpopmin str 0
        bzpopmin p2 -1
        bzpopmin p2 abc
        bzmpop 0 0 p2 min
        bzmpop 0 1 p2 foo
        bzmpop abc 1 p2 min
        zadd p2 1 a 2 b 3 c
        bzpopmax nokey p2 0
        bzmpop 0 2 nokey p2 min count 10
        bzpopmin nokey 0.01
        bzmpop 0.01 1 nokey max
        multi
        bzpopmin empty 0
        bzmpop 0 1 empty min
        zadd full 1 a 2 b
        bzpopmax full 0
        bzmpop 0 1 full min count 3
        exec
    """,
    "set_operations": """
        zadd u1 1 a 2 b 3 c
        zadd u2 10 b 20 c 30 d
        sadd s1 a d e
        set str x
        zunion 2 u1 u2
        zunion 2 u1 u2 withscores
        zunion 3 u1 u2 s1 withscores
        zunion 3 u1 u2 s1 weights 1 2 3 withscores
        zunion 2 u1 u2 aggregate min withscores
        zunion 2 u1 u2 aggregate max withscores
        zunion 2 u1 u2 weights 2 aggregate max withscores
        zunion 2 u1 u2 weights 2 x
        zunion 2 u1 u2 weights 2 1e400
        zunion 2 u1 nokey withscores
        zinter 2 u1 u2 withscores
        zinter 3 u1 u2 s1 withscores
        zinter 2 u1 s1 withscores
        zinter 2 u1 u1 weights 1 2 withscores
        zinter 2 u1 nokey withscores
        zinter 2 u1 u2 aggregate min withscores
        zdiff 2 u1 u2 withscores
        zdiff 2 u1 s1 withscores
        zdiff 2 nokey u1
        zdiff 1 u1 weights 1
        zdiff 2 u1 u1
        zintercard 2 u1 u2
        zintercard 2 u1 u2 limit 1
        zintercard 2 u1 u2 limit 0
        zintercard 1 u1 limit -1
        zintercard 1 u1 limit x
        zintercard 1 u1 withscores
        zunionstore d 0 u1
        zunion 0 u1
        zinter -1 u1
        zdiff 0 u1
        zintercard 0 u1
        zdiffstore d 0 u1
        zunionstore d abc u1
        zunionstore d 3 u1
        zunionstore d 1 str foo
        zunion 2 u1 str
        zunionstore d 1 u1 weights
        zunionstore d 1 u1 weights x
        zunionstore d 1 u1 aggregate foo
        zunion 1 u1 withscores withscores
        zunionstore d 1 u1 withscores
        zunionstore dst 2 u1 u2 weights 1 -1
        zrange dst 0 -1 withscores
        zinterstore dst 2 u1 u2 aggregate max
        zrange dst 0 -1 withscores
        zdiffstore dst 2 u1 u2
        zrange dst 0 -1 withscores
        zunionstore dst 1 nokey
        exists dst
        zadd inf1 inf a -inf b 1 c
        zadd inf2 -inf a inf b 0 c
        zunion 2 inf1 inf2 withscores
        zinter 2 inf1 inf2 withscores
        zunion 2 inf1 inf2 weights 0 1 withscores
        zinter 2 inf1 inf2 weights 0 0 withscores
        zinter 2 inf1 inf2 weights 0 0 aggregate min withscores
        zinter 2 inf1 inf2 weights 0 0 aggregate max withscores
    """,
    "rangestore_randmember_scan": """
        zadd u1 1 a 2 b 3 c
        zadd u2 10 b 20 c 30 d
        set str x
        zrangestore dst u1 0 -1
        zrange dst 0 -1 withscores
        zrangestore dst u2 (10 +inf byscore limit 0 1
        zrange dst 0 -1 withscores
        zrangestore dst u1 [z + bylex
        exists dst
        zrangestore dst nokey 0 -1
        zrangestore dst u1 0 -1 withscores
        zrangestore dst str 0 -1
        zrangestore dst u1 3 1 rev
        zrandmember nokey
        zrandmember nokey 2
        zrandmember nokey 2 withscores
        zrandmember nokey abc
        zrandmember u1 -9223372036854775808
        zrandmember u1 5 foo
        zrandmember u1 5 withscores x
        zrandmember u1 9223372036854775807 withscores
        zrandmember u1 -9223372036854775807 withscores
        zrandmember u1 abc
        zrandmember u1 0
        zrandmember u1 3
        zrandmember u1 10 withscores
        zrandmember str
        zrandmember str 1
        zscan u1 0
        zscan u1 0 match b*
        zscan u1 0 count 1
        zscan nokey 0
        zscan str 0
        zscan u1 abc
        zadd neg -0.0 a
        zrange neg 0 -1 withscores
        zscan neg 0
    """,
}


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_replies_match_stock(pair: Pair, name: str, resp3: bool) -> None:  # noqa: F811
    pair.compare(SCRIPTS[name], resp3)


def _random_script(seed: int, length: int) -> list[str]:
    rng = random.Random(seed)
    keys = ["a", "b", "c"]
    scores = ["1", "2", "2.5", "-1", "0", "inf", "-inf", "0.1", "3e2"]
    bounds = ["-inf", "+inf", "(1", "2", "(2.5", "0", "-1", "(0"]
    lex = ["-", "+", "[m1", "(m2", "[m3", "(m0"]
    lines = []
    for _ in range(length):
        k, k2 = rng.choice(keys), rng.choice(keys)
        m, s = f"m{rng.randint(0, 4)}", rng.choice(scores)
        b1, b2 = rng.choice(bounds), rng.choice(bounds)
        l1, l2 = rng.choice(lex), rng.choice(lex)
        i, j = rng.randint(-4, 4), rng.randint(-4, 4)
        opts = " ".join(rng.sample(["nx", "xx", "gt", "lt", "ch", "incr"], rng.randint(0, 2)))
        lines.append(
            rng.choice(
                [
                    f"zadd {k} {opts} {s} {m}",
                    f"zadd {k} {s} {m} {rng.choice(scores)} m{rng.randint(0, 4)}",
                    f"zincrby {k} {s} {m}",
                    f"zrem {k} {m} m{rng.randint(0, 4)}",
                    f"zscore {k} {m}",
                    f"zmscore {k} {m} m9",
                    f"zrank {k} {m}",
                    f"zrevrank {k} {m}",
                    f"zcount {k} {b1} {b2}",
                    f"zlexcount {k} {l1} {l2}",
                    f"zrange {k} {i} {j} withscores",
                    f"zrange {k} {b1} {b2} byscore limit {abs(i)} {j} withscores",
                    f"zrange {k} {b2} {b1} byscore rev withscores",
                    f"zrange {k} {l1} {l2} bylex",
                    f"zrevrangebylex {k} {l2} {l1} limit {abs(i)} {j}",
                    f"zrangestore {k2} {k} {i} {j}",
                    f"zremrangebyscore {k} {b1} {b2}",
                    f"zremrangebyrank {k} {i} {j}",
                    f"zremrangebylex {k} {l1} {l2}",
                    f"zpopmin {k} {abs(i)}",
                    f"zpopmax {k}",
                    f"zmpop 2 {k} {k2} {rng.choice(['min', 'max'])} count {abs(i) + 1}",
                    f"bzpopmin {k} {k2} 0.01",
                    f"zunionstore {k2} 2 {k} {k2} weights {s} 2 aggregate {rng.choice(['sum', 'min', 'max'])}",
                    f"zinter 2 {k} {k2} withscores",
                    f"zdiff 2 {k} {k2} withscores",
                    f"zintercard 2 {k} {k2} limit {abs(i)}",
                    f"zcard {k}",
                    f"zrandmember {k} 50 withscores",
                    f"set {k} str" if rng.random() < 0.05 else f"del {k}",
                    f"sadd {k} {m}" if rng.random() < 0.1 else f"zscan {k} 0",
                ]
            )
        )
    return lines


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_streams_match_stock(pair: Pair, seed: int) -> None:  # noqa: F811
    lines = _random_script(seed, 500)
    pair.compare(lines, resp3=seed == 2)


def test_propagation_matches_stock(pair: Pair) -> None:  # noqa: F811
    """ZMPOP/BZMPOP become ZPOPMIN/ZPOPMAX key n, BZPOP* become ZPOP*, no-ops are dropped."""
    script = [
        "zadd z 1 a 2 b 3 c 4 d 5 e 6 f",
        "bzpopmin z 0",
        "bzpopmax z 0",
        "bzmpop 0 1 z min count 1",
        "zmpop 1 z max count 10",
        "zpopmin nokey 5",
        "zadd z 1 a",
        "zpopmin z 10",
        "zadd z xx 1 q",
        "zadd z 1 a",
        "zadd z 1 a",
        "zadd z incr 2 a",
        "zadd z incr 0 a",
        "zincrby z 1 a",
        "zrem z nomember",
        "zunionstore dst 1 nokey",
        "zadd s 1 a",
        "zunionstore s 1 nokey",
        "zrangestore dst2 s 5 10",
        "zremrangebyscore nokey 0 1",
        "zadd s 1 a",
        "zremrangebyscore s 5 6",
        "zremrangebyrank s 0 0",
    ]
    streams = []
    for sp in (pair.ours, pair.stock):
        tap = ReplTap(sp.port)
        w = Raw(sp.port)
        try:
            for line in script:
                w(line)
            streams.append(tap.commands(w))
        finally:
            tap.close()
            w.close()
    assert streams[0] == streams[1]
    assert [b"ZPOPMAX", b"z", b"3"] in streams[0]


@pytest.mark.parametrize(
    "store",
    [
        "ZUNIONSTORE dst 2 src other",
        "ZINTERSTORE dst 2 src other",
        "ZDIFFSTORE dst 2 src other",
        "ZRANGESTORE dst src 0 -1",
    ],
)
def test_store_commands_only_touch_their_destination_for_watch(pair: Pair, store: str) -> None:  # noqa: F811
    """A WATCHed source key of a *STORE command stays valid; a WATCHed destination does not."""
    for port in (pair.ours.port, pair.stock.port):
        w, x = Raw(port), Raw(port)
        try:
            x("ZADD src 1 a 2 b")
            x("ZADD other 2 b")
            assert w("WATCH src other") == b"+OK\r\n"
            assert x(store).startswith(b":")
            w("MULTI")
            w("ZCARD src")
            assert w("EXEC") == b"*1\r\n:2\r\n", port
            assert w("WATCH dst") == b"+OK\r\n"
            x(store.replace("0 -1", "0 0"))
            x("ZADD dst 5 z")
            w("MULTI")
            w("ZCARD dst")
            assert w("EXEC") == b"*-1\r\n", port
            x("FLUSHALL")
        finally:
            w.close()
            x.close()
