"""The web gallery: a user's and their groups' memories as photo grids, in a browser or as a Telegram Mini App."""
