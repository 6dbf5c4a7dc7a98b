"""The permissions matrix: every command x role (group member, group moderator, private user; on
the web also a non-member of the group and a visitor who is signed out) x frontend (console,
Telegram through a fake Bot API over HTTP, Discord through discord.py's real command tree, the web
gallery's routes over HTTP) ends the same way, compared on the dispatcher's stable outcome codes
(bot.dispatch.Outcome: ok, refused, not_found, invalid), never on reply text: the chat frontends'
replies are observed as the dispatcher gives them (`bot.dispatch.observers`), the web's by the HTTP
status each code maps to (bot/web/pages.py). The gallery does not remember, share or erase (those
stay in the chats), and its export is always the user's own: those cells are not the web's.

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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
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

DONE, PERMISSION, CONTEXT, NOT_FOUND = "ok", "refused", "invalid", "not_found"
ROLES = ("member", "moderator", "private")
WEB_ONLY_ROLES = ("non-member", "signed out")  # a chat message always comes from a member, signed in
# command -> expected outcome code for (member, moderator, private)
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
CASES = [(command, role) for command in EXPECTED for role in (*ROLES, *WEB_ONLY_ROLES)]
NOT_ON_THE_WEB = {"remember", "share", "forgetme"}  # the gallery leaves them to the chats
# A web visitor outside the group finds no such memory; one signed out is sent to sign in.
WEB_ONLY_EXPECTED = {"non-member": NOT_FOUND, "signed out": PERMISSION}
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


def status_outcome(status: int, location: str = "") -> str:
    """The outcome code a web answer stands for (bot/web/pages.py maps codes to statuses; a
    visitor who is not signed in is sent to /login, or answered 401)."""
    if (status in (301, 302, 303) and location.endswith("/login")) or status == 401:
        return PERMISSION
    return {403: PERMISSION, 404: NOT_FOUND, 422: CONTEXT, 503: "unavailable"}.get(
        status, DONE if status < 400 else f"http {status}"
    )


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
DISCORD_REFUSED = "(refused by Discord) "


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
        return DISCORD_REFUSED + seen.why
    for label in ("Whole photo", "Forget theirs", "Erase everything"):
        if any(button.get("label") == label for button in seen.buttons):
            seen = await gateway.press(who, seen, label, case.group)
    assert isinstance(seen, Seen)
    if case.command == "export" and seen.files:
        assert list(seen.files) == ["rapbot-export.zip"]
    return str(seen.content)


WEB_SECRET = "a-session-secret-for-the-matrix-0123456789abcdef"
WEB_URL = "http://testserver"


def web_request(case: Case, key: str) -> tuple[str, str, dict[str, str]]:
    """The gallery's route for a case's command: (method, path, form)."""
    memory = f"/m/{key}"
    return {
        "addphoto": ("POST", f"{memory}/add-photo", {"name": "mine"}),
        "edit": ("POST", f"{memory}/edit", {"name": "mine", "description": "a new description"}),
        "rename": ("POST", f"{memory}/rename", {"name": "mine", "new_name": "renamed"}),
        "forget theirs": ("POST", f"{memory}/forget", {"name": "theirs"}),
        "lock": ("POST", f"{memory}/lock", {}),
        "unlock": ("POST", f"{memory}/unlock", {}),
        "threshold set": ("POST", f"{memory}/threshold", {"value": "0.33"}),
        "threshold read": ("GET", f"{memory}/settings", {}),
        "autocaption": ("POST", f"{memory}/autocaption", {"enabled": "true"}),
        "audit": ("GET", f"{memory}/audit", {}),
        "purge": ("POST", f"{memory}/purge", {"member_id": str(case.author)}),
        "export": ("GET", "/export", {}),
    }[case.command]


async def web_run(app: object, photo: bytes, case: Case) -> str:
    """Sign in as the console does (a sign-in link naming the user, and the group with their role
    in it), send the command's route, and read the outcome code off the HTTP status."""
    import httpx

    from bot.web.console_signin import sign_in_link
    from bot.web.settings import WebSettings

    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url=WEB_URL, headers={"accept": "text/html"}) as http:
        in_group = case.role in ("member", "moderator")
        key = "me" if case.group is None else f"g{case.group}"
        form: dict[str, str] = {}
        if case.role != "signed out":
            who = make_requester(str(case.actor), str(case.group) if in_group else None, case.moderator)
            link = sign_in_link(WebSettings(public_url=WEB_URL, session_secret=WEB_SECRET), who)
            assert link is not None and (await http.get(link)).status_code == 303
            page = (await http.get("/m/me")).text
            marker = 'name="csrf_token" value="'
            start = page.index(marker) + len(marker)
            form["csrf_token"] = page[start : page.index('"', start)]
        method, path, fields = web_request(case, key)
        files = {"file": ("ball.jpg", photo, "image/jpeg")} if case.command == "addphoto" else None
        if method == "GET":
            response = await http.get(path)
        else:
            response = await http.post(path, data={**form, **fields}, files=files)
        return status_outcome(response.status_code, response.headers.get("location", ""))


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def frontends(
    console_client: RapClient, tiny_photo: bytes, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, tuple[str, Run]]]:
    """name -> (platform, run one case): one console, one Telegram app polling a fake Bot API, the
    Discord bot's command tree, and the web gallery's app (signed in with console links), all on the
    module's client."""
    from bot.discord_bot.app import RapBot
    from bot.discord_bot.frontend import Frontend
    from bot.discord_bot.settings import DiscordSettings
    from bot.telegram_bot.app import build_application
    from bot.web.app import create_app
    from bot.web.settings import WebSettings

    web = create_app(WebSettings(public_url=WEB_URL, session_secret=WEB_SECRET), console_client)

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
                    "web": ("console", lambda case: web_run(web, tiny_photo, case)),
                }
            finally:
                await application.updater.stop()
                await application.stop()


