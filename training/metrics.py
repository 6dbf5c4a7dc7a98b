"""The paper's metrics, as pure functions.

Captioning (RAP section 4.1): recall = share of the image's target concepts named in the caption;
precision = correct concept-name mentions / all concept-name mentions in the caption; F1 from both.
Overall figures are micro-averaged (summed counts over all images). A "mention" is a known concept
name (with or without its <brackets>) as a whole word or phrase, or any other <bracketed> name the
model made up; names match after Unicode NFKC case-folding, longest name first, without overlaps.

Recognition (section 4.2): positive / negative accuracy and their arithmetic mean ("weighted").
QA: multiple-choice accuracy after the release's normalisation (lower-case, no punctuation, no
articles)."""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

_BRACKETED = re.compile(r"<([^<>\n]{1,64})>")


def fold(text: str) -> str:
    """Unicode-normalise and case-fold so "Zoë", "ZOË" and a decomposed "Zoë" compare equal."""
    return unicodedata.normalize("NFKC", text).casefold()


def _name_pattern(name: str) -> str:
    words = [re.escape(w) for w in fold(name).split()]
    phrase = r"\s+".join(words)
    # <name> or the bare name as a whole word/phrase (no letter or digit glued on either side).
    return rf"<\s*{phrase}\s*>|(?<![\w]){phrase}(?![\w])"


def find_mentions(text: str, known_names: Iterable[str]) -> list[str]:
    """Every concept-name mention in `text`, in order: a known name (reported in its known spelling)
    or an unknown <bracketed> name (reported as written)."""
    folded = fold(text)
    names = sorted({n for n in known_names if n.strip()}, key=lambda n: len(fold(n)), reverse=True)
    taken: list[tuple[int, int, str]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e, _ in taken)

    for name in names:
        for match in re.finditer(_name_pattern(name), folded):
            if free(match.start(), match.end()):
                taken.append((match.start(), match.end(), name))
    for match in _BRACKETED.finditer(folded):
        if free(match.start(), match.end()):
            taken.append((match.start(), match.end(), match.group(1).strip()))
    return [name for _, _, name in sorted(taken)]


@dataclass(frozen=True)
class CaptionScore:
    targets: int  # ground-truth concepts in the image
    recalled: int  # of those, how many the caption names
    mentions: int  # concept-name mentions in the caption
    correct_mentions: int  # mentions of a ground-truth concept

    @property
    def recall(self) -> float | None:
        return self.recalled / self.targets if self.targets else None

    @property
    def precision(self) -> float | None:
        return self.correct_mentions / self.mentions if self.mentions else None


def score_caption(caption: str, targets: Sequence[str], known_names: Iterable[str]) -> CaptionScore:
    """Score one caption against the concepts really in the image. `known_names` is every concept in
    the database, so naming the wrong one costs precision."""
    wanted = {fold(t) for t in targets}
    mentions = [fold(m) for m in find_mentions(caption, [*known_names, *targets])]
    return CaptionScore(
        targets=len(wanted),
        recalled=len(wanted & set(mentions)),
        mentions=len(mentions),
        correct_mentions=sum(1 for m in mentions if m in wanted),
    )


@dataclass(frozen=True)
class PRF:
    recall: float | None
    precision: float | None
    f1: float | None


def aggregate_captions(scores: Iterable[CaptionScore]) -> PRF:
    """Micro-averaged recall, precision and F1 (None where nothing was there to count)."""
    items = list(scores)
    targets = sum(s.targets for s in items)
    mentions = sum(s.mentions for s in items)
    recall = sum(s.recalled for s in items) / targets if targets else None
    precision = sum(s.correct_mentions for s in items) / mentions if mentions else None
    if recall is None:
        f1 = None
    elif precision is None or recall + precision == 0:
        f1 = 0.0
    else:
        f1 = 2 * recall * precision / (recall + precision)
    return PRF(recall=recall, precision=precision, f1=f1)


YesNo = Literal["yes", "no", "unknown"]


def parse_yes_no(answer: str) -> YesNo:
    """Read a recognition answer: its first word decides ("Yes, <bo> is..." / "No."); otherwise a
    negation anywhere ("<bo> is not captured in this image.") means no, a "yes" anywhere means yes."""
    words = normalize_answer(answer, drop_articles=False).split()
    if not words:
        return "unknown"
    if words[0] in {"yes", "yeah", "yep", "true"}:
        return "yes"
    if words[0] in {"no", "nope", "false"}:
        return "no"
    if {"not", "no", "isnt", "cannot", "cant"} & set(words):
        return "no"
    if "yes" in words:
        return "yes"
    return "unknown"


@dataclass(frozen=True)
class RecognitionScore:
    positive: float | None  # accuracy on images that contain the concept
    negative: float | None  # accuracy on images that do not
    weighted: float | None  # arithmetic mean of the two (the paper's "weighted")
    n_positive: int
    n_negative: int


def score_recognition(results: Iterable[tuple[bool, str]]) -> RecognitionScore:
    """`results`: (concept really present, model answer) pairs. An unreadable answer counts as wrong."""
    pos = neg = pos_ok = neg_ok = 0
    for present, answer in results:
        said = parse_yes_no(answer)
        if present:
            pos += 1
            pos_ok += said == "yes"
        else:
            neg += 1
            neg_ok += said == "no"
    p = pos_ok / pos if pos else None
    n = neg_ok / neg if neg else None
    weighted = (p + n) / 2 if p is not None and n is not None else (p if n is None else n)
    return RecognitionScore(positive=p, negative=n, weighted=weighted, n_positive=pos, n_negative=neg)


_LETTER_CHOICE = re.compile(r"\s*\(?\s*([^\W_])\s*(?:[.):]|$)")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str, *, drop_articles: bool = True) -> str:
    """The release's answer normalisation: lower-case, punctuation and articles removed, whitespace
    collapsed."""
    text = fold(text).translate(_PUNCT)
    if drop_articles:
        text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def qa_choice(answer: str, options: dict[str, str]) -> str | None:
    """Which option (its letter) an answer picks: the letter alone or leading ("B", "(b) ...",
    "B. Red"), or the text of exactly one option; None when it picks none or several."""
    letters = {fold(k): k for k in options}
    # "B", "B.", "(b)", "B: red" pick by letter; "A red ball" does not (that "a" is an article).
    lead = _LETTER_CHOICE.match(fold(answer))
    if lead and lead.group(1) in letters:
        return letters[lead.group(1)]
    norm_answer = normalize_answer(answer)
    texts = {k: normalize_answer(v) for k, v in options.items()}
    exact = [k for k, v in texts.items() if v and v == norm_answer]
    if exact:
        return exact[0]
    contained = [k for k, v in texts.items() if v and re.search(rf"(?<!\w){re.escape(v)}(?!\w)", norm_answer)]
    return contained[0] if len(contained) == 1 else None


@dataclass(frozen=True)
class QAScore:
    visual: float | None
    text: float | None
    weighted: float | None
    n_visual: int
    n_text: int


def score_qa(results: Iterable[tuple[bool, bool]]) -> QAScore:
    """`results`: (question came with an image, answer was right) pairs."""
    counts = {True: [0, 0], False: [0, 0]}
    for visual, right in results:
        counts[visual][0] += 1
        counts[visual][1] += int(right)
    v = counts[True][1] / counts[True][0] if counts[True][0] else None
    t = counts[False][1] / counts[False][0] if counts[False][0] else None
    weighted = (v + t) / 2 if v is not None and t is not None else (v if t is None else t)
    return QAScore(visual=v, text=t, weighted=weighted, n_visual=counts[True][0], n_text=counts[False][0])
