"""The slash commands every user has, and the "Ask rapbot" message context menu. Each turns its
options into a grammar command for the shared dispatcher (bot.dispatch, via Frontend.run)."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot import grammar
from bot.discord_bot import identity
from bot.discord_bot.attachments import first_image
from bot.discord_bot.frontend import Frontend
from bot.discord_bot.reply import InteractionReply
from bot.grammar import MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, MAX_PAGE, MAX_QUESTION_CHARS, clean_name
from worker.schemas import Requester

log = logging.getLogger(__name__)

AUTOCOMPLETE_LIMIT = 25  # Discord shows at most 25 choices
NAME_MAX = MAX_NAME_CHARS
# Discord itself refuses option values out of these ranges, with its own message, before the bot
# sees them: the same limits as the typed grammar of the console and Telegram (bot/grammar.py).
Name = app_commands.Range[str, 1, NAME_MAX]
Description = app_commands.Range[str, 0, MAX_DESCRIPTION_CHARS]
NewDescription = app_commands.Range[str, 1, MAX_DESCRIPTION_CHARS]
QuestionText = app_commands.Range[str, 1, MAX_QUESTION_CHARS]
Page = app_commands.Range[int, 1, MAX_PAGE]


class MemoryCommands(commands.Cog):
    """Remember, ask, list, show, edit, rename, forget, share, export, forget me."""

    def __init__(self, frontend: Frontend) -> None:
        self.frontend = frontend
        self.client = frontend.client
        # Context menus cannot live in a cog's class body: the bot adds this one to its tree.
        self.ask_menu = app_commands.ContextMenu(name="Ask rapbot", callback=self.ask_about_message)

    # ------------------------------------------------------------ remembering

    @app_commands.command(name="remember", description="Remember a thing or person from a photo.")
    @app_commands.describe(
        name="A short name, e.g. bo",
        description="What to know about it, e.g. my shiba inu",
        image="Its photo",
        image2="Another photo of it (optional: more photos, better recognition)",
        image3="A third photo of it (optional)",
    )
    async def remember(
        self,
        interaction: discord.Interaction,
        name: Name,
        description: Description,
        image: discord.Attachment,
        image2: discord.Attachment | None = None,
        image3: discord.Attachment | None = None,
    ) -> None:
        photos = [photo for photo in (image, image2, image3) if photo is not None]
        await self.frontend.run(interaction, grammar.Remember(clean_name(name), description.strip()), images=photos)

    @app_commands.command(name="addphoto", description="Add another photo of something I remember.")
    @app_commands.describe(
        name="Which one",
        image="Another photo of it",
        image2="One more (optional: each photo is tried, and the reply says which were added)",
        image3="One more (optional)",
    )
    async def addphoto(
        self,
        interaction: discord.Interaction,
        name: Name,
        image: discord.Attachment,
        image2: discord.Attachment | None = None,
        image3: discord.Attachment | None = None,
    ) -> None:
        photos = [photo for photo in (image, image2, image3) if photo is not None]
        await self.frontend.run(interaction, grammar.AddPhoto(clean_name(name)), images=photos)

    # ------------------------------------------------------------ asking

    @app_commands.command(name="ask", description="Ask about a photo, or about what I remember.")
    @app_commands.describe(question="e.g. what is <bo> doing?", image="A photo to ask about (optional)")
    async def ask(
        self, interaction: discord.Interaction, question: QuestionText, image: discord.Attachment | None = None
    ) -> None:
        await self.frontend.run(interaction, grammar.Question(question.strip()), images=[image] if image else [])

    @app_commands.command(name="caption", description="Describe a photo, naming what I remember in it.")
    @app_commands.describe(image="The photo")
    async def caption(self, interaction: discord.Interaction, image: discord.Attachment) -> None:
        await self.frontend.run(interaction, grammar.Question(""), images=[image])

    async def ask_about_message(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """Context menu on a message: caption its image, or answer its text about the image."""
        image = first_image(message.attachments)
        if image is None:
            await InteractionReply(interaction, private=True).error(
                "That message has no image. Use Ask rapbot on a message with a photo."
            )
            return
        await self.frontend.run(interaction, grammar.Question(message.content.strip()), images=[image])

    # ------------------------------------------------------------ browsing and editing

    @app_commands.command(name="concepts", description="List what I remember here.")
    @app_commands.describe(page="Page number")
    async def concepts(self, interaction: discord.Interaction, page: Page = 1) -> None:
        await self.frontend.run(interaction, grammar.ListConcepts(page))

    @app_commands.command(name="show", description="Show one thing I remember, with its photos.")
    @app_commands.describe(name="Which one")
    async def show(self, interaction: discord.Interaction, name: Name) -> None:
        await self.frontend.run(interaction, grammar.Show(clean_name(name)))

    @app_commands.command(name="edit", description="Change the description of something I remember.")
    @app_commands.describe(name="Which one", description="The new description")
    async def edit(self, interaction: discord.Interaction, name: Name, description: NewDescription) -> None:
        await self.frontend.run(interaction, grammar.Edit(clean_name(name), description.strip()))

    @app_commands.command(name="rename", description="Rename something I remember.")
    @app_commands.describe(old="Its name now", new="Its new name")
    async def rename(self, interaction: discord.Interaction, old: Name, new: Name) -> None:
        await self.frontend.run(interaction, grammar.Rename(clean_name(old), clean_name(new)))

    @app_commands.command(name="forget", description="Forget something I remember (asks to confirm).")
    @app_commands.describe(name="Which one")
    async def forget(self, interaction: discord.Interaction, name: Name) -> None:
        await self.frontend.run(interaction, grammar.Forget(clean_name(name)))

    # ------------------------------------------------------------ sharing and personal data

    @app_commands.guild_only()
    @app_commands.command(name="share", description="Copy one of your own concepts into this server's memory.")
    @app_commands.describe(name="One of your own concepts (from your DMs with me)")
    async def share(self, interaction: discord.Interaction, name: Name) -> None:
        await self.frontend.run(interaction, grammar.Share(clean_name(name)))

    @app_commands.command(name="yes", description="Yes: my last photo answer here recognised it (I learn the photo).")
    @app_commands.describe(name="Which one, when the answer recognised several")
    async def yes(self, interaction: discord.Interaction, name: Name | None = None) -> None:
        await self.frontend.run(interaction, grammar.Feedback(True, clean_name(name) if name else None))

    @app_commands.command(name="no", description="No: my last photo answer here was wrong (I stop calling it that).")
    @app_commands.describe(name="Which one, when the answer recognised several")
    async def no(self, interaction: discord.Interaction, name: Name | None = None) -> None:
        await self.frontend.run(interaction, grammar.Feedback(False, clean_name(name) if name else None))

    @app_commands.command(name="gallery", description="See this chat's memory as a photo gallery (a link).")
    async def gallery(self, interaction: discord.Interaction) -> None:
        await self.frontend.run(interaction, grammar.Gallery())

    @app_commands.command(name="export", description="Download everything you stored (a zip; in a DM with me).")
    async def export(self, interaction: discord.Interaction) -> None:
        await self.frontend.run(interaction, grammar.Export())

    @app_commands.command(name="forgetme", description="Erase everything you stored here (in a DM; asks to confirm).")
    async def forgetme(self, interaction: discord.Interaction) -> None:
        await self.frontend.run(interaction, grammar.ForgetMe())

    # ------------------------------------------------------------ autocomplete

    @addphoto.autocomplete("name")
    @show.autocomplete("name")
    @edit.autocomplete("name")
    @rename.autocomplete("old")
    @forget.autocomplete("name")
    async def scope_names(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """Names in the memory this chat reads: the user's in DMs, the server's in a server."""
        return await self._names(self.frontend.requester(interaction.user, interaction.guild_id), current)

    @share.autocomplete("name")
    async def own_names(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await self._names(identity.private_requester(interaction.user), current)

    async def _names(self, who: Requester, current: str) -> list[app_commands.Choice[str]]:
        try:
            page = await self.client.list_concepts(who, offset=0, limit=200)
        except Exception:
            log.warning("autocomplete could not list concepts", exc_info=True)
            return []
        typed = clean_name(current).casefold()
        names = [c.name for c in page.items]
        starting = [n for n in names if n.casefold().startswith(typed)]
        containing = [n for n in names if typed in n.casefold() and n not in starting]
        return [app_commands.Choice(name=n, value=n) for n in (starting + containing)[:AUTOCOMPLETE_LIMIT]]
