"""No hello PUBLISH to our own server while a fence's CLIENT PAUSE ... WRITE may be in effect on
it (sentinel/core/links.py `may_be_write_paused`): Redis holds a paused PUBLISH and every later
command of that link behind it, the fence's own CLIENT UNPAUSE included, so the server stayed
paused (and looked down to every sentinel) until the pause ran out by itself. Seen in the
simulator (seed 232 with the core's VIP rule) after a switch: the local server became a new
Instance whose link published a hello before the fence logic ran."""

from __future__ import annotations

from sentinel.core.links import may_be_write_paused, send_hello
from sentinel.core.model import Ctx, new_replica
from tests.sentinel.driver import R1, R1N, R2N, Driver, conf, healthy

VIP_CONF = (
    "sentinel vip mymaster 10.0.0.100/24 eth0\n"
    "sentinel vip-local-server mymaster 10.0.0.2 6379\n"
    "sentinel vip-sentinels mymaster 3\n"
)


def _published(acts: list) -> list:
    return [a for a in acts if getattr(a, "argv", ())[:1] == ("PUBLISH",)]


def test_no_hello_to_the_local_server_until_the_fence_is_known_lifted() -> None:
    d = healthy(Driver.create(conf(extra=VIP_CONF)))
    d.advance(3000)
    w = d.core.world
    m = w.masters["mymaster"]
    o = w.ownership["mymaster"]
    local, other = m.replicas[R1N], m.replicas[R2N]
    assert o.fence_want is False  # a healthy replica: the fence was lifted (UNPAUSE sent)
    assert not may_be_write_paused(w, local, m)
    # A pause may be in effect (fenced, or not known to be lifted) on a *new* Instance of our
    # server, as after a switch, whose own `fenced` flag the fence logic has not set yet.
    for want in (True, None):
        o.fence_want = want
        fresh = new_replica(m, R1[0].upper(), R1[1], d.now)  # any spelling of the address
        fresh.cc = local.cc
        assert may_be_write_paused(w, fresh, m)
        ctx = Ctx(now=d.now)
        assert send_hello(w, ctx, fresh, m) is False
        assert _published(ctx.actions) == []
        # other servers still get hellos
        ctx = Ctx(now=d.now)
        assert send_hello(w, ctx, other, m) is True
        assert len(_published(ctx.actions)) == 1
    o.fence_want = False
    ctx = Ctx(now=d.now)
    assert send_hello(w, ctx, local, m) is True and len(_published(ctx.actions)) == 1


def test_without_a_vip_nothing_is_held_back() -> None:
    d = healthy(Driver.create(conf()))
    m = d.core.world.masters["mymaster"]
    assert not may_be_write_paused(d.core.world, m.replicas[R1N], m)
