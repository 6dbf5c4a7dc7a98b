"""Chat frontends (console, Telegram, Discord): turn chat events into requests to the worker's
client API and render its results as replies. Never loads a network."""
