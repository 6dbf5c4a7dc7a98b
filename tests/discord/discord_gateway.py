"""Discord's side of slash commands, for tests through discord.py's real command tree.

`FakeDiscord` does what Discord's servers do before and after the bot's code runs:
- before: it refuses what Discord itself would never deliver, judged from the command payloads
  the bot registers (`to_dict`, what a sync sends): a command outside its contexts (server-only
  commands in a DM), a member without the command's default permissions (unless the server's
  admin let everyone use them), an option out of its range or length, a missing required option;
- then it builds a real INTERACTION_CREATE payload (type 2: name, options, resolved attachments
  and users; type 3: a button press) and hands it to `CommandTree._call` or the view store, so
  discord.py parses options, runs transformers and checks, and calls the cog;
- after: it answers the bot's HTTP calls (interaction callbacks, followups, edits, deletes) at
  the webhook adapter and records each message the user would see.

The bot code, discord.py, the worker client and the store are all real; only the network is not.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import discord
from discord.app_commands import AppCommandContext
from discord.webhook.async_ import AsyncWebhookAdapter, async_context

APPLICATION_ID = 900_000_000_000_000_001
EPHEMERAL = 64  # the message flag Discord uses for "only you can see this"
MODERATORS_ROLE = "Server Staff"  # a role with Manage Server in every fake server
_OPTION_TYPES = {3: str, 4: int, 5: bool, 10: float}
_ids = itertools.count(800_000_000_000_000_000)


def snowflake() -> int:
    return next(_ids)


@dataclass
class Person:
    """Someone on Discord; in a server, `manage_guild` or `roles` (by name) make them a moderator."""

    id: int = field(default_factory=snowflake)
    manage_guild: bool = False
    roles: tuple[str, ...] = ()

    @property
    def payload(self) -> dict[str, Any]:
        return {"id": str(self.id), "username": f"user{self.id}", "discriminator": "0", "avatar": None}

    @property
    def display_name(self) -> str:
        return f"user{self.id}"


@dataclass
class Upload:
    """A file the user attaches to an option (served back by the fake CDN)."""

    data: bytes
    filename: str = "photo.jpg"
    content_type: str | None = "image/jpeg"
    size: int | None = None  # as Discord declares it (defaults to the real size)


@dataclass
class Seen:
    """One message the user saw (or an edit of one), as the bot sent it over HTTP."""

    interaction_id: int
    how: str  # "response", "followup", "edit"
    content: str | None
    ephemeral: bool
    files: dict[str, bytes]
    buttons: list[dict[str, Any]]  # Discord's component dicts: label, custom_id, style
    message_id: int | None = None

    def button(self, label: str) -> str:
        """The custom id of the button labelled `label`."""
        for button in self.buttons:
            if button.get("label") == label:
                return str(button["custom_id"])
        raise KeyError(f"no button {label!r} among {[b.get('label') for b in self.buttons]}")


@dataclass
class Refused:
    """Discord did not deliver the interaction at all; `why` says what the user would see."""

    why: str


class _RecordingAdapter(AsyncWebhookAdapter):
    """Answers the bot's webhook and interaction-callback requests as Discord's API would."""

    def __init__(self, discord_: FakeDiscord) -> None:
        super().__init__()
        self.discord = discord_

    async def request(self, route: Any, session: Any, **kwargs: Any) -> Any:
        payload = kwargs.get("payload")
        multipart = kwargs.get("multipart")
        if payload is None and multipart:
            payload = json.loads(next(part["value"] for part in multipart if part["name"] == "payload_json"))
        files = {file.filename: _file_bytes(file) for file in kwargs.get("files") or []}
        return self.discord._answer(route, payload or {}, files)


def _file_bytes(file: discord.File) -> bytes:
    position = file.fp.tell()
    file.fp.seek(0)
    data = file.fp.read()
    file.fp.seek(position)
    return bytes(data)


class FakeDiscord:
    """Use: `discord = await FakeDiscord.start(bot)`; then `await discord.invoke(person, "remember",
    guild=guild_id, name="bo", image=Upload(...))` returns what the user saw, or `Refused`."""

    def __init__(self, bot: discord.Client, tree: discord.app_commands.CommandTree[Any]) -> None:
        self.bot = bot
        self.tree = tree
        self.state = bot._connection
        self.seen: list[Seen] = []
        self.files: dict[str, bytes] = {}  # the CDN: url -> bytes
        self.deleted: list[int] = []  # interactions whose original response (e.g. "thinking…") was deleted
        self.everyone_sees_moderation = False  # a server admin's override of default permissions
        self._by_token: dict[str, int] = {}  # interaction token -> interaction id
        self._guild_roles: dict[int, dict[str, int]] = {}  # guild -> role name -> role id
        self._adapter = _RecordingAdapter(self)

    def _connect(self) -> None:
        """Route the bot's webhook requests here (a context variable: set in the task that runs them)."""
        async_context.set(self._adapter)

    @classmethod
    async def start(cls, bot: discord.ext.commands.Bot) -> FakeDiscord:
        await bot._async_setup_hook()  # what login does first: the loop for the client's tasks
        fake = cls(bot, bot.tree)
        me = {"id": str(APPLICATION_ID), "username": "rapbot", "discriminator": "0", "avatar": None, "bot": True}
        bot._connection.user = discord.ClientUser(state=bot._connection, data=me | {"mfa_enabled": False})  # type: ignore[typeddict-item]
        bot.http.get_from_cdn = fake._cdn  # type: ignore[method-assign]
        return fake

    async def _cdn(self, url: str) -> bytes:
        return self.files[url]

    # ------------------------------------------------------------ invoking

    async def invoke(self, who: Person, command: str, guild: int | None = None, **options: Any) -> Seen | Refused:
        """Use `command` ("remember", or "memory lock" for a subcommand) as `who` would, in the
        server `guild` or in a DM; returns the last message the user saw, or Discord's refusal."""
        self._connect()
        path = command.split()
        spec = self._registered(path[0])
        refusal = self._discord_refuses(spec, who, guild)
        leaf = spec
        for name in path[1:]:
            leaf = next(o for o in leaf.get("options", []) if o["name"] == name)
        resolved: dict[str, Any] = {}
        values, problem = self._options(leaf.get("options", []), options, resolved, guild)
        if refusal is None:
            refusal = problem
        if refusal is not None:
            return Refused(refusal)
        for name in reversed(path[1:]):
            values = [{"type": 1, "name": name, "options": values}]
        data = {"id": str(snowflake()), "name": path[0], "type": 1, "options": values, "resolved": resolved}
        interaction = self._interaction(2, who, guild, data)
        before = len(self.seen)
        await self.tree._call(interaction)
        return self._last_since(before, interaction.id)

    async def press(self, who: Person, message: Seen, label: str, guild: int | None = None) -> Seen:
        """Press a button under `message`; returns what the presser saw next (an edit or a reply)."""
        assert message.message_id is not None, "only messages the bot sent can carry buttons"
        self._connect()
        custom_id = message.button(label)
        data = {"custom_id": custom_id, "component_type": 2}
        interaction = self._interaction(3, who, guild, data, message=self._message(message.message_id, ""))
        before = len(self.seen)
        tasks = asyncio.all_tasks()
        self.state._view_store.dispatch_view(2, custom_id, interaction)
        pressed = [t for t in asyncio.all_tasks() - tasks if t.get_name().startswith("discord-ui-view-dispatch")]
        await asyncio.gather(*pressed)  # the view runs the press in a task of its own
        return self._last_since(before, interaction.id)

    async def post(self, who: Person, guild: int | None, *uploads: Upload, content: str = "") -> discord.Message:
        """A message `who` posts in the server's channel (or their DM with the bot), not a command:
        a MESSAGE_CREATE through discord.py's own parser and event dispatch. As Discord does, a server
        message that does not mention the bot carries its attachments only with the Message Content
        intent. Returns once the bot's listeners (and the work they started) are done."""
        from bot import indexing

        self._connect()
        channel_id = str(guild + 1 if guild else who.id + 1)
        readable = guild is None or self.bot.intents.message_content or f"<@{APPLICATION_ID}>" in content
        attachments: list[dict[str, Any]] = []
        for upload in uploads if readable else ():
            resolved: dict[str, Any] = {}
            attachment_id = self._upload(upload, resolved)
            attachments.append(resolved["attachments"][str(attachment_id)])
        payload = self._message(snowflake(), content if readable else "")
        payload |= {"channel_id": channel_id, "author": who.payload, "attachments": attachments}
        if guild is not None:
            payload |= {"guild_id": str(guild), "member": self._member(who, guild, with_user=False)}
        before = asyncio.all_tasks()
        self.state.parse_message_create(payload)  # type: ignore[arg-type]
        message = self.state._get_message(int(payload["id"]))
        await asyncio.gather(*(asyncio.all_tasks() - before))
        await indexing.settle()
        assert message is not None
        return message

    async def timeout(self, message: Seen) -> Seen:
        """Let the buttons under `message` expire (as if nobody pressed them in time)."""
        self._connect()
        view = self.state._view_store._views[message.message_id]
        item = next(iter(view.values()))
        assert item.view is not None
        before = len(self.seen)
        item.view.stop()
        await item.view.on_timeout()
        return self.seen[before]

    def _last_since(self, before: int, interaction_id: int) -> Seen:
        mine = [seen for seen in self.seen[before:] if seen.interaction_id == interaction_id]
        assert mine, "the user saw nothing"
        return mine[-1]

    def shown(self, interaction_id: int) -> list[Seen]:
        return [seen for seen in self.seen if seen.interaction_id == interaction_id]

    # ------------------------------------------------------------ what Discord checks before delivering

    def _registered(self, name: str) -> dict[str, Any]:
        command = self.tree.get_command(name)
        assert command is not None, f"no command /{name}"
        spec: dict[str, Any] = command.to_dict(self.tree)
        return spec

    def _discord_refuses(self, spec: dict[str, Any], who: Person, guild: int | None) -> str | None:
        contexts = spec.get("contexts") or AppCommandContext(guild=True, dm_channel=True)._merge_to_array(None)
        where = 0 if guild is not None else 1  # guild, bot DM
        if contexts is not None and where not in contexts:
            return "Discord does not offer this command here (server only)."
        needed = spec.get("default_member_permissions")
        if guild is not None and needed is not None and not self.everyone_sees_moderation:
            has = discord.Permissions(manage_guild=True).value if who.manage_guild else 0
            if int(needed) & ~has:
                return "Discord does not offer this command to you (default permissions)."
        return None

    def _options(
        self, declared: list[dict[str, Any]], given: dict[str, Any], resolved: dict[str, Any], guild: int | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Option payloads for the given values, or Discord's client-side refusal of a value."""
        unknown = set(given) - {o["name"] for o in declared}
        assert not unknown, f"the command has no option {unknown}"
        values: list[dict[str, Any]] = []
        for option in declared:
            name, kind = option["name"], option["type"]
            value = given.get(name)
            if value is None:
                if option.get("required"):
                    return [], f"Discord requires the option {name}."
                continue
            if kind in _OPTION_TYPES:
                problem = _out_of_range(option, value)
                if problem is not None:
                    return [], problem
                values.append({"type": kind, "name": name, "value": value})
            elif kind == 11:  # attachment
                values.append({"type": kind, "name": name, "value": str(self._upload(value, resolved))})
            elif kind == 6:  # user
                values.append({"type": kind, "name": name, "value": str(value.id)})
                resolved.setdefault("users", {})[str(value.id)] = value.payload
                if guild is not None:
                    resolved.setdefault("members", {})[str(value.id)] = self._member(value, guild, with_user=False)
            else:  # pragma: no cover - no other option types in rapbot
                raise AssertionError(f"option type {kind}")
        return values, None

    def _upload(self, upload: Upload, resolved: dict[str, Any]) -> int:
        attachment_id = snowflake()
        url = f"https://cdn.discordapp.com/attachments/1/{attachment_id}/{upload.filename}"
        self.files[url] = upload.data
        payload: dict[str, Any] = {
            "id": str(attachment_id),
            "filename": upload.filename,
            "size": len(upload.data) if upload.size is None else upload.size,
            "url": url,
            "proxy_url": url,
        }
        if upload.content_type is not None:
            payload["content_type"] = upload.content_type
        resolved.setdefault("attachments", {})[str(attachment_id)] = payload
        return attachment_id

    # ------------------------------------------------------------ payloads

    def _roles(self, guild: int, who: Person) -> list[str]:
        """Role ids of `who`, making the server's roles (and adding them to discord.py's guild) on first use."""
        roles = self._guild_roles.setdefault(guild, {})
        wanted = [*who.roles, *([MODERATORS_ROLE] if who.manage_guild else [])]
        cached = self.state._get_or_create_unavailable_guild(guild)
        self.state._add_guild(cached)  # the bot's cache, where the interaction's member finds its roles
        for name in wanted:
            if name not in roles:
                roles[name] = snowflake()
                permissions = discord.Permissions(manage_guild=name == MODERATORS_ROLE)
                role = {"id": str(roles[name]), "name": name, "permissions": str(permissions.value), "position": 1}
                role |= {"color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0}
                cached._add_role(discord.Role(guild=cached, state=self.state, data=role))  # type: ignore[arg-type]
        return [str(roles[name]) for name in wanted]

    def _member(self, who: Person, guild: int, with_user: bool = True) -> dict[str, Any]:
        member: dict[str, Any] = {
            "roles": self._roles(guild, who),
            "joined_at": datetime.now(UTC).isoformat(),
            "deaf": False,
            "mute": False,
            "flags": 0,
            "permissions": str(discord.Permissions(manage_guild=who.manage_guild).value),
        }
        if with_user:
            member["user"] = who.payload
        return member

    def _interaction(
        self, kind: int, who: Person, guild: int | None, data: dict[str, Any], message: dict[str, Any] | None = None
    ) -> discord.Interaction[Any]:
        interaction_id = snowflake()
        token = f"token-{interaction_id}"
        self._by_token[token] = interaction_id
        channel: dict[str, Any] = {"id": str(guild + 1 if guild else who.id + 1), "type": 0 if guild else 1}
        if guild is not None:
            channel |= {"name": "general", "position": 0, "guild_id": str(guild), "permission_overwrites": []}
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(APPLICATION_ID),
            "type": kind,
            "token": token,
            "version": 1,
            "data": data,
            "channel": channel,
            "channel_id": channel["id"],
            "locale": "en-US",
            "attachment_size_limit": 25 * 1024 * 1024,
            "app_permissions": str(discord.Permissions.text().value),
            "entitlements": [],
            "authorizing_integration_owners": {},
            "context": 0 if guild else 1,
        }
        if guild is not None:
            payload["guild_id"] = str(guild)
            payload["guild_locale"] = "en-US"
            payload["member"] = self._member(who, guild)
        else:
            payload["user"] = who.payload
        if message is not None:
            payload["message"] = message
        return discord.Interaction(data=payload, state=self.state)  # type: ignore[arg-type]

    def _message(self, message_id: int, content: str) -> dict[str, Any]:
        bot_user = {"id": str(APPLICATION_ID), "username": "rapbot", "discriminator": "0", "avatar": None, "bot": True}
        return {
            "id": str(message_id),
            "channel_id": "1",
            "type": 0,
            "content": content,
            "author": bot_user,
            "attachments": [],
            "embeds": [],
            "mentions": [],
            "mention_roles": [],
            "pinned": False,
            "mention_everyone": False,
            "tts": False,
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
            "flags": 0,
            "components": [],
        }

    # ------------------------------------------------------------ Discord's answers to the bot

    def _answer(self, route: Any, payload: dict[str, Any], files: dict[str, bytes]) -> Any:
        method, token = route.method, str(route.webhook_token)
        if route.path.endswith("/callback"):
            interaction_id = int(route.webhook_id)
            body = payload.get("data") or {}
            flags = int(body.get("flags", 0))
            message_id = snowflake()
            if payload["type"] in (4, 7):  # a message, or an edit of the one with the button
                self._record(interaction_id, "response" if payload["type"] == 4 else "edit", body, files, message_id)
            callback = {"id": str(interaction_id), "type": payload["type"], "response_message_id": str(message_id)}
            callback |= {"response_message_loading": payload["type"] == 5, "response_message_ephemeral": bool(flags)}
            return {"interaction": callback}
        interaction_id = self._by_token.get(token, 0)
        if method == "DELETE":
            self.deleted.append(interaction_id)
            return None
        message_id = snowflake()
        if method == "POST":  # a followup
            self._record(interaction_id, "followup", payload, files, message_id)
        elif method == "PATCH":  # the original response edited
            self._record(interaction_id, "edit", payload, files, message_id)
        return self._message(message_id, str(payload.get("content") or ""))

    def _record(
        self, interaction_id: int, how: str, body: dict[str, Any], files: dict[str, bytes], message_id: int
    ) -> None:
        buttons = [item for row in body.get("components") or [] for item in row.get("components", [])]
        self.seen.append(
            Seen(
                interaction_id,
                how,
                body.get("content"),
                bool(int(body.get("flags", 0)) & EPHEMERAL),
                dict(files),
                buttons,
                message_id,
            )
        )


def _out_of_range(option: dict[str, Any], value: Any) -> str | None:
    """What Discord's client says for a value outside the option's declared range or length."""
    kind = _OPTION_TYPES[option["type"]]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        return f"Discord requires a {kind.__name__} for {option['name']}."
    if kind is str:
        if len(value) < option.get("min_length", 0) or len(value) > option.get("max_length", 6000):
            return f"Discord refuses {option['name']}: its length is out of range."
        return None
    low, high = option.get("min_value"), option.get("max_value")
    if (low is not None and value < low) or (high is not None and value > high):
        return f"Discord refuses {option['name']}: the value is out of range."
    return None
