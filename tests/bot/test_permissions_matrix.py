"""The permissions matrix: every command x role (group member, group moderator, private user) x
frontend (console, Telegram through a fake Bot API over HTTP, Discord through discord.py's real
command tree) ends the same way: done, refused for permission, or refused for the context.

Each case runs in its own group and with its own people, on one real client and database per
module. What the case starts from is stored through the client: a concept the actor added
("mine"), one another member added ("theirs"), and one in the actor's private memory ("own").
On Discord, the server's admin has let every member see the /memory commands (a server setting
that overrides their default permissions), so the bot's own refusals are what is compared;
tests/discord/test_discord_moderation.py covers the default, where Discord hides them."""

from __future__ import annotations

import io
import itertools
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from PIL import Image, ImageDraw

from bot.console import ConsoleSession, make_requester
from bot.settings import ConsoleSettings
from worker.client import RapClient
from worker.schemas import Requester

# The other frontends' test harnesses (pytest puts a test folder on sys.path only for its own tests).
_TESTS = Path(__file__).resolve().parents[1]
for _folder in ("telegram", "discord"):
    if str(_TESTS / _folder) not in sys.path:
        sys.path.insert(0, str(_TESTS / _folder))

from discord_gateway import FakeDiscord, Person, Refused, Seen, Upload  # noqa: E402
from telegram_fake_api import FakeBotApi  # noqa: E402
from telegram_harness import TOKEN, button_data, make_settings  # noqa: E402
from telegram_updates import Chatter  # noqa: E402

pytestmark = pytest.mark.asyncio(loop_scope="module")

DONE, PERMISSION, CONTEXT = "done", "refused-permission", "refused-context"
ROLES = ("member", "moderator", "private")
# command -> expected outcome for (member, moderator, private)
EXPECTED: dict[str, tuple[str, str, str]] = {
    "remember": (DONE, DONE, DONE),
    "addphoto": (DONE, DONE, DONE),
    "edit": (DONE, DONE, DONE),
    "rename": (DONE, DONE, DONE),
    "forget theirs": (PERMISSION, DONE, DONE),  # in a private memory, "theirs" is the user's own
    "lock": (PERMISSION, DONE, CONTEXT),
    "unlock": (PERMISSION, DONE, CONTEXT),
    "threshold set": (PERMISSION, DONE, CONTEXT),
    "threshold read": (DONE, DONE, CONTEXT),
    "autocaption": (PERMISSION, DONE, CONTEXT),
    "audit": (PERMISSION, DONE, CONTEXT),
    "purge": (PERMISSION, DONE, CONTEXT),
    "share": (DONE, DONE, CONTEXT),
    "export": (CONTEXT, CONTEXT, DONE),
    "forgetme": (CONTEXT, CONTEXT, DONE),
}
# What the user reads when the command was done (besides not being refused).
DONE_SAYS = {
    "remember": "remembered <new>",
    "addphoto": "added a photo to <mine>",
    "edit": "updated <mine>",
    "rename": "renamed <mine> to <renamed>",
    "forget theirs": "forgot <theirs>",
    "lock": "locked: yes",
    "unlock": "locked: no",
    "threshold set": "threshold: 0.33",
    "threshold read": "threshold:",
    "autocaption": "autocaption: on",
    "audit": "add  <theirs>",
    "purge": "removed 1 concept(s) contributed by",
    "share": "shared <own> into this group",
    "export": "Everything you stored",
    "forgetme": "erased: ",
}
CASES = [(command, role) for command in EXPECTED for role in ROLES]
_ids = itertools.count(10_000)


@dataclass
class Case:
    command: str
    role: str
    actor: int
    author: int  # another member of the group, who added "theirs"
    group: int | None

    @property
    def moderator(self) -> bool:
        return self.role == "moderator"


def outcome(said: str) -> str:
    """The outcome class of what the user was finally told."""
    if "works only in a" in said or "server only" in said:
        return CONTEXT
    if "moderator" in said.lower():
        return PERMISSION
    return DONE


