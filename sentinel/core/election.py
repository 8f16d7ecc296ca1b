"""Votes and leader election (stock sentinelVoteLeader / sentinelGetLeader / ask logic).

* One vote per master per epoch, to the first requester with a high enough epoch; a higher
  requested epoch is adopted first (`+new-epoch`). Every vote is persisted (the caller's step
  puts PersistState before the reply that carries it).
* A leader needs max(quorum, majority of every known sentinel + us) votes in the failover epoch
  (stock counts against current_epoch; matching the failover epoch is the safe tightening).
* Ours: while we lead a failover for a master (elected, state select_slave or later) we grant no
  vote to anyone else for it, so a second leader cannot be elected through us while we act.
* Ours: once every vote of the epoch is known and nobody can reach the votes needed, the
  election ends at once (`election_hopeless`), and a provable split vote is retried after
  (split-vote-retry + jitter) x 2^(consecutive splits - 1) instead of 2 x failover-timeout (see
  `after_not_elected`).
* Ours: no vote for another sentinel's failover of a master we switched to recently and see up
  (`switched_and_seen_up`): a peer's false ODOWN right after a switch cannot win through us.
"""

from __future__ import annotations

from sentinel.core.actions import Level, Log
from sentinel.core.info import Role
from sentinel.core.links import event, send
from sentinel.core.model import Ctx, Master, Peer, Pending, Purpose, World
from sentinel.core.replies import Reply


