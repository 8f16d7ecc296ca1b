"""Known bugs planted into the real core for a run, to prove the simulator finds them.

No switch in `sentinel/core` is needed: each bug wraps `sentinel.core.election.vote` (called by
`election.get_leader` for our own vote and by `admin.is_master_down` for a peer's request) and
is installed by replacing that name in both modules for the duration of a `with planted(...)`.
Sweep workers are forked inside the block, so they run the planted core too.

* `double-vote`: a sentinel that already voted in an epoch votes again for another candidate
  (stock's `leader_epoch < req_epoch` guard weakened to `<=`).
* `vote-not-persisted`: the vote (and the epoch it adopts) is not persisted before the reply
  that carries it leaves (the persist-before-act rule skipped for votes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pytest import MonkeyPatch

from sentinel.core import admin, election
from sentinel.core.model import Ctx, Master, World

VoteFn = Callable[[World, Ctx, Master, int, str], tuple[str | None, int]]
BUGS = ("double-vote", "vote-not-persisted")


def _double_vote(real: VoteFn) -> VoteFn:
    def vote(w: World, ctx: Ctx, master: Master, req_epoch: int, req_runid: str) -> tuple[str | None, int]:
        if (
            master.leader_epoch == req_epoch
            and w.current_epoch <= req_epoch
            and not election.same_id(master.leader, req_runid)
        ):
            master.leader_epoch = req_epoch - 1  # forget that we voted in this epoch
        return real(w, ctx, master, req_epoch, req_runid)

    return vote


def _not_persisted(real: VoteFn) -> VoteFn:
    def vote(w: World, ctx: Ctx, master: Master, req_epoch: int, req_runid: str) -> tuple[str | None, int]:
        dirty = ctx.dirty
        result = real(w, ctx, master, req_epoch, req_runid)
        ctx.dirty = dirty  # drop the persist the vote asked for
        return result

    return vote


@contextmanager
def planted(bug: str | None) -> Iterator[None]:
    """Run the block with `bug` planted into the core (None: the real core)."""
    if bug is None:
        yield
        return
    real: VoteFn = election.vote
    if bug == "double-vote":
        fake = _double_vote(real)
    elif bug == "vote-not-persisted":
        fake = _not_persisted(real)
    else:
        raise ValueError(f"unknown planted bug {bug!r} (one of {BUGS})")
    patch = MonkeyPatch()
    patch.setattr(election, "vote", fake)
    patch.setattr(admin, "vote", fake)
    try:
        yield
    finally:
        patch.undo()
