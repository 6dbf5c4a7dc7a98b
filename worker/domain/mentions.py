"""Which stored names a question mentions. `<name>` and `@name` always do; a plain word does only
when it cannot be a false hit: one stored concept has that name, it is at least 3 characters long,
and it is not a common word (a stop word) of the question's language. A wrong plain hit is costly
(RAP puts named concepts first in the prompt, uncapped) and a missed one is cheap (`<name>` works),
so the rules lean towards brackets."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from memory.validation import name_key

MIN_PLAIN_CHARS = 3  # "Bo" only as <Bo> or @Bo: two letters are too often a word or a part of one
# The bot speaks English (its commands, help and replies), so English words turn up in questions of
# every language; a detector is also unsure on a few words. English stop words therefore always
# count, and so does each language the detector gives at least this probability.
ALWAYS_LANGUAGES = ("en",)
LANGUAGE_MIN_PROBABILITY = 0.2

_BRACKETED = re.compile(r"<[^<>]*>")


def mentioned_names(text: str, names: Sequence[str]) -> list[str]:
    """Stored names the text mentions, in the order they appear: as `<name>` or `@name` always, and
    as a plain whole word under the rules above. Of two stored concepts with the same name (a user's
    and a group's), the first in `names` is the one `<name>` means."""
    folded = name_key(text)
    counts = Counter(name_key(name) for name in names)
    # A plain word inside brackets belongs to the bracketed name: "<cat toy>" does not mention "cat".
    outside = _BRACKETED.sub(lambda match: " " * len(match.group()), folded)
    common: frozenset[str] | None = None  # computed only when a plain word needs it
    found: dict[str, tuple[int, str]] = {}
    for name in names:
        key = name_key(name)
        if not key or key in found:
            continue
        position = _explicit_position(folded, key)
        if position < 0 and counts[key] == 1 and len(key) >= MIN_PLAIN_CHARS:
            match = re.search(rf"(?<![\w@]){re.escape(key)}(?!\w)", outside)
            if match:
                if common is None:
                    common = common_words(outside)
                if not all(word in common for word in key.split()):
                    position = match.start()
        if position >= 0:
            found[key] = (position, name)
    return [name for _, name in sorted(found.values())]


def unknown_names(text: str, known: Sequence[str]) -> list[str]:
    """The `<name>`s of the text that are none of `known` (the stored names it mentions), as typed,
    each once: the reply says that nothing here has that name."""
    keys = {name_key(name) for name in known}
    unknown: dict[str, str] = {}
    for match in _BRACKETED.finditer(text):
        name = " ".join(match.group()[1:-1].split())
        key = name_key(name)
        if key and key not in keys:
            unknown.setdefault(key, name)
    return list(unknown.values())


def _explicit_position(folded: str, key: str) -> int:
    """Where `<key>` or `@key` (not followed by more of a word) first occurs, or -1."""
    bracketed = folded.find(f"<{key}>")
    at = re.search(rf"@{re.escape(key)}(?!\w)", folded)
    positions = [p for p in (bracketed, at.start() if at else -1) if p >= 0]
    return min(positions, default=-1)


def common_words(text: str) -> frozenset[str]:
    """The stop words of the languages `text` may be in (see ALWAYS_LANGUAGES), case-folded."""
    ranked: list[tuple[str, float]] = _identifier().rank(text)
    languages = {*ALWAYS_LANGUAGES, *(lang for lang, p in ranked if p >= LANGUAGE_MIN_PROBABILITY)}
    return _stop_words(frozenset(languages))


@lru_cache(maxsize=64)
def _stop_words(languages: frozenset[str]) -> frozenset[str]:
    import stopwordsiso  # its word lists load on the first question that needs them, not at import

    return frozenset(name_key(word) for word in stopwordsiso.stopwords(languages))


@lru_cache(maxsize=1)
def _identifier() -> Any:
    """py3langid's identifier (about a second to load, once), limited to the languages that have a
    stop-word list, so the probability is shared among the languages that can change the answer."""
    # Loaded on the first question that needs them (about a second), not when the worker imports.
    import stopwordsiso
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(sorted(set(identifier.labels) & stopwordsiso.langs()))
    return identifier
