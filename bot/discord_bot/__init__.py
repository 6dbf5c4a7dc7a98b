"""The Discord frontend: slash commands, a message context menu and @mentions, turned into calls on
the worker's client API. Never loads a network and never imports the model or memory packages.

`bot.discord_bot.app.build_bot(settings, client)` assembles the bot; `app.run()` starts it."""
