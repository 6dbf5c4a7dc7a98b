"""CeleryClient: sends each request to a `rapbot worker` through Redis. Photos go into Redis under
short-lived keys (the broker message carries only the keys); the reply comes back on a per-request
Redis list the client waits on with BLPOP. Nothing here loads a network or touches Postgres, so a
bot process stays light."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from kombu.exceptions import OperationalError as KombuOperationalError
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError

from worker.client import PIPELINE, RapClient, queue_of
from worker.domain.timing import RequestTiming
from worker.errors import BACKEND_DOWN, TIMEOUT, RapError
from worker.settings import WorkerSettings
from worker.transport.celery_app import PIPELINE_TASK, STORE_TASK, make_celery
from worker.transport.presence import STALE_S, presence_key
from worker.transport.wire import deliveries_key, done_key, encode_kwargs, error_envelope, open_envelope, reply_key

BACKEND_DOWN_MESSAGE = "The bot's backend is not reachable right now. Nothing was changed; please try again later."
BUSY_MESSAGE = "The bot is very busy and did not answer in time. Please try again in a minute."
NO_WORKER_MESSAGE = (
    "No bot worker is running right now, so nothing was done. Please try again later; "
    "if this goes on, tell the bot's operator."
)
NO_WORKER_CHECK_S = 3.0  # wait this long for a reply before checking that a worker is there at all


def unconfirmed_message(method: str, kwargs: dict[str, Any], timed_out: bool) -> str:
    """The request was published but its reply never came (Redis went away while waiting, or the
    wait timed out): a worker may have carried it out. Say only what is known, per kind of request."""
    first = (
        "The bot did not answer in time"
        if timed_out
        else "The bot's backend stopped answering after your request was sent"
    )
    if method not in WRITE_METHODS:  # a read changes nothing, whether or not it ran
        again = "please try again in a minute" if timed_out else "please try again later"
        return f"{first}. Nothing was changed; {again}."
    what, check = _unconfirmed_write(method, kwargs)
    return f"{first}, so I could not confirm whether {what}: {check}"


# Service methods that change the memory (or erase a user); every other one only reads.
WRITE_METHODS = frozenset(
    {"remember", "choose", "add_view", "edit", "rename", "recategorise", "forget", "share", "erase", "feedback"}
    | {"update_settings", "purge"}
)


def _unconfirmed_write(method: str, kwargs: dict[str, Any]) -> tuple[str, str]:
    """(what may or may not have happened, the command that tells) for a write."""
    name = str(kwargs.get("name") or "")
    show = f"/show {name} tells." if name else "/concepts tells."
    match method:
        case "remember":
            return f"<{name}> was saved", show
        case "add_view":
            return f"the photo was added to <{name}>", show
        case "feedback":
            return "your answer was noted", show
        case "edit":
            return f"the description of <{name}> was changed", show
        case "recategorise":
            return f"the category of <{name}> was changed", show
        case "rename":
            return f"<{kwargs.get('old')}> was renamed to <{kwargs.get('new')}>", f"/show {kwargs.get('new')} tells."
        case "forget":
            return f"<{name}> was forgotten", show
        case "share":
            return f"<{name}> was shared into this group", show
        case "choose":
            return "your choice was saved", "/concepts tells."
        case "erase":
            return "everything was erased", "/export shows what is still stored; /forgetme confirm again is safe."
        case "update_settings":
            return "the settings were saved", "/threshold shows them."
        case "purge":
            return "the member's contributions were removed", "/concepts tells."
    return "it was done", "/concepts tells."  # pragma: no cover - every write is named above


class CeleryClient(RapClient):
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
        # Before the request is published, a failure truly changes nothing. After, a worker may
        # carry it out even though its reply never reaches us: then say only what is known.
        try:
            if blobs:
                async with redis.pipeline(transaction=False) as pipe:
                    for key, data in blobs.items():
                        pipe.set(key, data, ex=self.settings.image_ttl_s)
                    await pipe.execute()
            else:
                await redis.ping()  # fail fast, before publishing, when Redis is down
            # Kombu raises only when the message could not be handed to Redis (after its retries).
            await asyncio.to_thread(self._publish, method, encoded, request_id)
        except (RedisError, OSError, KombuOperationalError):
            raise RapError(BACKEND_DOWN, BACKEND_DOWN_MESSAGE) from None
        try:
            reply = await self._wait_for_reply(redis, method, request_id)
        except (RedisError, OSError):
            raise RapError(BACKEND_DOWN, unconfirmed_message(method, kwargs, timed_out=False)) from None
        if reply is None:
            if method in WRITE_METHODS:
                raise RapError(TIMEOUT, unconfirmed_message(method, kwargs, timed_out=True))
            raise RapError(TIMEOUT, BUSY_MESSAGE)
        return open_envelope(method, reply[1])

    async def _wait_for_reply(self, redis: AsyncRedis, method: str, request_id: str) -> Any:
        """BLPOP the reply; after a few seconds without one, make sure some worker serves the
        request's queue. If none does, cancel the request (so a worker that starts later never
        runs it) and say so now, instead of after the whole client timeout."""
        timeout = self.settings.client_timeout_s
        first = min(NO_WORKER_CHECK_S, timeout)
        reply = await redis.blpop([reply_key(request_id)], timeout=first)
        if reply is not None or first >= timeout:
            return reply
        queue = self.settings.pipeline_queue if queue_of(method) == PIPELINE else self.settings.store_queue
        if not await redis.zcount(presence_key(queue), time.time() - STALE_S, "+inf") and await self._cancel(
            redis, request_id
        ):
            raise RapError(BACKEND_DOWN, NO_WORKER_MESSAGE)
        return await redis.blpop([reply_key(request_id)], timeout=timeout - first)

    async def _cancel(self, redis: AsyncRedis, request_id: str) -> bool:
        """Mark the request answered ("no worker"), unless a worker has already started it. A worker
        counts its delivery before it reads this mark, so one of the two always sees the other."""
        cancelled = error_envelope(RapError(BACKEND_DOWN, NO_WORKER_MESSAGE))
        if not await redis.set(done_key(request_id), cancelled, ex=self.settings.result_expires_s, nx=True):
            return False  # a worker finished it meanwhile: its reply is on the way
        if int(await redis.get(deliveries_key(request_id)) or 0) == 0:
            return True
        await redis.delete(done_key(request_id))  # a worker took it after all: wait for it
        return False

    def _publish(self, method: str, encoded: dict[str, Any], request_id: str) -> None:
        task = PIPELINE_TASK if queue_of(method) == PIPELINE else STORE_TASK
        self.app.send_task(
            task,
            args=[method, encoded, request_id],
            task_id=request_id,
            # When this client stops waiting, a worker that has not started it drops it (and one
            # that has stops at its deadline): nothing the user was told failed happens later.
            expires=self.settings.client_timeout_s,
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5},
        )

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis[1].aclose()
            self._redis = None
        self.app.close()
