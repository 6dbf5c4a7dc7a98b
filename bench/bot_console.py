"""Figures for bot/: how fast the shared grammar parses, and how long each console line takes end
to end on the configured profile (default: tiny) and database (default: the embedded Postgres).

    python bench/bot_console.py             # grammar only
    python bench/bot_console.py --session   # plus a scripted console session through the worker client
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from pathlib import Path

from bot.console import ConsoleSession, make_requester, open_client
from bot.grammar import ParseError, parse
from bot.settings import ConsoleSettings

MESSAGES = [
    "/remember bo: my shiba inu, loves chicken",
    "/remember <Mr Fluffy 🐶>：灰色の猫",
    "what is <bo> doing in the park today?",
    "/concepts 2",
    "/choose whole",
    "/threshold 0.8",
    "/frobnicate",
    "/remember bo my dog",
]


def bench_grammar(rounds: int) -> None:
    start = time.perf_counter()
    for _ in range(rounds):
        for message in MESSAGES:
            with contextlib.suppress(ParseError):
                parse(message, bot_username="rapbot")
    elapsed = time.perf_counter() - start
    per = elapsed / (rounds * len(MESSAGES))
    print(f"grammar: {rounds * len(MESSAGES)} messages in {elapsed:.3f} s = {per * 1e6:.1f} us per message")


async def bench_session(out: Path) -> None:
    from PIL import Image
    from skimage import data

    photo = out / "astronaut.jpg"
    Image.fromarray(data.astronaut()).save(photo, quality=90)
    started = time.perf_counter()
    client = await open_client()
    print(f"client opened in {time.perf_counter() - started:.2f} s")
    session = ConsoleSession(client, make_requester("bench", None, False), out, ConsoleSettings())
    lines = [
        f"/remember bench-{time.time_ns()}: an astronaut @{photo}",
        "/choose whole",
        f"@{photo}",
        f"@{photo} who is this?",
        "what does she like?",
        "/concepts",
    ]
    try:
        for line in lines:
            t0 = time.perf_counter()
            reply = await session.handle_line(line)
            first = reply.splitlines()[0] if reply else ""
            if first.startswith("sorry, something went wrong"):
                raise SystemExit(f"the console failed on {line!r}: {reply}")
            print(f"{time.perf_counter() - t0:7.3f} s  {line[:40]!r:44} -> {first[:60]}")
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5000)
    parser.add_argument("--session", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="CI size: 20 rounds, then the session")
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.session = 20, True
    bench_grammar(args.rounds)
    if args.session:
        asyncio.run(bench_session(Path(tempfile.mkdtemp(prefix="rapbot-bench-"))))


if __name__ == "__main__":
    main()
