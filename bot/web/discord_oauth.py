"""Discord sign-in: the OAuth2 authorization-code flow with the `identify` and `guilds` scopes
(https://discord.com/developers/docs/topics/oauth2). The API base is a setting, so tests point it
at a fake server on loopback. Errors never quote the code, the token or the client secret."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from bot.web.identity import SignedInUser, SignInRefused
from bot.web.settings import WebSettings

PLATFORM = "discord"
SCOPES = "identify guilds"
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Guild:
    id: str
    name: str
    moderator: bool  # owner, Administrator or Manage Server: the Discord bot's own rule


@dataclass(frozen=True)
class DiscordSignIn:
    user: SignedInUser
    access_token: str
    guilds: list[Guild]


class DiscordOAuth:
    def __init__(self, settings: WebSettings) -> None:
        if not settings.discord_enabled:
            raise ValueError("Discord sign-in needs RAPBOT_WEB_DISCORD_CLIENT_ID and RAPBOT_WEB_DISCORD_CLIENT_SECRET")
        self._client_id = str(settings.discord_client_id)
        self._secret = settings.discord_client_secret.get_secret_value() if settings.discord_client_secret else ""
        self._api = settings.discord_api_base
        self._authorize = settings.discord_authorize_url
        self.redirect_uri = f"{settings.public_url}/auth/discord/callback"

    def authorize_url(self, state: str) -> str:
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self._client_id,
                "scope": SCOPES,
                "state": state,
                "redirect_uri": self.redirect_uri,
                "prompt": "none",  # no consent screen again for a user who already allowed it
            }
        )
        return f"{self._authorize}?{query}"

    async def sign_in(self, code: str) -> DiscordSignIn:
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as http:
            token = await self._exchange(http, code)
            user = await self._get(http, token, "/users/@me")
            guilds = await self._get(http, token, "/users/@me/guilds")
        if not isinstance(user, dict) or "id" not in user or not isinstance(guilds, list):
            raise SignInRefused("Discord sent an unexpected answer. Please try again.")
        name = user.get("global_name") or user.get("username") or "Discord user"
        signed_in = SignedInUser(PLATFORM, str(user["id"]), str(name)[:64])
        return DiscordSignIn(signed_in, token, [_guild(item) for item in guilds if isinstance(item, dict)])

    async def guilds(self, access_token: str) -> list[Guild]:
        """The user's guilds now (membership refresh after the cache expired)."""
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as http:
            found = await self._get(http, access_token, "/users/@me/guilds")
        if not isinstance(found, list):
            raise SignInRefused("Discord sent an unexpected answer. Please sign in again.")
        return [_guild(item) for item in found if isinstance(item, dict)]

    async def _exchange(self, http: httpx.AsyncClient, code: str) -> str:
        try:
            response = await http.post(
                f"{self._api}/oauth2/token",
                data={"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri},
                auth=(self._client_id, self._secret),
            )
        except httpx.HTTPError:
            raise SignInRefused("Discord could not be reached. Please try again.") from None
        if response.status_code != 200:
            raise SignInRefused("Discord refused the sign-in. Please try again.")
        body = _json(response)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise SignInRefused("Discord refused the sign-in. Please try again.")
        return token

    async def _get(self, http: httpx.AsyncClient, token: str, path: str) -> object:
        try:
            response = await http.get(f"{self._api}{path}", headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError:
            raise SignInRefused("Discord could not be reached. Please try again.") from None
        if response.status_code != 200:
            raise SignInRefused("Discord refused the sign-in. Please sign in again.")
        return _json(response)


def _json(response: httpx.Response) -> object:
    """The answer's JSON; SignInRefused for anything else (a proxy's HTML error page, a cut body)."""
    try:
        found: object = response.json()
    except ValueError:
        raise SignInRefused("Discord sent an unexpected answer. Please try again.") from None
    return found


def _guild(item: dict[str, object]) -> Guild:
    try:
        permissions = int(str(item.get("permissions", "0")))
    except ValueError:
        permissions = 0
    moderator = bool(item.get("owner")) or bool(permissions & (ADMINISTRATOR | MANAGE_GUILD))
    return Guild(id=str(item.get("id")), name=str(item.get("name") or "a server")[:100], moderator=moderator)
