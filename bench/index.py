"""Photo index benchmark (docs/index.md): how fast posted photos are indexed, how fast /find
answers in a big index, and whether an indexing burst slows answers.

    .venv/bin/python bench/index.py                  # 100 photos indexed, 100k indexed photos
    .venv/bin/python bench/index.py --smoke          # CI size: seconds
    RAPBOT_PROFILE=cpu .venv/bin/python bench/index.py --photos 100 --find-photos 100000

1. Indexing: `--photos` real photos (scikit-image's) through the in-process client (the profile's
   networks, RAPBOT_PROFILE, default tiny), one photo per call and `--batch` per call: photos/s.
2. Answers with and without a burst: p50 of `--answers` caption answers one after another, alone,
   then while `--photos` photos are being indexed concurrently (each its own index_photo call, as
   the bots send them): the ratio is what the burst costs an answer.
3. /find at scale: `--find-photos` indexed photos (a whole-photo and a crop embedding each, 10%
   of them recognised as one concept) bulk-loaded into one memory, and the same number spread
   over `--memories` memories; p50/p99 of the store's exact searches (PhotoIndex.by_text: the
   text query; with_concept: a concept's newest photos) and of the text embedding itself.

Prints one table; asserts only that the searches find what was loaded."""

from __future__ import annotations

import argparse
import asyncio
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from memory.migrate import upgrade
from memory.photo_index import PhotoIndex
from memory.settings import MemorySettings
from memory.store import MemoryStore
from memory.types import Actor

ENCODER = "bench:random"
CHUNK = 10_000


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--photos", type=int, default=100, help="photos indexed (and the size of the burst)")
    p.add_argument("--batch", type=int, default=8, help="photos per index_photo call in the batched run")
    p.add_argument("--answers", type=int, default=20, help="caption answers timed alone and during the burst")
    p.add_argument("--find-photos", type=int, default=100_000, help="indexed photos for the /find timings")
    p.add_argument("--memories", type=int, default=10_000, help="memories the second /find layout spreads them over")
    p.add_argument("--finds", type=int, default=200, help="/find searches timed per layout")
    p.add_argument("--dim", type=int, default=768, help="embedding dimension of the bulk-loaded index")
    p.add_argument("--url", help="an existing Postgres+pgvector (default: a fresh embedded one, deleted after)")
    p.add_argument("--skip-networks", action="store_true", help="only the /find timings (no networks loaded)")
    p.add_argument("--smoke", action="store_true", help="CI size: 6 photos, 3 answers, 2,000 indexed photos")
    args = p.parse_args()
    if args.smoke:
        args.photos, args.batch, args.answers = 6, 3, 3
        args.find_photos, args.memories, args.finds = 2_000, 100, 20
    return args


def pct(times: list[float]) -> tuple[float, float]:
    ms = np.array(times) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def real_photos(n: int) -> list[bytes]:
    from PIL import Image
    from skimage import data

    names = ("astronaut", "chelsea", "coffee", "rocket", "cat", "hubble_deep_field")
    found = []
    for i in range(n):
        image = Image.fromarray(getattr(data, names[i % len(names)])()).convert("RGB")
        if i >= len(names):  # a different photo each time: no cache anywhere helps
            image = image.rotate(i % 17, expand=True).resize((image.width - i % 37, image.height - i % 29))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=88)
        found.append(buffer.getvalue())
    return found


# ---------------------------------------------------------------- 1 and 2: the networks


