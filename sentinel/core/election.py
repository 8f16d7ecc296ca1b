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
  split-vote-retry + jitter instead of 2 x failover-timeout (see `after_not_elected`).
"""

from __future__ import annotations

from sentinel.core.actions import Level, Log
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
      split-vote-retry + random jitter (the jitter de-synchronises the candidates).
    * Otherwise (a third party voted for another candidate, or a reachable peer's vote is
      unknown) another sentinel may be leading: stock back-off, 2 x failover-timeout.
    """
    e = master.failover_epoch
    if master.leader is not None and not same_id(master.leader, w.myid):
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
    if doubt is not None:
        master.next_failover_at = master.failover_start_time + 2 * master.failover_timeout
        master.next_failover_reason = f"not elected in epoch {e}, another sentinel may lead ({doubt})"
    else:
        master.next_failover_at = ctx.now + w.timers.split_vote_retry + w.rng.randrange(w.timers.max_desync)
        master.next_failover_reason = f"split vote in epoch {e}"
    master.delay_logged = False
