"""Save points, SAVE/BGSAVE, the AOF and loading at start (being written: see the RDB/AOF work)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from server.engine import Engine


class Persistence:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def load(self) -> None:
        pass

    async def start(self, nursery: trio.Nursery) -> None:
        pass

    def shutdown(self, save: bool | None, force: bool) -> bool:
        return True
