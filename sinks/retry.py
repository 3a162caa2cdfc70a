"""The one retry policy of Sunlight's sinks (tenacity): exponential backoff from `min_s`,
doubling, capped at `max_s`; what is retried and for how long is the caller's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_never,
    wait_exponential,
)


def backoff(min_s: float, max_s: float) -> wait_exponential:
    """min_s, 2·min_s, 4·min_s, ... capped at max_s."""
    return wait_exponential(multiplier=min_s, min=min_s, max=max_s)


def retrying(
    *,
    retry_on: Callable[[BaseException], bool],
    min_s: float,
    max_s: float,
    attempts: int | None = None,
    before_sleep: Callable[[RetryCallState], Any] | None = None,
) -> AsyncRetrying:
    """`async for attempt in retrying(...): with attempt: ...` — forever when `attempts`
    is None; the last error is re-raised when they run out."""
    return AsyncRetrying(
        retry=retry_if_exception(retry_on),
        wait=backoff(min_s, max_s),
        stop=stop_never if attempts is None else stop_after_attempt(attempts),
        before_sleep=before_sleep,
        reraise=True,
    )
