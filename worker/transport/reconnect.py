"""How every Redis client of rapbot (the bots' async client, the workers' own) rides out a Redis
restart: a command that meets a connection the restart killed reconnects and is sent again (twice
at most, a moment apart), and a connection idle for a while is pinged before it is used. So the
first request after a restart is answered, not failed (tests/worker/test_faults_defaults.py)."""

from __future__ import annotations

from typing import Any

from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ConstantBackoff
from redis.exceptions import ConnectionError, TimeoutError
from redis.retry import Retry

RETRIES = 2
BACKOFF_S = 0.25
HEALTH_CHECK_INTERVAL_S = 15


def reconnect_options() -> dict[str, Any]:
    """Keyword arguments for `redis.Redis.from_url`."""
    return {
        "retry": Retry(ConstantBackoff(BACKOFF_S), RETRIES),
        "retry_on_error": [ConnectionError, TimeoutError],
        "health_check_interval": HEALTH_CHECK_INTERVAL_S,
    }


def async_reconnect_options() -> dict[str, Any]:
    """Keyword arguments for `redis.asyncio.Redis.from_url`."""
    return {
        "retry": AsyncRetry(ConstantBackoff(BACKOFF_S), RETRIES),
        "retry_on_error": [ConnectionError, TimeoutError],
        "health_check_interval": HEALTH_CHECK_INTERVAL_S,
    }