@pytest.fixture(scope="module")
def observed() -> Iterator[dict[tuple[str, str], str]]:
    """(platform, user id) -> the outcome code of the last reply the dispatcher gave them."""
    from bot import dispatch

    codes: dict[tuple[str, str], str] = {}

    def observe(who: Requester, reply: dispatch.Reply) -> None:
        codes[(who.platform, who.user_id)] = reply.outcome

    dispatch.observers.append(observe)
    yield codes
    dispatch.observers.remove(observe)


@pytest.mark.parametrize("frontend", ["console", "telegram", "discord", "web"])
@pytest.mark.parametrize(("command", "role"), CASES)
async def test_every_frontend_ends_a_command_the_same_way(
    frontends: dict[str, tuple[str, Run]],
    observed: dict[tuple[str, str], str],
    console_client: RapClient,
    tiny_photo: bytes,
    frontend: str,
    command: str,
    role: str,
) -> None:
    if role in WEB_ONLY_ROLES and frontend != "web":
        pytest.skip("a chat message always comes from a signed-in member of its chat")
    if frontend == "web" and (
        command in NOT_ON_THE_WEB or (command == "export" and role in ("member", "moderator", "non-member"))
    ):
        pytest.skip("the gallery leaves this to the chats (its export is always the user's own)")
    platform, run = frontends[frontend]
    group = None if role == "private" else next(_ids)
    case = Case(command, role, next(_ids), next(_ids), group)
    await prepare(console_client, platform, case, tiny_photo)
    observed.clear()

    said = await run(case)

    if frontend == "web":
        code = said
    elif said.startswith(DISCORD_REFUSED):  # Discord itself refused it for the context (a DM, a server)
        code = CONTEXT
    else:
        code = observed.get((platform, str(case.actor)), "no reply")
    expected = WEB_ONLY_EXPECTED[role] if role in WEB_ONLY_ROLES else EXPECTED[command][ROLES.index(role)]
    assert code == expected, f"{frontend} ended {code}: {said}"
    if expected == DONE and frontend != "web":
        assert DONE_SAYS[command] in said, f"{frontend} said: {said}"
