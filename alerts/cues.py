"""Phrase cues: words in a transcript that deserve a hint to the agent, and log redaction.

A `Cue` is a list of phrases for one speaker ("you need to calm down" from the agent, "your
supervisor" from the customer) with a severity, a message and a de-escalation tip. The
defaults live in ``cues.toml`` next to this module; `load_cues` merges a user table of the
same shape over them. `CueMatcher` finds cues in transcript text; `redact` masks numbers
that look like card, account or phone numbers before text is logged.

Matching works on normalized words (`normalize`): lowercase, one apostrophe style,
punctuation dropped, hyphenated words split ("mm-hmm" -> "mm hmm"), contractions expanded
("I'm" -> "i am", "can't" -> "can not", "that's" -> "that is", possessive "'s" dropped),
and words an ASR engine censors with asterisks restored ("f***ing" -> "fucking"). A
pattern matches a run of whole words; its last word may carry a plural "s"/"es"; a word
ending in "*" matches any ending. There is no other stemming: "calm down" does not match
"calmed down" (a report of the past, not an instruction), and no grammar: "relax" matches
in "I'll relax the rule" too.

Pure functions and immutable objects only; safe to share across threads.
"""

from __future__ import annotations

import re
import sys
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alerts.model import SEVERITIES, Severity
from audio.types import SPEAKERS, Speaker

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_CUES_PATH = Path(__file__).with_name("cues.toml")
"""The packaged default cues."""

CUE_KEYS = (
    "name",
    "speaker",
    "patterns",
    "severity",
    "message",
    "tip",
    "good",
    "enabled",
    "guarded",
    "pushy_next",
)
TABLE_KEYS = ("cue", "replace_defaults")

_NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")
_APOSTROPHES = str.maketrans({c: "'" for c in "\u2019\u2018\u02bc\u2032`\u00b4"})
_TOKEN_RE = re.compile(r"'?[^\W_]+(?:[*']+[^\W_]*)*")

_IRREGULAR: dict[str, str] = {
    "can't": "can not",
    "cannot": "can not",
    "won't": "will not",
    "shan't": "shall not",
    "ain't": "is not",
    "let's": "let us",
    "y'all": "you all",
    "'em": "them",
    "'cause": "because",
    "ma'am": "maam",
    "o'clock": "oclock",
    "gonna": "going to",
    "wanna": "want to",
    "gotta": "got to",
}
_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("n't", "not"),
    ("'re", "are"),
    ("'ve", "have"),
    ("'ll", "will"),
    ("'m", "am"),
    ("'d", "would"),
)
_IS_WORDS = frozenset(
    {
        "it", "that", "there", "here", "what", "who", "where", "when", "why", "how", "he",
        "she", "this", "everything", "nothing", "something", "everyone", "someone",
        "somebody", "nobody", "everybody",
    }
)  # fmt: skip
"""Words whose "'s" is "is"; after any other word "'s" is a possessive and is dropped."""

_CENSORED_BASES = (
    "motherfucker",
    "asshole",
    "bullshit",
    "goddamn",
    "fuck",
    "shit",
    "bitch",
    "damn",
    "crap",
    "dick",
    "piss",
    "hell",
    "ass",
)
"""Words an ASR engine may print with asterisks ("f***", "s**t"); longest first."""


@dataclass(frozen=True)
class Cue:
    """A phrase cue for one speaker.

    Attributes:
        name: id used in alerts and logs; unique per speaker.
        speaker: whose speech is searched.
        patterns: phrases, as written in the cue file (see the module docstring).
        severity: "info", "warning" or "critical".
        message: one line shown to the agent.
        tip: de-escalation advice.
        good: a good sign (apology, empathy) rather than a problem.
        guarded: patterns that are ordinary in helpful speech ("you have to" in an
            instruction): they count only in a tense moment (the customer raised or
            yelling, and not upbeat, within `TENSE_S`), or when one of ``pushy_next``
            follows within `PUSHY_WINDOW` words.
        pushy_next: words that make a guarded pattern count anywhere ("you need to
            understand", "you have to wait").
    """

    name: str
    speaker: Speaker
    patterns: tuple[str, ...]
    severity: Severity
    message: str
    tip: str = ""
    good: bool = False
    guarded: tuple[str, ...] = ()
    pushy_next: tuple[str, ...] = ()


@dataclass(frozen=True)
class CueHit:
    """One cue found in one text.

    Attributes:
        cue: the cue.
        pattern: the pattern that matched, as written in the cue.
        span: (start, end) character offsets of the matched words in the text given to
            `CueMatcher.match`, end exclusive.
    """

    cue: Cue
    pattern: str
    span: tuple[int, int]


# -- normalization ----------------------------------------------------------------------


