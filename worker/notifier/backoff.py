"""Retry delays for push messages whose outcome was ``"retry"``."""

import math
import random
from collections.abc import Callable

# 2.0 ** 1024 overflows; any exponent this large is far beyond every sane cap anyway.
_MAX_EXPONENT = 1000


def retry_delay(
    attempt: int,
    retry_after: float | None,
    base: float = 1.0,
    cap: float = 300.0,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number ``attempt`` (0 for the first retry).

    Exponential backoff with full jitter: a uniform draw from
    ``[0, min(cap, base * 2 ** attempt)]``.  A server-provided ``retry_after``
    (seconds) is a floor: the result is never below it.  The floor is not limited
    by ``cap`` because the server's instruction wins over our own ceiling;
    ``None``, negative or non-finite ``retry_after`` values are ignored.
    """
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    if base < 0 or cap < 0:
        raise ValueError("base and cap must be >= 0")
    ceiling = min(cap, base * 2.0 ** min(attempt, _MAX_EXPONENT))
    draw = min(max(rng(), 0.0), 1.0)
    delay = draw * ceiling
    if retry_after is not None and math.isfinite(retry_after) and retry_after > 0:
        delay = max(delay, retry_after)
    return delay
