"""Value types that Python lacks: the sorted set."""

from __future__ import annotations

from collections.abc import Iterator

from sortedcontainers import SortedList


class ZSet:
    """Redis's sorted set: member -> score, ordered by (score, member).

    A dict for O(1) ZSCORE plus a SortedList of (score, member) for O(log n) rank and range
    queries; the two always hold the same members.
    """

    __slots__ = ("order", "scores")

    def __init__(self) -> None:
        self.scores: dict[bytes, float] = {}
        self.order: SortedList = SortedList()

    def __len__(self) -> int:
        return len(self.scores)

    def __contains__(self, member: bytes) -> bool:
        return member in self.scores

    def __iter__(self) -> Iterator[tuple[bytes, float]]:
        """(member, score) in ascending order."""
        for score, member in self.order:
            yield member, score

    def add(self, member: bytes, score: float) -> bool:
        """Set `member`'s score; True if it was new."""
        old = self.scores.get(member)
        if old is not None:
            if old == score:
                return False
            self.order.remove((old, member))
            self.scores[member] = score
            self.order.add((score, member))
            return False
        self.scores[member] = score
        self.order.add((score, member))
        return True

    def remove(self, member: bytes) -> bool:
        old = self.scores.pop(member, None)
        if old is None:
            return False
        self.order.remove((old, member))
        return True

    def score(self, member: bytes) -> float | None:
        return self.scores.get(member)

    def rank(self, member: bytes) -> int | None:
        s = self.scores.get(member)
        if s is None:
            return None
        return int(self.order.index((s, member)))

    def by_rank(self, start: int, stop: int) -> list[tuple[float, bytes]]:
        """Entries with rank in [start, stop] (already normalised, inclusive)."""
        return list(self.order.islice(start, stop + 1))