@pytest.fixture(scope="module")
def tiny_photo() -> bytes:
    image = Image.new("RGB", (96, 96), "white")
    ImageDraw.Draw(image).ellipse((24, 24, 72, 72), fill="red")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG")
    return buffer.getvalue()


# ---------------------------------------------------------------- the starting point of a case


def chat_id(platform: str, group: int) -> int:
    """Telegram's group chat ids are negative; the console's and Discord's server ids are not."""
    return -group if platform == "telegram" else group


def requester(platform: str, user: int, group: int | None) -> Requester:
    if group is None:
        return Requester(platform=platform, user_id=str(user))
    return Requester(platform=platform, user_id=str(user), chat_kind="group", chat_id=str(chat_id(platform, group)))


async def store(client: RapClient, who: Requester, name: str, photo: bytes) -> None:
    result = await client.remember(who, name, f"{name}'s description", [photo])
    if result.status == "candidates" and result.pending_id is not None:
        result = await client.choose(who, result.pending_id, "whole")
    assert result.status == "stored", result


async def prepare(client: RapClient, platform: str, case: Case, photo: bytes) -> None:
    actor = requester(platform, case.actor, case.group)
    if case.command in ("addphoto", "edit", "rename"):
        await store(client, actor, "mine", photo)
    if case.command in ("forget theirs", "audit", "purge"):
        author = requester(platform, case.author if case.group else case.actor, case.group)
        await store(client, author, "theirs", photo)
    if case.command == "share":
        await store(client, requester(platform, case.actor, None), "own", photo)


def typed(case: Case) -> str:
    """The command as typed in the console and in Telegram."""
    return {
        "remember": "/remember new: a red ball",
        "addphoto": "/addphoto mine",
        "edit": "/edit mine: a new description",
        "rename": "/rename mine: renamed",
        "forget theirs": "/forget theirs",
        "lock": "/lock",
        "unlock": "/unlock",
        "threshold set": "/threshold 0.33",
        "threshold read": "/threshold",
        "autocaption": "/autocaption on",
        "audit": "/audit",
        "purge": f"/purge {case.author}",
        "share": "/share own",
        "export": "/export",
        "forgetme": "/forgetme confirm",
    }[case.command]


# ---------------------------------------------------------------- the three frontends

Run = Callable[[Case], Awaitable[str]]


async def console_run(client: RapClient, photo_path: Path, case: Case, out: Path) -> str:
    who = make_requester(str(case.actor), None if case.group is None else str(case.group), case.moderator)
    session = ConsoleSession(client, who, out, ConsoleSettings())
    line = typed(case)
    if case.command in ("remember", "addphoto"):
        line += f" @{photo_path}"
    said = await session.handle_line(line)
    if "/choose N" in said:
        said = await session.handle_line("/choose whole")
    return said


async def telegram_run(api: FakeBotApi, photo: bytes, case: Case) -> str:
    group = None if case.group is None else chat_id("telegram", case.group)
    if group is not None and case.moderator:
        api.chat_members[(group, case.actor)] = "administrator"
    chatter = Chatter(api, case.actor, group)
    before, calls = len(api.sent_texts(chatter.chat_id)), len(api.calls)
    if case.command in ("remember", "addphoto"):
        chatter.photo(photo, caption=typed(case))
    else:
        chatter.text(typed(case))
    said = (await api.wait_for_replies(chatter.chat_id, before))[-1]
    sent = [c for c in api.calls[calls:] if c.chat_id == chatter.chat_id and c.params.get("reply_markup")]
    buttons = dict(button_data(sent[-1].params)) if sent else {}
    for label in ("whole photo", "forget theirs"):
        if label in buttons:
            before = len(api.sent_texts(chatter.chat_id))
            chatter.press({}, buttons[label])
            said = (await api.wait_for_replies(chatter.chat_id, before))[-1]
    return said


