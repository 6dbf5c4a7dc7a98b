"""The Telegram frontend: a python-telegram-bot application that turns chat events into calls of
the worker's client API and renders the results. Private chats use the user's memory; groups have
their own memory, managed by the group's moderators."""
