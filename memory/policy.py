"""The one rule book of who may do what in a memory, the same for every frontend. MemoryStore asks
it before every read and write a frontend can reach; nothing else decides.

- A user's memory: only its owner (actor.user_id == scope.external_id) reads or changes it.
- A group's memory: any member reads it and adds to it (the platform decides membership: the
  frontend passes the requester); a member changes or forgets only what they added; a locked group
  is changed by moderators only; reading the audit log, locking, the threshold, auto-captions and
  purging a member are for moderators.
- Sharing copies a concept into a group: from the actor's own memory, or from a group where the
  actor added it, into a group the actor may write.

Each check raises PermissionDenied with a message fit to show the user, or returns None."""

from __future__ import annotations

import enum

from memory.errors import InvalidSetting, PermissionDenied
from memory.types import Actor, ScopeInfo, ScopeKind
from memory.validation import check_actor

LOCKED = "This group's memory is locked: only moderators can change it."
PRIVATE = "That is someone else's private memory."


class ModeratorAction(str, enum.Enum):  # noqa: UP042  (str mix-in: the value is the refusal's wording)
    """What only a group's moderators may do; each value completes "Only moderators can ... in a group."."""

    AUDIT = "read the audit log"
    LOCK = "lock or unlock the memory"
    THRESHOLD = "change the similarity threshold"
    AUTO_CAPTION = "turn automatic captions on or off"
    SETTINGS = "change the memory's settings"
    PURGE = "remove a member's things"
    PHOTO_INDEX = "turn the photo index on or off, or delete it"


def valid_actor(actor: Actor) -> None:
    if not isinstance(actor, Actor):
        raise InvalidSetting("Every memory operation needs the member who asks for it.")
    check_actor(actor.user_id)


def is_owner(scope: ScopeInfo, actor: Actor) -> bool:
    return scope.kind == ScopeKind.USER and scope.external_id == actor.user_id


def may_read(scope: ScopeInfo, actor: Actor) -> None:
    """A user's memory is its owner's alone; a group's is read by any member."""
    valid_actor(actor)
    if scope.kind == ScopeKind.USER and not is_owner(scope, actor):
        raise PermissionDenied(PRIVATE)


def may_write(scope: ScopeInfo, actor: Actor, author: str | None = None, name: str = "") -> None:
    """Add to a memory (author None) or change the concept `name` that `author` added."""
    may_read(scope, actor)
    if scope.kind == ScopeKind.USER or actor.moderator:
        return
    if scope.settings.locked:
        raise PermissionDenied(LOCKED)
    if author is not None and author != actor.user_id:
        raise PermissionDenied(f'Only the member who added "{name}" or a moderator can change it.')


def may_moderate(scope: ScopeInfo, actor: Actor, action: ModeratorAction) -> None:
    """Moderators only in a group; the owner in their own memory."""
    may_read(scope, actor)
    if scope.kind == ScopeKind.GROUP and not actor.moderator:
        raise PermissionDenied(f"Only moderators can {action.value} in a group.")


def may_change_settings(scope: ScopeInfo, actor: Actor, *, locked: bool, threshold: bool, auto_caption: bool) -> None:
    """The settings being changed (True for each one given) name the refusal."""
    chosen = [a for a, on in ((ModeratorAction.LOCK, locked), (ModeratorAction.THRESHOLD, threshold)) if on]
    chosen += [ModeratorAction.AUTO_CAPTION] if auto_caption else []
    may_moderate(scope, actor, chosen[0] if len(chosen) == 1 else ModeratorAction.SETTINGS)


def may_purge(scope: ScopeInfo, actor: Actor) -> None:
    if scope.kind != ScopeKind.GROUP:
        raise PermissionDenied("Members can only be purged from a group's memory.")
    may_moderate(scope, actor, ModeratorAction.PURGE)


def may_share(source: ScopeInfo, target: ScopeInfo, actor: Actor) -> None:
    """Before looking the concept up: nobody writes into another person's private memory, nor
    shares out of one; the target group must accept the actor's writes."""
    if target.kind != ScopeKind.GROUP:
        raise PermissionDenied("Things can only be shared into a group's memory.")
    may_read(source, actor)
    may_write(target, actor)


def may_share_concept(source: ScopeInfo, actor: Actor, author: str, name: str) -> None:
    """From a group, only the member who added it shares it (a moderator flag is about the
    target group, not the source)."""
    if not is_owner(source, actor) and author != actor.user_id:
        raise PermissionDenied(f'Only the member who added "{name}" can share it.')
