"""Keys kept in this process: for one consumer process, and for tests."""

from __future__ import annotations

from collections import OrderedDict


class MemoryStore:
    """The last `max_keys` keys (the oldest forgotten first); lost when the process ends."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._keys: OrderedDict[str, None] = OrderedDict()

    def seen(self, key: str) -> bool:
        return key in self._keys

    def remember(self, key: str) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)