async def networks(url: str, args: argparse.Namespace) -> dict[str, Any]:
    from model.profiles import load_bundle
    from worker.schemas import Requester
    from worker.settings import WorkerSettings
    from worker.transport.local import LocalClient

    bundle = load_bundle()
    store = MemoryStore(url, MemorySettings(database_url=url))
    client = LocalClient.for_store(store, bundle, WorkerSettings())
    mod = Requester(platform="bench", user_id="mod", chat_kind="group", chat_id="family", moderator=True)
    photos = real_photos(args.photos)
    result: dict[str, Any] = {"profile": bundle.profile}
    try:
        stored = await client.remember(mod, "bo", "our cat", [photos[1]])
        if stored.status == "candidates" and stored.pending_id:
            await client.choose(mod, stored.pending_id, "whole")
        await client.photo_index(mod, enabled=True)
        await client.answer(mod, photos[0], None)  # warm: every network loaded once
        await client.index_photo(mod, [photos[0]], ["warm"])

        t0 = time.perf_counter()
        for i, photo in enumerate(photos):
            await client.index_photo(mod, [photo], [f"one/{i}"])
        result["one_per_call"] = len(photos) / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for start in range(0, len(photos), args.batch):
            chunk = photos[start : start + args.batch]
            await client.index_photo(mod, chunk, [f"batch/{start + i}" for i in range(len(chunk))])
        result["batched"] = len(photos) / (time.perf_counter() - t0)

        async def answers() -> list[float]:
            times = []
            for i in range(args.answers):
                t = time.perf_counter()
                await client.answer(mod, photos[i % len(photos)], None)
                times.append(time.perf_counter() - t)
            return times

        result["alone"] = pct(await answers())

        from bot.indexing import index_posted

        async def index_one(i: int, photo: bytes) -> None:  # as the bots send a posted photo
            async def given() -> list[bytes]:
                return [photo]

            await index_posted(client, mod, given, [f"burst/{i}"])

        burst = [asyncio.create_task(index_one(i, photo)) for i, photo in enumerate(photos)]
        result["during"] = pct(await answers())
        result["burst_left"] = sum(not task.done() for task in burst)
        await asyncio.gather(*burst)
    finally:
        await client.close()
    return result


# ---------------------------------------------------------------- 3: /find at scale


