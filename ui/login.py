"""The page's optional login, with failed attempts slowed down.

Gradio checks a login by calling the `auth` function it was given with the user name and password.
`LoginThrottle.check` is that function: it compares both in constant time, and after each failed
attempt for a user name the next attempt for that name waits longer (`base`, then twice that, ... up
to `cap` seconds), one attempt at a time per name, so guessing a password costs minutes per handful
of tries instead of milliseconds. A success clears the count; so does a quiet spell of `forget_after`
seconds. It is an `async` function on purpose: Gradio awaits it inside its event loop, where a
plain `time.sleep` would stall every visitor's page, not only the guesser's.

What it does not do: tell clients apart (Gradio passes only the name and password), lock accounts,
or replace a proper reverse proxy with rate limits when the page is open to the internet.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

__all__ = ["LoginThrottle"]

log = logging.getLogger(__name__)

MAX_TRACKED_NAMES = 10_000  # names remembered at once; the oldest is forgotten first (bounded memory)


class LoginThrottle:
    """A Gradio `auth` callable for one account that slows repeated failures per user name."""

    def __init__(self, user: str, password: str, *, base: float = 1.0, cap: float = 30.0,
                 forget_after: float = 900.0, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._user, self._password = user.encode(), password.encode()
        self.base, self.cap, self.forget_after = base, cap, forget_after
        self._sleep, self._clock = sleep, clock
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()  # name -> (count, last failure)
        self._locks: dict[str, asyncio.Lock] = {}

    def failures(self, name: str) -> int:
        count, last = self._failures.get(name, (0, 0.0))
        return 0 if count and self._clock() - last > self.forget_after else count

    def delay(self, failures: int) -> float:
        """Seconds to wait before checking an attempt that follows `failures` failed ones."""
        if failures <= 0 or self.base <= 0:
            return 0.0
        return min(self.cap, self.base * 2 ** min(failures - 1, 30))

    async def check(self, username: str, password: str) -> bool:
        name = (username or "")[:200]
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:  # parallel guesses for one name queue behind each other's delays
            wait = self.delay(self.failures(name))
            if wait:
                await self._sleep(wait)
            ok = secrets.compare_digest(name.encode(), self._user) & secrets.compare_digest(
                (password or "").encode(), self._password)
            if ok:
                self._failures.pop(name, None)
            else:
                count = self.failures(name) + 1
                self._failures[name] = (count, self._clock())
                self._failures.move_to_end(name)
                while len(self._failures) > MAX_TRACKED_NAMES:
                    old, _ = self._failures.popitem(last=False)
                    self._locks.pop(old, None)
                log.warning("failed login for user %r (%d in a row); the next attempt waits %.0f s",
                            name[:40], count, self.delay(count))
        if not lock.locked() and name not in self._failures:
            self._locks.pop(name, None)
        return bool(ok)