def _uncensor(token: str) -> str:
    """Restore a word printed with asterisks ("f***ing" -> "fucking"); drop stray ones."""
    prefix, _, rest = token.partition("*")
    suffix = rest.lstrip("*")
    stars = len(rest) - len(suffix)
    if "*" in suffix or not prefix:
        return token.replace("*", "")
    bases = [b for b in _CENSORED_BASES if b.startswith(prefix) and len(b) > len(prefix)]
    for base in bases:  # letters hidden inside the word: "f*ck", "s**t", "a**hole", "a**"
        if len(base) == len(prefix) + stars + len(suffix) and base.endswith(suffix):
            return base
    for base in bases:  # a hidden stem plus an ending: "f***ing", "s***ty"
        if len(base) == len(prefix) + stars:
            return base + suffix
    for base in bases:  # star counts that fit no word: "f**king" -> overlap the ending
        for k in range(len(suffix), 0, -1):
            if base.endswith(suffix[:k]) and len(base) - k >= len(prefix):
                return base + suffix[k:]
    return bases[-1] + suffix if bases else prefix + suffix


def _expand(token: str) -> list[str]:
    """Normalized words of one lowercase token (contractions expanded)."""
    if "*" in token:
        token = _uncensor(token)
    if token in _IRREGULAR:
        return _IRREGULAR[token].split()
    token = token.strip("'")
    if not token:
        return []
    if "'" in token:
        for suffix, word in _SUFFIXES:
            if token.endswith(suffix) and len(token) > len(suffix):
                return [*_expand(token[: -len(suffix)]), word]
        if token.endswith("'s"):
            base = token[:-2]
            return [base.replace("'", ""), "is"] if base in _IS_WORDS else [base.replace("'", "")]
        return [token.replace("'", "")]
    return [token]


def _words(text: str) -> list[tuple[str, int, int]]:
    """Normalized words of ``text``, each with the character span of its source token."""
    text = text.translate(_APOSTROPHES)
    out: list[tuple[str, int, int]] = []
    for m in _TOKEN_RE.finditer(text):
        for word in _expand(m.group().lower()):
            if word:
                out.append((word, m.start(), m.end()))
    return out


def normalize(text: str) -> str:
    """Text as cue matching sees it: normalized words joined by single spaces.

    Example: ``normalize("That’s NOT my problem!")`` is ``"that is not my problem"``.
    """
    return " ".join(w for w, _, _ in _words(text))


# -- loading and validation -------------------------------------------------------------


def _fail(label: str, message: str) -> ValueError:
    return ValueError(f"{label}: {message}")


def _one_line_str(label: str, key: str, value: Any, *, empty_ok: bool = False) -> str:
    if not isinstance(value, str):
        raise _fail(label, f"{key} must be a string, got {value!r}")
    if "\n" in value or "\r" in value:
        raise _fail(label, f"{key} must be one line")
    if not empty_ok and not value.strip():
        raise _fail(label, f"{key} must not be empty")
    return value.strip()


def _compile_pattern(pattern: str) -> re.Pattern[str] | None:
    """Regex over normalized text for one pattern; None if it has no words."""
    pieces: list[str] = []
    wild_last = False
    for raw in pattern.split():
        wild = raw.endswith("*")
        words = [w for w, _, _ in _words(raw.rstrip("*"))]
        if not words:
            continue
        pieces.extend(re.escape(w) for w in words)
        if wild:
            pieces[-1] += r"[^ ]*"
        wild_last = wild
    if not pieces:
        return None
    last = pieces[-1]
    if not wild_last and re.fullmatch(r"[a-z]{3,}", last):
        pieces[-1] = last + "(?:e?s)?"
    return re.compile(r"(?<![^ ])" + " ".join(pieces) + r"(?![^ ])")


