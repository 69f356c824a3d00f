"""How many runs may work at once in one process (the `concurrency` setting).

A run past the limit waits for a slot before its first step; each run brings its own
limit (settings can change between runs), so every release wakes all waiters to re-check.
"""

from __future__ import annotations

import asyncio


class RunSlots:
    def __init__(self) -> None:
        self.active = 0
        self._waiters: list[asyncio.Future[None]] = []

    async def acquire(self, limit: int) -> bool:
        """Take a slot, waiting while `limit` runs are active. Returns whether it had to wait."""
        waited = False
        while self.active >= limit:
            waited = True
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            finally:
                if fut in self._waiters:
                    self._waiters.remove(fut)
        self.active += 1
        return waited

    def release(self) -> None:
        self.active -= 1
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)
