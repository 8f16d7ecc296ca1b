"""The replication backlog: the last `size` bytes of the replication stream, by offset.

Offsets are Redis's: the first byte ever written has offset 1 (`repl_backlog_first_byte_offset`),
and `master_repl_offset` is the offset of the last byte written. A replica that asks to continue
from offset `o` (PSYNC <id> o, meaning it has everything up to o-1) can be served iff
first_byte_offset <= o <= master_repl_offset + 1.
"""

from __future__ import annotations


class Backlog:
    __slots__ = ("_buf", "first_offset", "offset", "size")

    def __init__(self, size: int, offset: int = 0) -> None:
        self.size = max(size, 16 * 1024)
        self._buf = bytearray()
        self.offset = offset  # offset of the last byte written (master_repl_offset)
        self.first_offset = offset + 1  # offset of _buf[0]

    @property
    def histlen(self) -> int:
        return len(self._buf)

    def append(self, data: bytes) -> None:
        self._buf += data
        self.offset += len(data)
        excess = len(self._buf) - self.size
        # Trim in large steps so appends stay amortised O(1).
        if excess > 0 and (excess >= 64 * 1024 or len(self._buf) > 2 * self.size):
            del self._buf[:excess]
            self.first_offset += excess

    def trim(self) -> None:
        excess = len(self._buf) - self.size
        if excess > 0:
            del self._buf[:excess]
            self.first_offset += excess

    def can_serve(self, psync_offset: int) -> bool:
        self.trim()
        return self.first_offset <= psync_offset <= self.offset + 1

    def since(self, psync_offset: int) -> bytes:
        """The stream from `psync_offset` (inclusive) to the end; `can_serve` must hold."""
        self.trim()
        return bytes(self._buf[psync_offset - self.first_offset :])

    def resize(self, size: int) -> None:
        self.size = max(size, 16 * 1024)
        self.trim()

    def reset(self, offset: int) -> None:
        """Drop the history and continue at `offset` (after a full sync or a role change)."""
        self._buf = bytearray()
        self.offset = offset
        self.first_offset = offset + 1