def _check_cue(
    raw: Any, index: int, base: Cue | None = None, source: str = "cue"
) -> tuple[Cue | None, str, str]:
    """Validate one cue table; returns (cue or None if disabled, name, speaker)."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"{source} #{index + 1}: must be a table, got {raw!r}")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ValueError(
            f"{source} #{index + 1}: name must be letters, digits, _ . or -, got {name!r}"
        )
    label = f"cue {name!r}"
    unknown = [k for k in raw if k not in CUE_KEYS]
    if unknown:
        raise _fail(label, f"unknown key {unknown[0]!r} (expected one of {', '.join(CUE_KEYS)})")
    speaker = raw.get("speaker")
    if speaker not in SPEAKERS:
        raise _fail(label, f"speaker must be one of {'|'.join(SPEAKERS)}, got {speaker!r}")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise _fail(label, f"enabled must be true or false, got {enabled!r}")
    if not enabled:
        return None, name, speaker

    def field(key: str, default: Any) -> Any:
        if key in raw:
            return raw[key]
        if base is not None:
            return getattr(base, key)
        return default

    patterns = field("patterns", None)
    if isinstance(patterns, tuple):
        patterns = list(patterns)
    if not isinstance(patterns, list) or not patterns:
        raise _fail(label, f"patterns must be a non-empty list of strings, got {patterns!r}")
    extra: dict[str, list[str]] = {}
    for key in ("guarded", "pushy_next"):
        value = field(key, ())
        value = list(value) if isinstance(value, tuple) else value
        if not isinstance(value, list):
            raise _fail(label, f"{key} must be a list of strings, got {value!r}")
        extra[key] = value
    for p in patterns + extra["guarded"] + extra["pushy_next"]:
        if not isinstance(p, str) or "\n" in p:
            raise _fail(label, f"patterns must be one-line strings, got {p!r}")
        if _compile_pattern(p) is None:
            raise _fail(label, f"pattern {p!r} has no words")
    severity = field("severity", None)
    if severity not in SEVERITIES:
        raise _fail(label, f"severity must be one of {'|'.join(SEVERITIES)}, got {severity!r}")
    message = _one_line_str(label, "message", field("message", None))
    tip = _one_line_str(label, "tip", field("tip", ""), empty_ok=True)
    good = field("good", False)
    if not isinstance(good, bool):
        raise _fail(label, f"good must be true or false, got {good!r}")
    cue = Cue(
        name=name,
        speaker=speaker,
        patterns=tuple(p.strip() for p in patterns),
        severity=severity,
        message=message,
        tip=tip,
        good=good,
        guarded=tuple(p.strip() for p in extra["guarded"]),
        pushy_next=tuple(p.strip() for p in extra["pushy_next"]),
    )
    return cue, name, speaker


def _merge_table(
    table: Any, base: dict[tuple[str, str], Cue], source: str
) -> dict[tuple[str, str], Cue]:
    """Apply one cue table (``{"cue": [...], "replace_defaults": bool}``) over ``base``."""
    if not isinstance(table, Mapping):
        raise ValueError(f"{source}: must be a table with a 'cue' list, got {table!r}")
    unknown = [k for k in table if k not in TABLE_KEYS]
    if unknown:
        raise ValueError(
            f"{source}: unknown key {unknown[0]!r} (expected one of {', '.join(TABLE_KEYS)})"
        )
    replace_defaults = table.get("replace_defaults", False)
    if not isinstance(replace_defaults, bool):
        raise ValueError(f"{source}: replace_defaults must be true or false")
    entries = table.get("cue", [])
    if not isinstance(entries, list):
        raise ValueError(f"{source}: 'cue' must be a list of tables ([[cue]])")
    out = {} if replace_defaults else dict(base)
    seen: set[tuple[str, str]] = set()
    for index, raw in enumerate(entries):
        key_name = raw.get("name") if isinstance(raw, Mapping) else None
        key_speaker = raw.get("speaker") if isinstance(raw, Mapping) else None
        previous = out.get((str(key_name), str(key_speaker)))
        cue, name, speaker = _check_cue(raw, index, previous, source)
        key = (name, speaker)
        if key in seen:
            raise ValueError(f"cue {name!r}: defined twice for the {speaker}")
        seen.add(key)
        if cue is None:
            out.pop(key, None)
        else:
            out[key] = cue
    return out


def load_cues(user: Mapping[str, Any] | None = None) -> list[Cue]:
    """The default cues, with a user table merged over them.

    Args:
        user: a table of the same shape as ``cues.toml``: ``{"cue": [{...}, ...]}``,
            optionally ``"replace_defaults": True`` to start from no cues. A user cue with
            the name and speaker of an existing one replaces the fields it gives and keeps
            the others; ``enabled = false`` removes it. A new cue needs ``patterns``,
            ``severity`` and ``message``.

    Returns:
        The cues, defaults first in file order, then new user cues.

    Raises:
        ValueError: a one-line message naming the cue and the problem, e.g.
            ``cue 'x': severity must be one of info|warning|critical, got 'loud'``.
    """
    with DEFAULT_CUES_PATH.open("rb") as fh:
        defaults = tomllib.load(fh)
    cues = _merge_table(defaults, {}, f"defaults ({DEFAULT_CUES_PATH.name})")
    if user is not None:
        cues = _merge_table(user, cues, "cues")
    return list(cues.values())


# -- matching ---------------------------------------------------------------------------


TENSE_S = 30.0
"""A tense moment: the customer was raised or yelling (and not upbeat) this recently (s)."""

PUSHY_WINDOW = 3
"""A guarded pattern counts anywhere when a ``pushy_next`` word follows within this many
words."""

_Compiled = list[tuple[str, re.Pattern[str], bool]]


def _compiled(cue: Cue, patterns: Iterable[str], guarded: bool) -> _Compiled:
    out: _Compiled = []
    for pattern in patterns:
        regex = _compile_pattern(pattern)
        if regex is None:
            raise ValueError(f"cue {cue.name!r}: pattern {pattern!r} has no words")
        out.append((pattern, regex, guarded))
    return out


def _followed(rest: str, phrases: list[list[str]]) -> bool:
    """Whether one of ``phrases`` starts within the first `PUSHY_WINDOW` words of ``rest``."""
    words = rest.split()
    for i in range(min(PUSHY_WINDOW, len(words))):
        for phrase in phrases:
            if phrase and words[i : i + len(phrase)] == phrase:
                return True
    return False


class CueMatcher:
    """Finds cues in transcript text.

    Args:
        cues: the cues to look for, e.g. from `load_cues`.
    """

    def __init__(self, cues: Iterable[Cue]) -> None:
        self.cues: tuple[Cue, ...] = tuple(cues)
        self._by_speaker: dict[str, list[tuple[Cue, _Compiled, list[list[str]]]]] = {
            sp: [] for sp in SPEAKERS
        }
        for cue in self.cues:
            compiled = _compiled(cue, cue.patterns, False) + _compiled(cue, cue.guarded, True)
            pushy = [normalize(p).split() for p in cue.pushy_next]
            self._by_speaker[cue.speaker].append((cue, compiled, pushy))

    def match(self, speaker: str, text: str, tense: bool = False) -> list[CueHit]:
        """Cues of ``speaker`` found in ``text``: at most one hit per cue, in text order.

        Match on the unredacted text; redact only what is stored.

        Args:
            speaker: "agent" or "customer".
            text: a transcript.
            tense: the moment is tense (see `Cue.guarded`): guarded patterns count.

        Returns:
            Hits sorted by position; each cue's earliest (then longest) match.

        Raises:
            ValueError: unknown speaker.
        """
        if speaker not in self._by_speaker:
            raise ValueError(f"speaker must be one of {'|'.join(SPEAKERS)}, got {speaker!r}")
        words = _words(text)
        if not words:
            return []
        joined = " ".join(w for w, _, _ in words)
        starts: list[int] = []
        pos = 0
        for w, _, _ in words:
            starts.append(pos)
            pos += len(w) + 1
        hits: list[CueHit] = []
        for cue, patterns, pushy in self._by_speaker[speaker]:
            best: tuple[int, int, str] | None = None
            for pattern, regex, guarded in patterns:
                for m in regex.finditer(joined):
                    if guarded and not tense and not _followed(joined[m.end() :], pushy):
                        continue
                    if best is None or (m.start(), -m.end()) < (best[0], -best[1]):
                        best = (m.start(), m.end(), pattern)
                    break
            if best is None:
                continue
            first = bisect_right(starts, best[0]) - 1
            last = bisect_right(starts, best[1] - 1) - 1
            hits.append(CueHit(cue, best[2], (words[first][1], words[last][2])))
        hits.sort(key=lambda h: (h.span[0], h.cue.name))
        return hits


# -- redaction --------------------------------------------------------------------------

_DIGIT_WORDS = "zero|oh|one|two|three|four|five|six|seven|eight|nine"
_UNIT = rf"(?:\d+|\b(?:{_DIGIT_WORDS})\b)"
_SEP = r"[ \t,.()/-]{1,3}"
_RUN_RE = re.compile(rf"{_UNIT}(?:{_SEP}{_UNIT})*", re.IGNORECASE)
_UNIT_RE = re.compile(_UNIT, re.IGNORECASE)

MIN_REDACT_DIGITS = 4
"""Runs with at least this many digits (numerals or spelled-out digit words) are masked."""


def _mask_run(m: re.Match[str]) -> str:
    run = m.group()
    units = _UNIT_RE.findall(run)
    digits = sum(len(u) if u[0].isdigit() else 1 for u in units)
    if digits < MIN_REDACT_DIGITS:
        return run
    return _UNIT_RE.sub(lambda u: "#" * len(u.group()) if u.group()[0].isdigit() else "#", run)


def redact(text: str) -> str:
    """Mask number runs that may be card, account or phone numbers, so logs never hold them.

    A run is numerals and spelled-out digits ("zero", "oh", "one" ... "nine") separated by
    up to three spaces, commas, dots, dashes, slashes or parentheses. A run of four or more
    digits in all is masked: each numeral digit becomes "#", each digit word one "#";
    separators stay. It errs on the side of masking: long amounts and dates are masked too.
    Numbers said as "four thousand" are not recognized.

    Example: ``redact("card 4111-1111, pin four five six seven")`` is
    ``"card ####-####, pin # # # #"``.
    """
    return _RUN_RE.sub(_mask_run, text)
