"""The Discord bot: `build_bot(settings, client)` assembles it, `run()` starts it with a token."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import discord
from discord.ext import commands

from bot.discord_bot.commands import MemoryCommands
from bot.discord_bot.errors import on_app_command_error
from bot.discord_bot.frontend import Frontend
from bot.discord_bot.index_photos import PhotoIndexCommands
from bot.discord_bot.mentions import MentionHandler
from bot.discord_bot.moderation import ModeratorCommands
from bot.discord_bot.settings import DiscordSettings
from bot.startup import StartupError as ClientStartupError
from bot.startup import check_settings, open_client
from worker.client import RapClient
from worker.errors import RapError
from worker.ops.logs import JsonFormatter
from worker.ops.metered import observe_frontend
from worker.settings import WorkerSettings

log = logging.getLogger(__name__)


class StartError(RuntimeError):
    """The bot cannot start; the message says why and what to do, and never holds the token."""


class MissingToken(StartError):
    """No token configured, or Discord rejected it."""


def bot_intents(photo_index: bool = False) -> discord.Intents:
    """Only what the features need. No privileged intent: message content is not needed, because
    Discord includes the content of DMs and of messages that mention the bot anyway."""
    intents = discord.Intents.none()
    intents.guilds = True  # guild ids, roles and permissions of members using commands
    intents.guild_messages = True  # messages in servers that mention the bot
    intents.dm_messages = True  # messages in DMs
    # The photo index (docs/index.md) reads the images of messages that do not mention the bot: the
    # privileged Message Content intent, asked for only when RAPBOT_DISCORD_PHOTO_INDEX is set.
    intents.message_content = photo_index
    return intents


class RapBot(commands.Bot):
    def __init__(self, frontend: Frontend, intents: discord.Intents | None = None) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,  # no text commands: slash commands only
            intents=intents or bot_intents(photo_index=frontend.settings.photo_index),
            help_command=None,
            # Names and descriptions are user text: never let them ping @everyone, roles or users.
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.frontend = frontend
        self.tree.on_error = on_app_command_error  # type: ignore[method-assign]

    async def setup_hook(self) -> None:
        await self.add_rapbot_cogs()
        if self.frontend.settings.sync_commands:
            await self.sync_app_commands()

    async def add_rapbot_cogs(self) -> None:
        memory_commands = MemoryCommands(self.frontend)
        await self.add_cog(memory_commands)
        self.tree.add_command(memory_commands.ask_menu)
        await self.add_cog(ModeratorCommands(self.frontend))
        await self.add_cog(MentionHandler(self, self.frontend))
        await self.add_cog(PhotoIndexCommands(self.frontend))  # /index, /find, photos posted (docs/index.md)

    async def sync_app_commands(self) -> list[discord.app_commands.AppCommand]:
        """To the development guild when one is set (instant), otherwise globally (may take an hour)."""
        guild_id = self.frontend.settings.dev_guild_id
        if guild_id is None:
            synced = await self.tree.sync()
            log.info("synced %d commands globally", len(synced))
            return synced
        guild = discord.Object(id=guild_id)
        self.tree.copy_global_to(guild=guild)
        synced = await self.tree.sync(guild=guild)
        log.info("synced %d commands to guild %s", len(synced), guild_id)
        return synced

    async def on_message(self, message: discord.Message, /) -> None:
        """No text commands: a mention is a question (see mentions.py), never a command name."""

    async def on_ready(self) -> None:
        log.info("rapbot is online as %s in %d server(s)", self.user, len(self.guilds))


def build_bot(settings: DiscordSettings, client: RapClient) -> RapBot:
    """The bot, ready for `start(token)`; the caller owns `client` and closes it."""
    return RapBot(Frontend.create(settings, client))


def require_token(settings: DiscordSettings) -> str:
    token = settings.token.get_secret_value().strip() if settings.token is not None else ""
    if not token:
        raise MissingToken(
            "No Discord token. Create a bot in the Discord Developer Portal and set RAPBOT_DISCORD_TOKEN "
            "(in the environment or .env)."
        )
    return token


async def _serve(settings: DiscordSettings, token: str) -> None:
    try:
        client = await asyncio.to_thread(open_client)
    except ClientStartupError as err:
        raise StartError(f"rapbot discord: {err}") from None
    client = observe_frontend(client, configure_logs=False)  # run() set the log format
    try:
        async with build_bot(settings, client) as bot:
            await bot.start(token)
    except discord.LoginFailure:
        # discord.py's own message never holds the token; ours names the setting, not its value.
        raise MissingToken("Discord rejected the token: check RAPBOT_DISCORD_TOKEN.") from None
    except discord.HTTPException as err:  # Discord answered, but not with a session (5xx, 429...)
        answer = " ".join(str(err.text or "").split())[:200] or "no details"
        raise StartError(f"Discord refused to start the bot: it answered HTTP {err.status} ({answer}).") from None
    except (aiohttp.ClientError, OSError) as err:
        raise StartError(f"Cannot reach Discord ({type(err).__name__}): check this machine's network.") from None
    finally:
        await client.close()


def _log_format() -> dict[str, Any]:
    """JSON log lines when RAPBOT_LOG_JSON=1."""
    return {"formatter": JsonFormatter()} if WorkerSettings().log_json else {}


def run(settings: DiscordSettings | None = None) -> None:
    """Run the bot until interrupted (`rapbot discord`). A missing or rejected token, or a worker
    that cannot start, ends the process with a message (never the token) and a non-zero status."""
    settings = settings or DiscordSettings()
    try:
        token = require_token(settings)
        check_settings()  # a malformed URL or limit: one line, before anything starts
        discord.utils.setup_logging(level=logging.INFO, **_log_format())
        asyncio.run(_serve(settings, token))
    except ClientStartupError as err:
        raise SystemExit(f"rapbot discord: {err}") from None
    except StartError as err:
        raise SystemExit(str(err)) from None
    except RapError as err:
        raise SystemExit(f"rapbot could not start: {err.message}") from None
    except KeyboardInterrupt:
        log.info("stopped")
