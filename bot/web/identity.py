"""Who is signed in, and which group memories they may open: plain values kept in the session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class SignInRefused(Exception):
    """Sign-in data that is missing, forged, tampered with or too old. `str(err)` is for the user
    and never quotes the data or a secret."""


@dataclass(frozen=True)
class SignedInUser:
    platform: str  # "telegram" or "discord"
    user_id: str
    name: str

    def to_session(self) -> dict[str, str]:
        return {"platform": self.platform, "id": self.user_id, "name": self.name}

    @classmethod
    def from_session(cls, data: Any) -> SignedInUser | None:
        if not isinstance(data, dict):
            return None
        platform, user_id, name = data.get("platform"), data.get("id"), data.get("name")
        if not (isinstance(platform, str) and isinstance(user_id, str) and isinstance(name, str)):
            return None
        return cls(platform, user_id, name)


@dataclass(frozen=True)
class GroupAccess:
    """A group memory the user belongs to, as the platform said at sign-in."""

    chat_id: str
    title: str
    moderator: bool
