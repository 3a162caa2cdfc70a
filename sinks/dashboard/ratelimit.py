"""Fixed-window attempt counters in Redis (shared by every dashboard process)."""

from __future__ import annotations

import hashlib

from redis.asyncio import Redis

# KEYS = counters; ARGV[1] = window seconds. Counts one attempt on each and returns
# the counts, in order; a counter lives for one window from its first attempt.
_HIT_LUA = """
local out = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('EXPIRE', key, ARGV[1]) end
  out[i] = n
end
return out
"""


def bucket(kind: str, value: str) -> str:
    """A bounded key part for any user-chosen value (names, addresses)."""
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"


class AttemptLimiter:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._hit = redis.register_script(_HIT_LUA)

    def key(self, part: str) -> str:
        return f"{self.prefix}{part}"

    async def hit(self, parts: list[str], limits: list[int], window_s: int) -> int:
        """Count one attempt on each counter; returns seconds to wait (0 when allowed)."""
        keys = [self.key(p) for p in parts]
        counts = await self._hit(keys=keys, args=[window_s])
        over = [k for k, n, limit in zip(keys, counts, limits, strict=True) if int(n) > limit]
        if not over:
            return 0
        ttls = [int(await self.redis.ttl(k)) for k in over]
        return max(1, *ttls)

    async def forgive(self, parts: list[str]) -> None:
        """Take back one attempt (a login that succeeded counts against nobody)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            for p in parts:
                pipe.decr(self.key(p))
            await pipe.execute()
