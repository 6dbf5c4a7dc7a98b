"""CeleryClient: sends each request to a `rapbot worker` through Redis. Photos go into Redis under
short-lived keys (the broker message carries only the keys); the reply comes back on a per-request
Redis list the client waits on with BLPOP. Nothing here loads a network or touches Postgres, so a
bot process stays light."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from kombu.exceptions import OperationalError as KombuOperationalError
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError

from worker.celery_app import PIPELINE_TASK, STORE_TASK, make_celery
from worker.dispatch import MODEL_METHODS, DispatchingClient
from worker.errors import BACKEND_DOWN, TIMEOUT, RapError
from worker.settings import WorkerSettings
from worker.timing import RequestTiming
from worker.wire import encode_kwargs, open_envelope, reply_key

BACKEND_DOWN_MESSAGE = "The bot's backend is not reachable right now. Nothing was changed; please try again later."


class CeleryClient(DispatchingClient):
    def __init__(self, settings: WorkerSettings | None = None) -> None:
        self.settings = settings or WorkerSettings()
        if not self.settings.redis_url:
            raise RapError(BACKEND_DOWN, "RAPBOT_REDIS_URL is not set, so there is no worker to send requests to.")
        self.app = make_celery(self.settings)
        # One async Redis client per event loop (bots run one; tests may run several in turn).
        self._redis: tuple[asyncio.AbstractEventLoop, AsyncRedis] | None = None

    def _async_redis(self) -> AsyncRedis:
        loop = asyncio.get_running_loop()
        if self._redis is None or self._redis[0] is not loop:
            assert self.settings.redis_url
            client = AsyncRedis.from_url(
                self.settings.redis_url,
                socket_connect_timeout=3,
                socket_timeout=self.settings.client_timeout_s + 10,  # BLPOP waits up to the client timeout
            )
            self._redis = (loop, client)
        return self._redis[1]

    async def _call(self, method: str, **kwargs: Any) -> Any:
        result, _ = await self.call_timed(method, **kwargs)
        return result

    async def call_timed(self, method: str, **kwargs: Any) -> tuple[Any, RequestTiming]:
        """The result and where the worker spent its time (stages, generation batch; for bench/)."""
        request_id = kwargs.get("request_id") or uuid.uuid4().hex
        if "request_id" in kwargs:
            kwargs["request_id"] = request_id  # the store dedupes a redelivered write by it
        encoded, blobs = encode_kwargs(kwargs, request_id)
        redis = self._async_redis()
        try:
            if blobs:
                async with redis.pipeline(transaction=False) as pipe:
                    for key, data in blobs.items():
                        pipe.set(key, data, ex=self.settings.image_ttl_s)
                    await pipe.execute()
            else:
                await redis.ping()  # fail fast, before publishing, when Redis is down
            await asyncio.to_thread(self._publish, method, encoded, request_id)
            reply = await redis.blpop([reply_key(request_id)], timeout=self.settings.client_timeout_s)
        except (RedisError, OSError, KombuOperationalError):
            raise RapError(BACKEND_DOWN, BACKEND_DOWN_MESSAGE) from None
        if reply is None:
            raise RapError(TIMEOUT, "The bot is very busy and did not answer in time. Please try again in a minute.")
        return open_envelope(method, reply[1])

    def _publish(self, method: str, encoded: dict[str, Any], request_id: str) -> None:
        task = PIPELINE_TASK if method in MODEL_METHODS else STORE_TASK
        self.app.send_task(
            task,
            args=[method, encoded, request_id],
            task_id=request_id,
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5},
        )

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis[1].aclose()
            self._redis = None
        self.app.close()
