"""A concurrency cap shared fairly among trials: round-robin over the trials waiting.

A plain semaphore serves waiters first come, first served, so a trial with many requests in
flight would take most of a provider's capacity. Here each trial has its own queue and a
freed slot goes to the trial after the one served last, so a trial's share does not depend
on how many requests it has queued. Event-loop thread only.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from contextlib import asynccontextmanager


class FairLimiter:
    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self.capacity = capacity
        self.in_use = 0
        self._queues: OrderedDict[str, deque[asyncio.Future]] = OrderedDict()

    @property
    def waiting(self) -> int:
        return sum(len(q) for q in self._queues.values())

    @asynccontextmanager
    async def slot(self, trial_id: str):
        await self.acquire(trial_id)
        try:
            yield
        finally:
            self.release()

    async def acquire(self, trial_id: str) -> None:
        if self.in_use < self.capacity and not self._queues:
            self.in_use += 1
            return
        future = asyncio.get_running_loop().create_future()
        self._queues.setdefault(trial_id, deque()).append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # granted just before the cancel arrived: hand it on
            else:
                self._forget(trial_id, future)
            raise

    def release(self) -> None:
        self.in_use -= 1
        self._grant()

    def set_capacity(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self._grant()

    def _forget(self, trial_id: str, future: asyncio.Future) -> None:
        queue = self._queues.get(trial_id)
        if queue is not None and future in queue:
            queue.remove(future)
            if not queue:
                del self._queues[trial_id]
        self._grant()

    def _grant(self) -> None:
        while self.in_use < self.capacity and self._queues:
            trial_id, queue = self._queues.popitem(last=False)
            future = queue.popleft()
            if queue:
                self._queues[trial_id] = queue  # to the back of the line
            if future.done():
                continue
            self.in_use += 1
            future.set_result(None)


def node_share(cluster_capacity: int, node_count: int) -> int:
    """One node gateway's part of a cluster-wide cap: an equal split, rounded down, at least
    one (so with more nodes than the cap allows the total can exceed it by that rounding)."""
    return max(1, cluster_capacity // max(1, node_count))
