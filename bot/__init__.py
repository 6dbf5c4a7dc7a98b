"""The frontends (console, Telegram, Discord and the web gallery `bot/web/`): turn chat events into
calls of the worker's client (worker.client) through one grammar (bot/grammar.py), one dispatcher
(bot/dispatch.py) and one set of replies (bot/replies.py). Top layer below rapbot/: imports worker/'s
root, its client factory and ops; never model/, training/ or a network library (docs/architecture.md)."""
