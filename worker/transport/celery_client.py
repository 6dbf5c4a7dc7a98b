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

from worker.client import OPERATIONS, PIPELINE, RapClient, queue_of
from worker.domain.timing import RequestTiming
from worker.errors import BACKEND_DOWN, TIMEOUT, RapError
from worker.settings import WorkerSettings
from worker.transport.celery_app import PIPELINE_TASK, STORE_TASK, make_celery
from worker.transport.presence import STALE_S, presence_key
from worker.transport.reconnect import async_reconnect_options
from worker.transport.wire import deliveries_key, done_key, encode_kwargs, error_envelope, open_envelope, reply_key

BACKEND_DOWN_MESSAGE = "The bot's backend is not reachable right now. Nothing was changed; please try again later."
BUSY_MESSAGE = "The bot is very busy and did not answer in time. Please try again in a minute."
NO_WORKER_MESSAGE = (
    "No bot worker is running right now, so nothing was done. Please try again later; "
    "if this goes on, tell the bot's operator."
)
NO_WORKER_CHECK_S = 3.0  # wait this long for a reply before checking that a worker is there at all
WATCH_S = 1.0  # then check again this often, for as long as the client waits (a worker may die meanwhile)


def unconfirmed_message(method: str, kwargs: dict[str, Any], timed_out: bool, worker_lost: bool = False) -> str:
    """The request was published but its reply never came (Redis went away while waiting, the wait
    timed out, or the worker running it stopped with no other worker left): a worker may have
    carried it out. Say only what is known, per kind of request."""
    if worker_lost:
        first = "The bot's worker stopped while it was working on your request, and no other worker is running"
    elif timed_out:
        first = "The bot did not answer in time"
    else:
        first = "The bot's backend stopped answering after your request was sent"
    if method not in WRITE_METHODS:  # a read changes nothing, whether or not it ran
        again = "please try again in a minute" if timed_out else "please try again later"
        return f"{first}. Nothing was changed; {again}."
    what, check = _unconfirmed_write(method, kwargs)
    return f"{first}, so I could not confirm whether {what}: {check}"


# Service methods that change the memory (or erase a user); every other one only reads.
WRITE_METHODS = frozenset(
    {"remember", "choose", "add_view", "edit", "rename", "recategorise", "forget", "share", "erase", "feedback"}
    | {"update_settings", "purge"}
    | {"photo_index", "delete_photo_index"}  # the photo index's switch and deletion (docs/index.md)
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
        case "photo_index":
            return "the photo index was switched", "/index tells."
        case "delete_photo_index":
            return "the photo index was deleted", "/index tells."
    return "it was done", "/concepts tells."  # pragma: no cover - every write is named above


BACKGROUND_PRIORITY = 9  # kombu's Redis transport: 0 is served first, 9 last


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
                socket_timeout=WATCH_S + 10,  # BLPOP waits WATCH_S at a time
                **async_reconnect_options(),  # a connection a Redis restart killed is retried, not failed
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
            reply = await self._wait_for_reply(redis, method, request_id, kwargs)
        except (RedisError, OSError):
            raise RapError(BACKEND_DOWN, unconfirmed_message(method, kwargs, timed_out=False)) from None
        if reply is None:
            if method in WRITE_METHODS:
                raise RapError(TIMEOUT, unconfirmed_message(method, kwargs, timed_out=True))
            raise RapError(TIMEOUT, BUSY_MESSAGE)
        return open_envelope(method, reply[1])

    async def _wait_for_reply(self, redis: AsyncRedis, method: str, request_id: str, kwargs: dict[str, Any]) -> Any:
        """BLPOP the reply a second at a time and, from a few seconds on, watch that some worker
        serves the request's queue (its heartbeat), for as long as the client waits. When none does,
        mark the request answered (a worker that comes later never runs it) and say so now, not
        after the whole client timeout: "no worker" when none ever started it, "the worker stopped"
        when the one running it died (killed, machine lost) with no other left. While any worker is
        alive, a lost worker's request is redelivered to it and its answer still reaches the user."""
        deadline = time.monotonic() + self.settings.client_timeout_s
        queue = self.settings.pipeline_queue if queue_of(method) == PIPELINE else self.settings.store_queue
        wait = NO_WORKER_CHECK_S
        while (left := deadline - time.monotonic()) > 0:
            reply = await redis.blpop([reply_key(request_id)], timeout=min(left, wait))
            if reply is not None:
                return reply
            wait = WATCH_S
            if await redis.zcount(presence_key(queue), time.time() - STALE_S, "+inf"):
                continue
            if int((await redis.info("server")).get("uptime_in_seconds", STALE_S)) < STALE_S:
                continue  # Redis has just restarted (empty): the workers have not beaten again yet
            started = await self._cancel(redis, request_id)
            if started is None:
                continue  # a worker finished it meanwhile: its reply is on the way
            if not started:
                raise RapError(BACKEND_DOWN, NO_WORKER_MESSAGE)
            raise RapError(BACKEND_DOWN, unconfirmed_message(method, kwargs, timed_out=False, worker_lost=True))
        return None

    async def _cancel(self, redis: AsyncRedis, request_id: str) -> bool | None:
        """Mark the request answered, so no worker runs it from now on. None: a worker had already
        answered it. Else whether a worker had started it (it counts its delivery before it reads
        this mark, so one of the two always sees the other)."""
        cancelled = error_envelope(RapError(BACKEND_DOWN, NO_WORKER_MESSAGE))
        if not await redis.set(done_key(request_id), cancelled, ex=self.settings.result_expires_s, nx=True):
            return None
        return int(await redis.get(deliveries_key(request_id)) or 0) > 0

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
            # Redis serves a queue's priority 0 list first: background work (the photo index) waits
            # in the last one, behind every request a user waits for.
            **({"priority": BACKGROUND_PRIORITY} if OPERATIONS[method].background else {}),
        )

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis[1].aclose()
            self._redis = None
        self.app.close()