def unit_rows(rng: np.random.Generator, n: int, dim: int) -> npt.NDArray[np.float32]:
    rows = rng.standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def bulk_load(url: str, args: argparse.Namespace, rng: np.random.Generator, layout: str) -> list[tuple[int, Any]]:
    """COPY `--find-photos` indexed photos into one memory ("one") or spread over `--memories`
    ("spread"); returns (scope id, a stored whole-photo vector) to query per memory timed."""
    import psycopg
    from pgvector.psycopg import register_vector

    n = args.find_photos
    memories = 1 if layout == "one" else args.memories
    dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn) as conn:
        register_vector(conn)
        cur = conn.cursor()
        first_scope = int(cur.execute("SELECT coalesce(max(id), 0) + 1 FROM scopes").fetchone()[0])  # type: ignore[index]
        first_photo = int(cur.execute("SELECT coalesce(max(id), 0) + 1 FROM indexed_photos").fetchone()[0])  # type: ignore[index]
        first_concept = int(cur.execute("SELECT coalesce(max(id), 0) + 1 FROM concepts").fetchone()[0])  # type: ignore[index]
        scope_ids = list(range(first_scope, first_scope + memories))
        with cur.copy("COPY scopes (id, platform, kind, external_id) FROM STDIN") as copy:
            for sid in scope_ids:
                copy.write_row((sid, "bench", "group", f"{layout}-{sid}"))
        with cur.copy("COPY photo_index_settings (scope_id, enabled, since) FROM STDIN") as copy:
            for sid in scope_ids:
                copy.write_row((sid, True, "2026-01-01"))
        with cur.copy(
            "COPY concepts (id, scope_id, name, normalised_name, name_skeleton, category, created_by) FROM STDIN"
        ) as copy:
            for offset, sid in enumerate(scope_ids):
                copy.write_row((first_concept + offset, sid, "bo", "bo", "bo", "cat", "bench"))
        owner = np.arange(n) % memories  # photo i belongs to scope_ids[owner[i]]
        sample: dict[int, Any] = {}
        for start in range(0, n, CHUNK):
            count = min(CHUNK, n - start)
            ids = range(first_photo + start, first_photo + start + count)
            with cur.copy(
                "COPY indexed_photos (id, scope_id, posted_by, location, width, height, posted_at) FROM STDIN"
            ) as copy:
                for i, pid in enumerate(ids):
                    sid = scope_ids[owner[start + i]]
                    copy.write_row((pid, sid, "bench", f"https://t.me/c/1/{pid}", 640, 480, "2026-12-01"))
            wholes, crops = unit_rows(rng, count, args.dim), unit_rows(rng, count, args.dim)
            with cur.copy(
                "COPY indexed_embeddings (photo_id, scope_id, kind, encoder, dim, embedding) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["int8", "int8", "varchar", "varchar", "int4", "vector"])
                for i, pid in enumerate(ids):
                    sid = scope_ids[owner[start + i]]
                    copy.write_row((pid, sid, "whole", ENCODER, args.dim, wholes[i]))
                    copy.write_row((pid, sid, "crop", ENCODER, args.dim, crops[i]))
                    sample.setdefault(sid, wholes[i])
            with cur.copy("COPY indexed_recognitions (photo_id, scope_id, concept_id, similarity) FROM STDIN") as copy:
                for i, pid in enumerate(ids):
                    if (start + i) % 10 == 0:
                        sid_index = int(owner[start + i])
                        copy.write_row((pid, scope_ids[sid_index], first_concept + sid_index, 0.9))
        for table in ("scopes", "concepts", "indexed_photos", "indexed_embeddings", "indexed_recognitions"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE indexed_photos, indexed_embeddings, indexed_recognitions, scopes, concepts")
    return list(sample.items())


def time_finds(
    store: MemoryStore, targets: list[tuple[int, Any]], finds: int, rng: np.random.Generator
) -> dict[str, Any]:
    index = PhotoIndex(store)
    actor = Actor("bench")
    text_times, concept_times, per_memory = [], [], []
    for _ in range(finds):
        scope_id, vector = targets[int(rng.integers(0, len(targets)))]
        query = vector + 0.05 * unit_rows(rng, 1, vector.shape[0])[0]
        t = time.perf_counter()
        found = index.by_text(scope_id, actor, query / np.linalg.norm(query), ENCODER, limit=10)
        text_times.append(time.perf_counter() - t)
        assert found and found[0].score is not None and found[0].score > 0.9, "the photo queried is found first"
        t = time.perf_counter()
        _, total, _ = index.with_concept(scope_id, actor, "bo", limit=10)
        concept_times.append(time.perf_counter() - t)
        per_memory.append(total)
    return {"text": pct(text_times), "concept": pct(concept_times), "photos_per_memory": float(np.mean(per_memory))}


def main() -> None:
    args = parse_args()
    rng = np.random.default_rng(0)
    tmp: Path | None = None
    if args.url:
        url = args.url
    else:
        import pgserver

        tmp = Path(tempfile.mkdtemp(prefix="rbindex-", dir="/tmp"))
        url = pgserver.get_server(tmp, cleanup_mode="stop").get_uri().replace("postgresql://", "postgresql+psycopg://")
    rows: list[tuple[str, str]] = []
    try:
        upgrade(url)
        if not args.skip_networks:
            got = asyncio.run(networks(url, args))
            rows += [
                (f"indexing, one photo per call ({got['profile']})", f"{got['one_per_call']:.2f} photos/s"),
                (f"indexing, {args.batch} photos per call", f"{got['batched']:.2f} photos/s"),
                (f"answer p50/p99, alone ({args.answers})", "{:.0f} / {:.0f} ms".format(*got["alone"])),
                (
                    f"answer p50/p99, during a burst of {args.photos}",
                    "{:.0f} / {:.0f} ms ({} photos still queued after)".format(*got["during"], got["burst_left"]),
                ),
                ("answer p50 change during the burst", f"{(got['during'][0] / got['alone'][0] - 1) * 100:+.0f}%"),
            ]
        store = MemoryStore(url, MemorySettings(database_url=url))
        for layout, label in (("one", "1 memory"), ("spread", f"{args.memories:,} memories")):
            t0 = time.perf_counter()
            targets = bulk_load(url, args, rng, layout)
            loaded = time.perf_counter() - t0
            timed = time_finds(store, targets, args.finds, rng)
            per = args.find_photos if layout == "one" else args.find_photos // args.memories
            rows += [
                (
                    f"/find text p50/p99, {args.find_photos:,} photos in {label} ({per:,} each)",
                    "{:.1f} / {:.1f} ms".format(*timed["text"]),
                ),
                (f"/find <bo> p50/p99, {label}", "{:.1f} / {:.1f} ms".format(*timed["concept"])),
                (f"  (bulk load {label})", f"{loaded:.0f} s"),
            ]
        store.close()
        if not args.skip_networks:
            from model.profiles import load_bundle

            encoder = load_bundle().encoder
            encoder.embed_texts(["a photo of a cat"])
            times = []
            for i in range(max(5, args.finds // 10)):
                t = time.perf_counter()
                encoder.embed_texts([f"a photo of a cat at the beach {i}"])
                times.append(time.perf_counter() - t)
            rows.append(("text embedding of the query p50/p99", "{:.1f} / {:.1f} ms".format(*pct(times))))
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")


if __name__ == "__main__":
    main()