def needed_votes(master: Master) -> int:
    """Votes a leader needs: max(quorum, (known sentinels + 1) // 2 + 1)."""
    voters = len(master.peers) + 1
    return max(master.quorum, voters // 2 + 1)


def same_id(a: str | None, b: str | None) -> bool:
    """Run ids compare case-insensitively (stock strcasecmp)."""
    return a is not None and b is not None and a.lower() == b.lower()


def adopt_epoch(w: World, ctx: Ctx, master: Master, epoch: int) -> None:
    """Raise our current epoch to `epoch` if greater (`+new-epoch`, persisted)."""
    if epoch > w.current_epoch:
        w.current_epoch = epoch
        ctx.persist()
        event(w, ctx, Level.WARNING, "+new-epoch", master, master, raw=str(epoch))


SPLIT_VOTE_MAX_DOUBLINGS = 4
"""The quick split-vote retry delay doubles with each consecutive split, at most this many times."""


def switched_and_seen_up(w: World, now: int, master: Master) -> bool:
    """Ours: we switched to the master's current address less than max(failover-timeout,
    down-after + 5 x ask-period) ago, and we see it up now: not SDOWN, command link up, role
    master, a valid PING reply within down-after.

    Then we refuse our vote to another sentinel's failover of it. The window covers what makes
    a peer see a healthy new master down right after a switch: stock's post-switch false SDOWN
    (its new links wait for the reconnect throttle while the SDOWN clock runs) plus peers'
    is-master-down answers about the old address, kept up to 5 ask periods. A real failure of
    the new master is not blocked: once we stop seeing it up (at most down-after), we vote.
    """
    last = master.last_failover
    if last is None or last.new != master.addr:
        return False
    window = max(master.failover_timeout, master.down_after + w.timers.ask_validity)
    if now - last.switched_at > window:
        return False
    return (
        not master.sdown
        and master.cc.up
        and master.role_reported is Role.MASTER
        and now - master.last_avail_time < master.down_after
    )


def vote(w: World, ctx: Ctx, master: Master, req_epoch: int, req_runid: str) -> tuple[str | None, int]:
    """Vote for `req_runid` in `req_epoch` if allowed; return the vote now recorded (runid, epoch)."""
    adopt_epoch(w, ctx, master, req_epoch)
    if master.leader_epoch < req_epoch and w.current_epoch <= req_epoch:
        if master.maintenance and not same_id(req_runid, w.myid):
            ctx.emit(
                Log(
                    Level.NOTICE,
                    f"Not voting for {req_runid} in epoch {req_epoch} for {master.name}: maintenance mode",
                )
            )
        elif master.leading and not same_id(req_runid, w.myid):
            ctx.emit(
                Log(
                    Level.NOTICE,
                    f"Not voting for {req_runid} in epoch {req_epoch} for {master.name}: "
                    f"leading the failover of epoch {master.failover_epoch}",
                )
            )
        elif not same_id(req_runid, w.myid) and switched_and_seen_up(w, ctx.now, master):
            assert master.last_failover is not None
            ctx.emit(
                Log(
                    Level.NOTICE,
                    f"Not voting for {req_runid} in epoch {req_epoch} for {master.name}: switched to "
                    f"{master.host}:{master.port} {ctx.now - master.last_failover.switched_at} ms ago "
                    "and it is up",
                )
            )
        else:
            master.leader = req_runid
            master.leader_epoch = w.current_epoch
            ctx.persist()
            event(
                w,
                ctx,
                Level.WARNING,
                "+vote-for-leader",
                master,
                master,
                raw=f"{req_runid} {master.leader_epoch}",
            )
            if not same_id(req_runid, w.myid):
                master.failover_start_time = ctx.now + w.rng.randrange(w.timers.max_desync)
                master.next_failover_at = master.failover_start_time + 2 * master.failover_timeout
                master.next_failover_reason = f"voted for {req_runid} in epoch {master.leader_epoch}"
                master.delay_logged = False
                master.candidacy_at = None  # a peer asked first: no candidacy of ours in its epoch
                master.split_votes = 0
    return master.leader, master.leader_epoch


def get_leader(w: World, ctx: Ctx, master: Master, epoch: int) -> str | None:
    """Cast our vote (for the most voted sentinel, else ourselves) and return the winner, if any."""
    counters: dict[str, int] = {}
    for p in master.peers.values():
        if p.leader is not None and p.leader_epoch == epoch:
            key = p.leader.lower()
            counters[key] = counters.get(key, 0) + 1
    winner: str | None = None
    max_votes = 0
    for runid, votes in counters.items():
        if votes > max_votes:
            winner, max_votes = runid, votes
    myvote, myepoch = vote(w, ctx, master, epoch, winner if winner is not None else w.myid)
    if myvote is not None and myepoch == epoch:
        key = myvote.lower()
        counters[key] = counters.get(key, 0) + 1
        if counters[key] > max_votes:
            winner, max_votes = key, counters[key]
    if winner is not None and max_votes >= needed_votes(master):
        return winner
    return None


def election_hopeless(master: Master, epoch: int) -> bool:
    """Nobody can win `epoch` any more: even if every vote we do not know yet went to the best
    placed candidate, it would stay below the votes needed (ours: ends a split vote at once
    instead of waiting for the election timeout)."""
    counts: dict[str, int] = {}
    unknown = 0
    voters = [(p.leader, p.leader_epoch) for p in master.peers.values()]
    voters.append((master.leader, master.leader_epoch))
    for leader, leader_epoch in voters:
        if leader is not None and leader_epoch == epoch:
            counts[leader.lower()] = counts.get(leader.lower(), 0) + 1
        else:
            unknown += 1
    return max(counts.values(), default=0) + unknown < needed_votes(master)


def ask_peers(w: World, ctx: Ctx, master: Master, forced: bool) -> None:
    """SENTINEL is-master-down-by-addr to every connected peer while we see the master SDOWN.

    At most once per ask period per peer unless `forced` (SDOWN just seen, failover just
    started). The runid argument is our id (a vote request) once a failover is in progress.
    """
    if not master.sdown:
        return
    runid = w.myid if master.in_failover else "*"
    for p in master.peers.values():
        if p.disconnected:
            continue
        if not forced:
            last = max(p.last_master_down_reply_time or 0, p.last_ask_time or 0)
            if last and ctx.now - last < w.timers.ask_period:
                continue
        argv = (
            "SENTINEL",
            "is-master-down-by-addr",
            master.host,
            str(master.port),
            str(w.current_epoch),
            runid,
        )
        if (
            send(w, ctx, p, Purpose.ASK, argv, master=master.name, generation=master.addr_generation)
            is not None
        ):
            p.last_ask_time = ctx.now


def record_ask_reply(w: World, ctx: Ctx, peer: Peer, master: Master, pending: Pending, reply: Reply) -> bool:
    """Store a peer's is-master-down reply; False if ignored (wrong shape or stale address)."""
    if pending.generation != master.addr_generation:
        return False  # asked about an address we no longer monitor: a stale answer
    if not (
        isinstance(reply, list)
        and len(reply) == 3
        and type(reply[0]) is int
        and isinstance(reply[1], str)
        and type(reply[2]) is int
    ):
        return False
    peer.last_master_down_reply_time = ctx.now
    peer.master_down = reply[0] == 1
    if reply[1] != "*":
        peer.leader = reply[1]
        peer.leader_epoch = reply[2]
    return True


def after_not_elected(w: World, ctx: Ctx, master: Master) -> None:
    """Decide when we may try again after losing an election (sets next_failover_at/reason).

    * We voted for another sentinel: stock back-off, 2 x failover-timeout from that vote.
    * Every reachable peer's vote in this epoch is known, and each is for us or for the peer
      itself: a split vote. Nobody we can reach voted for another candidate, so no other
      candidate can be using a majority that includes a sentinel we could ask; retry after
      (split-vote-retry + random 0..split-vote-jitter-1) x 2^(k-1) ms, k = consecutive split
      votes (doubling at most SPLIT_VOTE_MAX_DOUBLINGS times), never later than the stock
      back-off. Defaults: 100-399 ms, then 200-798, 400-1596, ... up to 1.6-6.4 s.
    * Otherwise (a third party voted for another candidate, or a reachable peer's vote is
      unknown) another sentinel may be leading: stock back-off, 2 x failover-timeout.

    Why the quick retry cannot become a vote storm: it is taken only after a provable split
    (no leader exists for the epoch among the sentinels we can reach), each sentinel makes at
    most one candidacy per retry delay (so at most one epoch and one request per peer per
    delay), and the delay doubles while the splits continue. The random part (300 ms, plus the
    0-149 ms candidacy delay that applies again on the retry) is far larger than a vote
    request's round trip (about 1-10 ms), so the first sentinel to retry usually reaches the
    others before they retry and the third one votes for it; two retries within one round trip
    of each other (roughly RTT / window, a few %) split again, each further time with half the
    chance. The 100 ms base lets the other candidates learn the same split first (from the
    same last vote reply), so they are waiting too rather than still asking in the old epoch.
    """
    e = master.failover_epoch
    if master.leader is not None and not same_id(master.leader, w.myid):
        master.split_votes = 0
        master.next_failover_at = master.failover_start_time + 2 * master.failover_timeout
        master.next_failover_reason = f"voted for {master.leader} in epoch {master.leader_epoch}"
        return
    doubt: str | None = None
    for p in master.peers.values():
        if p.disconnected or p.sdown:
            continue
        if p.leader is None or p.leader_epoch < e:
            doubt = f"vote of {p.name} in epoch {e} unknown"
            break
        if not same_id(p.leader, w.myid) and not same_id(p.leader, p.runid):
            doubt = f"{p.name} voted for {p.leader} in epoch {p.leader_epoch}"
            break
    stock = master.failover_start_time + 2 * master.failover_timeout
    if doubt is not None:
        master.split_votes = 0
        master.next_failover_at = stock
        master.next_failover_reason = f"not elected in epoch {e}, another sentinel may lead ({doubt})"
    else:
        master.split_votes += 1
        t = w.timers
        scale = 1 << min(master.split_votes - 1, SPLIT_VOTE_MAX_DOUBLINGS)
        delay = (t.split_vote_retry + w.rng.randrange(t.split_vote_jitter)) * scale
        master.next_failover_at = min(ctx.now + delay, stock)
        master.next_failover_reason = f"split vote in epoch {e}"
        if master.split_votes > 1:
            master.next_failover_reason += f" ({master.split_votes} in a row)"
    master.delay_logged = False
