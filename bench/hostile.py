"""What a hostile photo shape costs (issue 12): for each case (a normal 12 MP photo, a 36 MP photo,
40000x1, 1x40000, 10000x3 and 10000x1 strips) a fresh subprocess loads the profile's networks,
warms them up on a small photo, then runs remember (choosing the whole photo when asked) and
answer through the in-process pipeline (worker.transport.local.LocalClient over an embedded Postgres +
pgvector), and reports the time of those two requests and its peak RSS (getrusage of the child),
also as a ratio to the 12 MP photo. Target: no photo costs more than 1.5x a normal 12 MP photo.

    .venv/bin/python bench/hostile.py [--profile tiny] [--max-new-tokens 16] [--cases 12mp,40000x1]
                                      [--max-aspect 100000]   # the strips accepted: model/'s bounds alone
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import offline_env  # noqa: F401  (first: rapbot on sys.path, model hubs offline)

# name -> (width, height, format): the two camera photos are skimage's astronaut, upscaled.
CASES: dict[str, tuple[int, int, str]] = {
    "12mp": (4000, 3000, "JPEG"),
    "36mp": (7360, 4912, "JPEG"),
    "40000x1": (40000, 1, "PNG"),
    "1x40000": (1, 40000, "PNG"),
    "10000x3": (10000, 3, "PNG"),
    "10000x1": (10000, 1, "PNG"),
    "vga": (640, 480, "JPEG"),  # --smoke: a small normal photo
}
SMOKE_CASES = "vga,10000x1"


def make_photo(name: str) -> bytes:
    from PIL import Image
    from skimage import data

    width, height, fmt = CASES[name]
    buffer = io.BytesIO()
    if fmt == "JPEG":
        Image.fromarray(data.astronaut()).resize((width, height), Image.Resampling.BICUBIC).save(
            buffer, format="JPEG", quality=90
        )
    else:
        Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def child(photo: Path, database_url: str, profile: str, max_new_tokens: int) -> dict[str, Any]:
    """One case in this (fresh) process: warm up, then remember + answer the photo."""
    from PIL import Image

    from memory.store import MemoryStore
    from model.profiles import load_bundle
    from worker.errors import RapError
    from worker.schemas import Requester
    from worker.settings import WorkerSettings
    from worker.transport.local import LocalClient

    store = MemoryStore(database_url)
    client = LocalClient.for_store(store, load_bundle(profile), WorkerSettings(reply_max_new_tokens=max_new_tokens))
    who = Requester(platform="console", user_id="bench")

    async def remember(name: str, data: bytes) -> None:
        result = await client.remember(who, name, f"{name}, for the benchmark", [data])
        if result.status == "candidates" and result.pending_id:
            await client.choose(who, result.pending_id, "whole")

    # Warm up on a small photo: load every network and every lazy path first.
    from skimage import data as samples

    small = io.BytesIO()
    Image.fromarray(samples.chelsea()).save(small, format="JPEG", quality=90)
    await remember("warmup", small.getvalue())
    await client.answer(who, small.getvalue(), "what is <warmup> doing?")
    warm_rss = peak_rss_mb()

    image = photo.read_bytes()
    started = time.perf_counter()
    outcome = "answered"
    try:
        await remember("case", image)
        await client.answer(who, image, "what is <case> doing?")
    except RapError as err:
        outcome = f"refused ({err.code})"
    seconds = time.perf_counter() - started
    await client.close()
    return {"outcome": outcome, "seconds": seconds, "peak_rss_mb": peak_rss_mb(), "warm_rss_mb": warm_rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="tiny", help="model profile (tiny: random weights, offline)")
    parser.add_argument("--max-new-tokens", type=int, default=16, help="answer length")
    parser.add_argument(
        "--max-aspect",
        type=float,
        default=None,
        help="RAPBOT_MAX_PHOTO_ASPECT for the children (e.g. 100000: the worker accepts the strips, "
        "so model/'s own bounds are what keeps them cheap)",
    )
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, from {', '.join(CASES)}")
    parser.add_argument("--child", nargs=2, metavar=("PHOTO", "DATABASE_URL"), help=argparse.SUPPRESS)
    parser.add_argument("--smoke", action="store_true", help=f"CI size: cases {SMOKE_CASES}, 4-token answers")
    args = parser.parse_args()
    if args.smoke:
        args.cases, args.max_new_tokens = SMOKE_CASES, 4
    if args.child:
        result = asyncio.run(child(Path(args.child[0]), args.child[1], args.profile, args.max_new_tokens))
        print("RESULT " + json.dumps(result))
        return

    import pgserver

    from memory.migrate import upgrade

    cases = [name.strip() for name in args.cases.split(",") if name.strip()]
    unknown = [name for name in cases if name not in CASES]
    if unknown:
        parser.error(f"unknown cases: {', '.join(unknown)}")
    folder = Path(tempfile.mkdtemp(prefix="rbh-", dir="/tmp"))  # short: the socket path has a limit
    server = pgserver.get_server(folder / "pg", cleanup_mode="stop")
    results: dict[str, dict[str, Any]] = {}
    failed: list[str] = []
    try:
        server.psql("CREATE DATABASE hostile_template;")
        upgrade(server.get_uri("hostile_template").replace("postgresql://", "postgresql+psycopg://", 1))
        for number, name in enumerate(cases):
            photo = folder / f"{name}.{CASES[name][2].lower()}"
            photo.write_bytes(make_photo(name))
            database = f"hostile{number}"
            server.psql(f"CREATE DATABASE {database} TEMPLATE hostile_template;")
            url = server.get_uri(database).replace("postgresql://", "postgresql+psycopg://", 1)
            command = [sys.executable, __file__, "--child", str(photo), url, "--profile", args.profile]
            command += ["--max-new-tokens", str(args.max_new_tokens)]
            env = dict(os.environ)
            if args.max_aspect is not None:
                env["RAPBOT_MAX_PHOTO_ASPECT"] = str(args.max_aspect)
            done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
            lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
            if done.returncode != 0 or not lines:
                print(f"{name}: the child failed ({done.returncode})\n{done.stderr[-3000:]}", file=sys.stderr)
                failed.append(name)
                continue
            results[name] = json.loads(lines[-1].removeprefix("RESULT "))
            results[name]["bytes"] = photo.stat().st_size
            print(f"{name}: {results[name]}", file=sys.stderr)
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)

    base = results.get("12mp")
    aspect = f", RAPBOT_MAX_PHOTO_ASPECT={args.max_aspect:g}" if args.max_aspect is not None else ""
    print(f"\nprofile {args.profile}{aspect}, answers of {args.max_new_tokens} tokens; remember + answer")
    print("| photo | file | outcome | time | peak RSS | RSS over warm | peak RSS / 12 MP | time / 12 MP |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        width, height, _ = CASES[name]
        over = r["peak_rss_mb"] - r["warm_rss_mb"]
        rss_ratio = f"{r['peak_rss_mb'] / base['peak_rss_mb']:.2f}x" if base else "-"
        time_ratio = f"{r['seconds'] / base['seconds']:.2f}x" if base else "-"
        print(
            f"| {name} ({width}x{height}) | {r['bytes'] / 1e3:,.1f} kB | {r['outcome']} | {r['seconds']:.2f} s | "
            f"{r['peak_rss_mb']:,.0f} MB | {over:+,.0f} MB | {rss_ratio} | {time_ratio} |"
        )
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