async def discord_run(gateway: FakeDiscord, photo: bytes, case: Case) -> str:
    who = Person(case.actor, manage_guild=case.moderator)
    image = Upload(photo)
    command, options = {
        "remember": ("remember", {"name": "new", "description": "a red ball", "image": image}),
        "addphoto": ("addphoto", {"name": "mine", "image": image}),
        "edit": ("edit", {"name": "mine", "description": "a new description"}),
        "rename": ("rename", {"old": "mine", "new": "renamed"}),
        "forget theirs": ("forget", {"name": "theirs"}),
        "lock": ("memory lock", {}),
        "unlock": ("memory unlock", {}),
        "threshold set": ("memory threshold", {"value": 0.33}),
        "threshold read": ("memory threshold", {}),
        "autocaption": ("memory autocaption", {"enabled": True}),
        "audit": ("memory audit", {}),
        "purge": ("memory purge", {"member": Person(case.author)}),
        "share": ("share", {"name": "own"}),
        "export": ("export", {}),
        "forgetme": ("forgetme", {}),
    }[case.command]
    seen = await gateway.invoke(who, command, case.group, **options)
    if isinstance(seen, Refused):
        return seen.why
    for label in ("Whole photo", "Forget theirs", "Erase everything"):
        if any(button.get("label") == label for button in seen.buttons):
            seen = await gateway.press(who, seen, label, case.group)
    assert isinstance(seen, Seen)
    if case.command == "export" and seen.files:
        assert list(seen.files) == ["rapbot-export.zip"]
    return str(seen.content)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def frontends(
    console_client: RapClient, tiny_photo: bytes, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, tuple[str, Run]]]:
    """name -> (platform, run one case): one console, one Telegram app polling a fake Bot API, and
    the Discord bot's command tree, all on the module's client."""
    from bot.discord_bot.app import RapBot
    from bot.discord_bot.frontend import Frontend
    from bot.discord_bot.settings import DiscordSettings
    from bot.telegram_bot.app import build_application

    folder = tmp_path_factory.mktemp("matrix")
    photo_path = folder / "ball.jpg"
    photo_path.write_bytes(tiny_photo)
    discord_settings = DiscordSettings(token=None, sync_commands=False, user_requests_per_minute=1000)
    bot = RapBot(Frontend.create(discord_settings, console_client))
    await bot.add_rapbot_cogs()
    gateway = await FakeDiscord.start(bot)
    gateway.everyone_sees_moderation = True
    async with FakeBotApi(TOKEN) as api:
        application = build_application(make_settings(api, user_rate_limit=1000, group_rate_limit=1000), console_client)
        async with application:
            await application.start()
            assert application.updater is not None
            await application.updater.start_polling(poll_interval=0.0, timeout=1)
            try:
                yield {
                    "console": ("console", lambda case: console_run(console_client, photo_path, case, folder)),
                    "telegram": ("telegram", lambda case: telegram_run(api, tiny_photo, case)),
                    "discord": ("discord", lambda case: discord_run(gateway, tiny_photo, case)),
                }
            finally:
                await application.updater.stop()
                await application.stop()


@pytest.mark.parametrize("frontend", ["console", "telegram", "discord"])
@pytest.mark.parametrize(("command", "role"), CASES)
async def test_every_frontend_ends_a_command_the_same_way(
    frontends: dict[str, tuple[str, Run]],
    console_client: RapClient,
    tiny_photo: bytes,
    frontend: str,
    command: str,
    role: str,
) -> None:
    platform, run = frontends[frontend]
    group = None if role == "private" else next(_ids)
    case = Case(command, role, next(_ids), next(_ids), group)
    await prepare(console_client, platform, case, tiny_photo)

    said = await run(case)

    expected = EXPECTED[command][ROLES.index(role)]
    assert outcome(said) == expected, f"{frontend} said: {said}"
    if expected == DONE:
        assert DONE_SAYS[command] in said, f"{frontend} said: {said}"
