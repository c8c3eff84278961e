"""Detection evaluation harness: synthetic two-speaker calls from RAVDESS, plus one real call.

Every synthetic call is built in memory at 16 kHz (agent and customer channels), run through
the public `Pipeline` API and scored from its alerts alone, so the harness does not depend on
detector internals. Takes are RAVDESS sentences (`03-01-EE-II-SS-01-AA.flac`) trimmed of
leading and trailing silence; "normal" voice means neutral (01) and calm (02) takes of any
intensity, "emphatic" angry-normal (05-01) and "shout" angry-strong (05-02). Pauses between
takes are 0.4-0.9 s. Every call has its own RNG seeded from `--seed` and the call id, so a
call is the same whichever subset of actors is run.

Sections (A = the customer's actor, B = the agent's actor; actors 1-12):

1. Customer cases, per actor A (agent B = A+1 mod 12 replies in normal voice after each
   customer turn): a baseline of ~24 s of A's normal speech, then an ~8-10 s test window of
   customer takes only: `shout` (05-02), `shout_quiet` (05-02 scaled to the speech RMS of A's
   normal takes), `emphatic` (05-01), `gain+6/+12/+18` (two normal takes held out of the
   baseline, amplified and clipped to [-1, 1]) and `phone` (the held-out takes through a
   300-3400 Hz band-pass, 8 kHz, G.711 mu-law, +6 dB; the baseline stays clean: a route
   change mid-call). Shouts pass with customer_yelling in the window, emphatic with
   customer_raised or customer_yelling; gain and phone cases fail on any customer_yelling.
2. Matching, per ordered pair (A, B) with B = A+1 and B = A+5 mod 12: a dialogue of normal
   turns (1-2 takes each, >= 30 s and >= 12 s of speech per speaker), then 3 exchanges where
   the customer shouts and the agent answers with angry takes (05-01/05-02 mixed, `match`:
   needs agent_matching) or normal takes (`calm_reply`: fails on agent_matching,
   agent_raised or agent_yelling).
3. Interruptions, per pair: the same dialogue, then a long customer turn (5+ normal takes,
   0.1-0.2 s gaps, >= 8 s). `barge_in`: the agent speaks 2-3 takes (>= 2 s) from 2.5-3.5 s
   into the turn while the customer carries on (pass: agent_interrupting starting within 1 s
   of the barge-in, the time from which the agent is audibly talking); `backchannel`: a
   350 ms sound of the agent mid-turn; `polite`: the agent starts 350 ms after the turn
   ends (both fail on agent_interrupting).
4. The real calm call (`calls/auto_repairs_40_agentL_customerR_8k.flac`, agent left): alerts
   per kind, false alerts per hour for *_yelling plus agent_matching, and for all kinds; and
   the same call with the roles swapped (the customer's voice judged by the agent's rules
   and the other way round: the caller's happy ending as an agent's voice), same targets.

Window alerts are those starting at or after window start - 1 s. Any acoustic alert starting
earlier fails "baseline clean" for that call (rate over all synthetic calls).

5. Hot starts, per actor A: the customer opens with `HOT_S` of shouting (`hot_shout`, pass:
   customer_yelling starting before the hot part ends, live or late) or emphatic takes
   (`hot_emphatic`: customer_raised or customer_yelling), then calms down for ~24 s of
   speech; `high_normal` (female actors): normal takes shifted up `HIGH_SHIFT_ST` for the
   whole call (fails on any customer alert); `high_excited` (female actors): the normal
   takes shifted up 5, 6 and 7 st, mixed (an excited but calm high voice, 300-420 Hz:
   fails on customer_yelling).
6. Crosstalk, per pair: the interruption calls with each channel hearing the other speaker
   (2-25 ms later, low-passed, 6-14 dB down, a short reverberant tail): `xtalk_dialogue`
   (the dialogue and a polite reply: fails on any acoustic alert or more than 1 s of
   overlap) and `xtalk_barge` (the barge-in must still be found). `shout_back` (section 2):
   the agent answers a shouting customer with shouts only; passes with agent_matching and
   no separate agent_yelling.

Without `--actors`, actors 1-6 and 7-12 run as separate halves (partners from the same
half). `--crosswise` adds the runs that test the settings fitted on one half
(`fit_settings`: the thresholds chosen by looking at development calls, picked from a small
grid by the fitting half's own targets) on the other, both directions.

Usage: python bench/eval_detection.py [--config TOML] [--actors 1,2,3] [--verbose]
       [--json PATH] [--data DIR] [--seed N] [--jobs N] [--cases A,B] [--crosswise]
       [--no-calm] [--transcribe]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import sys
import time
import zlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

SR = 16_000
ACTORS = tuple(range(1, 13))
PAIR_OFFSETS = (1, 5)
ACOUSTIC_KINDS = (
    "customer_raised",
    "customer_yelling",
    "agent_raised",
    "agent_yelling",
    "agent_matching",
    "agent_interrupting",
)
AGENT_ELEVATED = ("agent_matching", "agent_raised", "agent_yelling")
CUSTOMER_ELEVATED = {"customer_raised", "customer_yelling"}
T = TypeVar("T")
CALM_CALL = Path("calls") / "auto_repairs_40_agentL_customerR_8k.flac"

WINDOW_SLACK_S = 1.0
BASELINE_SPEECH_S = 24.0
WINDOW_S = 8.0
DIALOGUE_MIN_S = 30.0
DIALOGUE_SPEECH_S = 12.0
LONG_TURN_S = 8.0
TAIL_S = 2.0
BACKCHANNEL_S = 0.35
FADE_S = 0.02

CUSTOMER_CASES = ("shout", "shout_quiet", "emphatic", "gain+6", "gain+12", "gain+18", "phone")
HOT_CASES = ("hot_shout", "hot_emphatic", "high_normal", "high_excited")
HIGH_CASES = ("high_normal", "high_excited")
MATCH_CASES = ("match", "calm_reply", "shout_back")
INTERRUPT_CASES = ("barge_in", "backchannel", "polite")
XTALK_CASES = ("xtalk_dialogue", "xtalk_barge")
HOT_S = 6.0
"""Speech (s) of shouting or emphatic takes a hot-start call opens with."""
HIGH_SHIFT_ST = 4.0
"""Pitch shift (st) that makes the female actors' normal voices a high register."""
EXCITED_SHIFTS_ST = (5.0, 6.0, 7.0)
"""Pitch shifts (st) of the female actors' normal takes for an excited but calm high voice:
each take is in the deck once per shift, so the voice moves up and down over the call."""


@dataclass(frozen=True)
class Target:
    """One table row: a case, whether it is a detection (pos) or false-alarm (neg) test."""

    case: str
    positive: bool
    rate: float


TARGETS = (
    Target("shout", True, 0.95),
    Target("shout_quiet", True, 0.90),
    Target("emphatic", True, 0.80),
    Target("gain+6", False, 0.02),
    Target("gain+12", False, 0.02),
    Target("gain+18", False, 0.02),
    Target("phone", False, 0.02),
    Target("match", True, 0.90),
    Target("calm_reply", False, 0.10),
    Target("barge_in", True, 0.90),
    Target("backchannel", False, 0.10),
    Target("polite", False, 0.10),
    Target("hot_shout", True, 0.90),
    Target("hot_emphatic", True, 0.80),
    Target("high_normal", False, 0.02),
    Target("high_excited", False, 0.02),
    Target("shout_back", True, 0.90),
    Target("xtalk_dialogue", False, 0.05),
    Target("xtalk_barge", True, 0.90),
)
BASELINE_TARGET = 0.97


# ---------------------------------------------------------------------------------------
# Takes


@dataclass(frozen=True)
class ActorTakes:
    """One actor's trimmed takes, 16 kHz float32."""

    neutral: tuple[np.ndarray, ...]
    calm: tuple[np.ndarray, ...]
    emphatic: tuple[np.ndarray, ...]
    shout: tuple[np.ndarray, ...]

    @property
    def normal(self) -> tuple[np.ndarray, ...]:
        return self.neutral + self.calm


def fade(x: np.ndarray, fade_s: float) -> np.ndarray:
    """Linear fade in and out over `fade_s` seconds (copy)."""
    n = min(int(fade_s * SR), x.shape[0] // 2)
    y = x.astype(np.float32, copy=True)
    if n > 0:
        ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
        y[:n] *= ramp
        y[-n:] *= ramp[::-1]
    return y


def read_take(path: Path) -> np.ndarray:
    """One file, mono 16 kHz, trimmed of leading/trailing silence, 5 ms edge fades."""
    import librosa
    import soundfile as sf

    x, rate = sf.read(str(path), dtype="float32", always_2d=True)
    if rate != SR:
        raise ValueError(f"{path}: expected {SR} Hz, got {rate}")
    y, _ = librosa.effects.trim(x[:, 0], top_db=35)
    return fade(y, 0.005)


@cache
def actor_takes(ravdess: str, actor: int) -> ActorTakes:
    """All takes of one actor (cached per process)."""

    def takes(emotion: int, intensities: Iterable[int]) -> tuple[np.ndarray, ...]:
        return tuple(
            read_take(Path(ravdess) / f"03-01-{emotion:02d}-{i:02d}-{s:02d}-01-{actor:02d}.flac")
            for i in intensities
            for s in (1, 2)
        )

    return ActorTakes(
        neutral=takes(1, (1,)),
        calm=takes(2, (1, 2)),
        emphatic=takes(5, (1,)),
        shout=takes(5, (2,)),
    )


def speech_rms(takes: Iterable[np.ndarray]) -> float:
    """RMS over the speech frames (20 ms frames within 30 dB of the loudest) of the takes."""
    x = np.concatenate(list(takes))
    n = SR // 50
    frames = x[: x.shape[0] // n * n].reshape(-1, n).astype(np.float64)
    power = np.mean(frames**2, axis=1) + 1e-12
    active = power > power.max() * 1e-3
    return float(np.sqrt(np.mean(power[active])))


class Deck(Generic[T]):
    """Draws takes in shuffled order, reshuffling when all were used."""

    def __init__(self, takes: Iterable[T], rng: np.random.Generator) -> None:
        self.takes = list(takes)
        self.rng = rng
        self.order: list[int] = []

    def draw(self) -> T:
        if not self.order:
            self.order = [int(i) for i in self.rng.permutation(len(self.takes))]
        return self.takes[self.order.pop()]


# ---------------------------------------------------------------------------------------
# Signal processing for the test windows


def apply_gain(x: np.ndarray, gain_db: float) -> tuple[np.ndarray, int]:
    """Amplify and clip to [-1, 1]; returns the signal and the number of clipped samples."""
    y = x.astype(np.float64) * 10 ** (gain_db / 20)
    clipped = int(np.count_nonzero(np.abs(y) > 1.0))
    return np.clip(y, -1.0, 1.0).astype(np.float32), clipped


MULAW_BIAS = 0x84
MULAW_CLIP = 32635


def mulaw_encode(pcm: np.ndarray) -> np.ndarray:
    """G.711 mu-law encoding of 16-bit linear samples (int) to bytes (uint8)."""
    pcm = pcm.astype(np.int32)
    sign = (pcm < 0).astype(np.int32)
    mag = np.minimum(np.abs(pcm), MULAW_CLIP) + MULAW_BIAS
    exponent = np.clip(np.floor(np.log2(mag)).astype(np.int32) - 7, 0, 7)
    mantissa = (mag >> (exponent + 3)) & 0x0F
    return (~((sign << 7) | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)


def mulaw_decode(code: np.ndarray) -> np.ndarray:
    """G.711 mu-law bytes back to 16-bit linear samples (int32)."""
    u = ~code.astype(np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    mag = (((mantissa << 3) + MULAW_BIAS) << exponent) - MULAW_BIAS
    return np.where(u & 0x80, -mag, mag).astype(np.int32)


def phone_line(x: np.ndarray, gain_db: float = 6.0) -> tuple[np.ndarray, int]:
    """Gain, 300-3400 Hz band-pass, 8 kHz, G.711 mu-law and back to 16 kHz.

    Returns the signal and the number of samples clipped by the codec.
    """
    import soxr
    from scipy.signal import butter, sosfilt

    sos = butter(4, [300.0, 3400.0], btype="bandpass", fs=SR, output="sos")
    y = sosfilt(sos, x.astype(np.float64) * 10 ** (gain_db / 20))
    narrow = soxr.resample(y, SR, 8000) * 32768.0
    clipped = int(np.count_nonzero(np.abs(narrow) > MULAW_CLIP))
    pcm = np.clip(np.round(narrow), -32768, 32767)
    line = mulaw_decode(mulaw_encode(pcm)).astype(np.float64) / 32768.0
    return np.asarray(soxr.resample(line, 8000, SR), dtype=np.float32), clipped


# ---------------------------------------------------------------------------------------
# Building calls


class CallBuilder:
    """Places takes on the two channels of a call and renders them."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.parts: dict[str, list[tuple[int, np.ndarray]]] = {"agent": [], "customer": []}
        self.speech_s: dict[str, float] = {"agent": 0.0, "customer": 0.0}
        self.placed: list[tuple[str, float, float]] = []

    def pause(self) -> float:
        return float(self.rng.uniform(0.4, 0.9))

    def gap(self) -> float:
        return float(self.rng.uniform(0.1, 0.2))

    def place(self, speaker: str, t: float, x: np.ndarray) -> float:
        """Put `x` on `speaker`'s channel at `t` seconds; returns its end time."""
        self.parts[speaker].append((int(round(t * SR)), x))
        self.speech_s[speaker] += x.shape[0] / SR
        self.placed.append((speaker, round(t, 3), round(t + x.shape[0] / SR, 3)))
        return t + x.shape[0] / SR

    def turn(self, speaker: str, deck: Deck, t: float, n_takes: int) -> float:
        """`n_takes` takes separated by normal pauses; returns the time after the next pause."""
        for _ in range(n_takes):
            t = self.place(speaker, t, deck.draw()) + self.pause()
        return t

    def render(self, tail_s: float = TAIL_S) -> tuple[np.ndarray, np.ndarray]:
        end = max(s + x.shape[0] for parts in self.parts.values() for s, x in parts)
        n = end + int(tail_s * SR)
        out = {sp: np.zeros(n, np.float32) for sp in self.parts}
        for sp, parts in self.parts.items():
            for s, x in parts:
                out[sp][s : s + x.shape[0]] += x
        return out["agent"], out["customer"]


def dialogue(b: CallBuilder, customer: Deck, agent: Deck, t: float) -> float:
    """Alternating normal turns (customer first, 1-2 takes each) until the call is at least
    `DIALOGUE_MIN_S` long and each speaker has `DIALOGUE_SPEECH_S` of speech."""
    while t < DIALOGUE_MIN_S or min(b.speech_s.values()) < DIALOGUE_SPEECH_S:
        t = b.turn("customer", customer, t, int(b.rng.integers(1, 3)))
        t = b.turn("agent", agent, t, int(b.rng.integers(1, 3)))
    return t


@dataclass
class Spec:
    """What one synthetic call holds, enough to score it."""

    call_id: str
    section: str
    case: str
    customer_actor: int
    agent_actor: int
    window_start: float
    window_end: float
    barge_in: float | None = None
    clipped: int = 0
    window_samples: int = 0
    layout: list[tuple[str, float, float]] = field(default_factory=list)
    """(speaker, start, end) of every take from window start - 1 s on."""


def finish(spec: Spec, b: CallBuilder) -> tuple[Spec, np.ndarray, np.ndarray]:
    """Record the test part's layout in `spec` and render the call."""
    spec.layout = [p for p in b.placed if p[2] >= spec.window_start - WINDOW_SLACK_S]
    return (spec, *b.render())


def held_out_split(
    takes: ActorTakes, rng: np.random.Generator
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(baseline takes, held-out takes): one neutral and one calm take are held out."""
    hold = {("n", int(rng.integers(len(takes.neutral)))), ("c", int(rng.integers(len(takes.calm))))}
    tagged = [("n", i, x) for i, x in enumerate(takes.neutral)]
    tagged += [("c", i, x) for i, x in enumerate(takes.calm)]
    base = [x for tag, i, x in tagged if (tag, i) not in hold]
    out = [x for tag, i, x in tagged if (tag, i) in hold]
    return base, out


def window_takes(case: str, a: ActorTakes, held: list[np.ndarray]) -> list[tuple[np.ndarray, int]]:
    """The customer's test-window takes for `case`, each with its number of clipped samples."""
    if case == "shout":
        return [(x, 0) for x in a.shout]
    if case == "shout_quiet":
        scale = speech_rms(a.normal) / speech_rms(a.shout)
        return [((x * scale).astype(np.float32), 0) for x in a.shout]
    if case == "emphatic":
        return [(x, 0) for x in a.emphatic]
    if case.startswith("gain"):
        return [apply_gain(x, float(case[4:])) for x in held]
    if case == "phone":
        return [phone_line(x, 6.0) for x in held]
    raise ValueError(f"unknown customer case {case!r}")


def build_customer(
    ravdess: str, case: str, actor: int, partner: int, rng: np.random.Generator
) -> tuple[Spec, np.ndarray, np.ndarray]:
    """Section 1: baseline dialogue, then the customer's test window."""
    a = actor_takes(ravdess, actor)
    base, held = held_out_split(a, rng)
    b = CallBuilder(rng)
    customer = Deck(base, rng)
    agent = Deck(actor_takes(ravdess, partner).normal, rng)
    t = 0.5
    while b.speech_s["customer"] < BASELINE_SPEECH_S:
        t = b.turn("customer", customer, t, int(rng.integers(1, 3)))
        t = b.turn("agent", agent, t, 1)
    deck = Deck(window_takes(case, a, held), rng)
    start = end = t
    clipped = samples = 0
    while t - start < WINDOW_S:
        x, n_clipped = deck.draw()
        clipped, samples = clipped + n_clipped, samples + x.shape[0]
        end = b.place("customer", t, x)
        t = end + b.pause()
    spec = Spec(f"cust-{case}-a{actor:02d}", "customer", case, actor, partner, start, end)
    spec.clipped, spec.window_samples = clipped, samples
    return finish(spec, b)


def build_matching(
    ravdess: str, case: str, actor: int, partner: int, rng: np.random.Generator
) -> tuple[Spec, np.ndarray, np.ndarray]:
    """Section 2: dialogue, then 3 exchanges of customer shouts and agent answers."""
    a, p = actor_takes(ravdess, actor), actor_takes(ravdess, partner)
    b = CallBuilder(rng)
    agent_normal = Deck(p.normal, rng)
    t = dialogue(b, Deck(a.normal, rng), agent_normal, 0.5)
    shouts = Deck(a.shout, rng)
    if case == "match":
        answers = Deck(p.emphatic + p.shout, rng)
    elif case == "shout_back":
        answers = Deck(p.shout, rng)
    else:
        answers = agent_normal
    start = t
    for _ in range(3):
        t = b.turn("customer", shouts, t, int(rng.integers(1, 3)))
        t = b.turn("agent", answers, t, int(rng.integers(1, 3)))
    call_id = f"match-{case}-a{actor:02d}-b{partner:02d}"
    spec = Spec(call_id, "matching", case, actor, partner, start, t)
    return finish(spec, b)


def long_turn(b: CallBuilder, deck: Deck, t: float, min_s: float) -> float:
    """A customer turn of >= 5 takes with 0.1-0.2 s gaps lasting >= `min_s`; returns its end."""
    start, n = t, 0
    while n < 5 or t - start < min_s:
        end = b.place("customer", t, deck.draw())
        t, n = end + b.gap(), n + 1
    return end


def sounding_at(b: CallBuilder, speaker: str, t: float, hold_s: float = 0.5) -> float:
    """The first time from `t` at which `speaker` is audibly talking for `hold_s`: every
    30 ms frame within 30 dB of the loudest frame of that speaker's placed takes."""
    agent, customer = b.render(tail_s=0.0)
    x = agent if speaker == "agent" else customer
    frame = int(0.03 * SR)
    n = x.shape[0] // frame
    db = 10 * np.log10((x[: n * frame].reshape(n, frame) ** 2).mean(axis=1) + 1e-12)
    loud = db > db.max() - 30.0
    need = int(hold_s / 0.03)
    for i in range(int(t / 0.03), n - need):
        if loud[i : i + need].all():
            return i * 0.03
    return t


def build_interrupt(
    ravdess: str, case: str, actor: int, partner: int, rng: np.random.Generator
) -> tuple[Spec, np.ndarray, np.ndarray]:
    """Section 3: dialogue, then a long customer turn with a barge-in, backchannel or none."""
    a, p = actor_takes(ravdess, actor), actor_takes(ravdess, partner)
    b = CallBuilder(rng)
    customer, agent = Deck(a.normal, rng), Deck(p.normal, rng)
    start = dialogue(b, customer, agent, 0.5)
    call_id = f"intr-{case}-a{actor:02d}-b{partner:02d}"
    spec = Spec(call_id, "interrupt", case, actor, partner, start, start)
    if case == "barge_in":
        takes: list[np.ndarray] = []
        while len(takes) < 2 or (len(takes) < 3 and sum(x.shape[0] for x in takes) < 2 * SR):
            takes.append(agent.draw())
        agent_s = sum(x.shape[0] for x in takes) / SR + 0.2 * len(takes)
        spec.window_end = long_turn(b, customer, start, max(LONG_TURN_S, 3.5 + agent_s + 1.0))
        # Barge in while the customer is audibly talking (RAVDESS takes keep quiet edges).
        offset = sounding_at(b, "customer", start + float(rng.uniform(2.5, 3.5))) - start
        t = start + offset
        for x in takes:
            t = b.place("agent", t, x) + b.gap()
        # The barge-in is where the agent is audibly talking: a take can open with up to
        # a second of near-silence (40 dB down) that trimming kept.
        spec.barge_in = sounding_at(b, "agent", start + offset, hold_s=0.1)
    elif case == "backchannel":
        end = long_turn(b, customer, start, LONG_TURN_S)
        sound = fade(agent.draw()[: int(BACKCHANNEL_S * SR)], FADE_S)
        b.place("agent", start + float(rng.uniform(0.4, 0.6)) * (end - start), sound)
        spec.window_end = end
    elif case == "polite":
        end = long_turn(b, customer, start, LONG_TURN_S)
        spec.window_end = b.turn("agent", agent, end + BACKCHANNEL_S, int(rng.integers(1, 3)))
    else:
        raise ValueError(f"unknown interruption case {case!r}")
    return finish(spec, b)


def pitch_shifted(takes: Iterable[np.ndarray], steps: float) -> tuple[np.ndarray, ...]:
    """Takes shifted in pitch by `steps` semitones, same duration."""
    import librosa

    return tuple(
        fade(librosa.effects.pitch_shift(x, sr=SR, n_steps=steps).astype(np.float32), 0.005)
        for x in takes
    )


@cache
def high_takes(ravdess: str, actor: int, case: str = "high_normal") -> tuple[np.ndarray, ...]:
    """The actor's normal takes shifted up `HIGH_SHIFT_ST` (`high_normal`) or by each of
    `EXCITED_SHIFTS_ST` (`high_excited`), cached per process."""
    normal = actor_takes(ravdess, actor).normal
    if case == "high_normal":
        return pitch_shifted(normal, HIGH_SHIFT_ST)
    return tuple(x for st in EXCITED_SHIFTS_ST for x in pitch_shifted(normal, st))


def build_hot(
    ravdess: str, case: str, actor: int, partner: int, rng: np.random.Generator
) -> tuple[Spec, np.ndarray, np.ndarray]:
    """Section 5: the customer is elevated from the first word, then calms down
    (`hot_shout`, `hot_emphatic`); or a high-register customer stays normal throughout
    (`high_normal`: the normal takes shifted up `HIGH_SHIFT_ST`, female actors only), or
    an excited but calm high voice (`high_excited`: shifted 5-7 st). The agent replies in
    normal voice after every customer turn."""
    a = actor_takes(ravdess, actor)
    b = CallBuilder(rng)
    agent = Deck(actor_takes(ravdess, partner).normal, rng)
    normal = high_takes(ravdess, actor, case) if case in HIGH_CASES else a.normal
    t = 0.5
    end = t
    if case in ("hot_shout", "hot_emphatic"):
        hot = Deck(a.shout if case == "hot_shout" else a.emphatic, rng)
        while b.speech_s["customer"] < HOT_S:
            t = b.turn("customer", hot, t, int(rng.integers(1, 3)))
            end = b.placed[-1][2]
            t = b.turn("agent", agent, t, 1)
    calm = Deck(normal, rng)
    target = b.speech_s["customer"] + BASELINE_SPEECH_S
    while b.speech_s["customer"] < target:
        t = b.turn("customer", calm, t, int(rng.integers(1, 3)))
        t = b.turn("agent", agent, t, 1)
    spec = Spec(f"hot-{case}-a{actor:02d}", "hot", case, actor, partner, 0.5, end)
    spec.layout = list(b.placed)
    return (spec, *b.render())


def crosstalk_mix(
    agent: np.ndarray, customer: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Each channel also hears the other speaker: a delayed (2-25 ms), low-passed (2.5-4
    kHz), attenuated (6-14 dB) copy with a short reverberant tail, both ways (two
    lavaliers or a speakerphone in one room)."""
    from scipy.signal import butter, sosfilt

    out = []
    for own, other in ((agent, customer), (customer, agent)):
        delay = int(rng.uniform(0.002, 0.025) * SR)
        gain = 10 ** (-rng.uniform(6.0, 14.0) / 20)
        sos = butter(2, rng.uniform(2500.0, 4000.0), btype="lowpass", fs=SR, output="sos")
        ir = np.zeros(int(0.12 * SR))
        ir[0] = 1.0
        taps = rng.integers(int(0.005 * SR), ir.size, 12)
        ir[taps] += rng.normal(0, 0.25, taps.size) * np.exp(-taps / (0.04 * SR))
        leak = np.convolve(sosfilt(sos, other.astype(np.float64)), ir)[: other.size]
        leak = np.concatenate([np.zeros(delay), leak])[: other.size] * gain
        out.append(np.clip(own + leak, -1.0, 1.0).astype(np.float32))
    return out[0], out[1]


def build_xtalk(
    ravdess: str, case: str, actor: int, partner: int, rng: np.random.Generator
) -> tuple[Spec, np.ndarray, np.ndarray]:
    """Section 6: the interruption calls with crosstalk both ways: `xtalk_dialogue` (the
    dialogue and a polite reply: no alerts, no overlap) and `xtalk_barge` (a real barge-in
    must still be found)."""
    inner = "polite" if case == "xtalk_dialogue" else "barge_in"
    spec, agent, customer = build_interrupt(ravdess, inner, actor, partner, rng)
    agent, customer = crosstalk_mix(agent, customer, rng)
    spec.call_id = f"xtalk-{case}-a{actor:02d}-b{partner:02d}"
    spec.section, spec.case = "xtalk", case
    spec.window_start = 0.5 if case == "xtalk_dialogue" else spec.window_start
    return spec, agent, customer


BUILDERS = {
    "customer": build_customer,
    "matching": build_matching,
    "interrupt": build_interrupt,
    "hot": build_hot,
    "xtalk": build_xtalk,
}


# ---------------------------------------------------------------------------------------
# Running and scoring


@dataclass
class CallResult:
    """One call's outcome."""

    spec: Spec
    passed: bool
    baseline_clean: bool
    alerts: list[dict[str, Any]]
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    config: str | None = None


def alert_record(a: Any, emitted: float | None = None) -> dict[str, Any]:
    """An alert as the harness scores it. `decided`: the stream time (s) the detector made
    the decision (a live alert's end is the tick it was decided in; a late alert says when
    it was found); `emitted`: the end of the block after which the pipeline handed it on."""
    late = bool(getattr(a, "late", False))
    decided = a.evidence.get("found_at_s", a.end) if late else a.end
    return {
        "kind": a.kind,
        "speaker": a.speaker,
        "start": round(float(a.start), 3),
        "end": round(float(a.end), 3),
        "evidence": a.evidence,
        "severity": a.severity,
        "late": late,
        "decided": round(float(decided), 3),
        "emitted": None if emitted is None else round(emitted, 3),
    }


def run_pipeline(
    blocks: Iterable[Any], call_id: str, config: str | None = None
) -> tuple[list[dict[str, Any]], dict]:
    """Alerts (as records) and the summary of one call through the public pipeline."""
    from monitor.pipeline import Pipeline

    pipe = Pipeline(_worker_config(config), call_id)
    out: list[dict[str, Any]] = []
    for blk in blocks:
        out += [alert_record(a, pipe.decided / SR) for a in pipe.push(blk)]
    out += [alert_record(a, pipe.decided / SR) for a in pipe.finish()]
    return out, pipe.summary()


def score(
    spec: Spec, alerts: list[dict[str, Any]], summary: dict[str, Any] | None = None
) -> tuple[bool, bool]:
    """(case passed, baseline clean) for one synthetic call.

    Hot-start, high-register and crosstalk calls have no separate baseline part: they count
    as clean (their case says whether the start was judged right)."""
    summary = summary or {}
    cut = spec.window_start - WINDOW_SLACK_S
    window = [a for a in alerts if a["start"] >= cut]
    kinds = {a["kind"] for a in window}
    clean = not any(a["start"] < cut and a["kind"] in ACOUSTIC_KINDS for a in alerts)
    case = spec.case
    if case in ("shout", "shout_quiet"):
        return "customer_yelling" in kinds, clean
    if case == "emphatic":
        return bool(kinds & {"customer_raised", "customer_yelling"}), clean
    if case.startswith("gain") or case == "phone":
        return "customer_yelling" not in kinds, clean
    if case == "match":
        return "agent_matching" in kinds, clean
    if case == "calm_reply":
        return not kinds & set(AGENT_ELEVATED), clean
    if case == "barge_in":
        assert spec.barge_in is not None
        hits = [
            a
            for a in window
            if a["kind"] == "agent_interrupting" and abs(a["start"] - spec.barge_in) <= 1.0
        ]
        return bool(hits), clean
    if case in ("backchannel", "polite"):
        return "agent_interrupting" not in kinds, clean
    if case == "shout_back":
        # One alert for the agent that carries the yelling evidence, no separate yelling.
        hits = [a for a in window if a["kind"] == "agent_matching"]
        return bool(hits) and "agent_yelling" not in kinds, clean
    if case in ("hot_shout", "hot_emphatic"):
        want = {"customer_yelling"} if case == "hot_shout" else CUSTOMER_ELEVATED
        hits = [a for a in alerts if a["kind"] in want and a["start"] <= spec.window_end + 1.0]
        return bool(hits), True
    if case == "high_normal":
        return not any(a["speaker"] == "customer" for a in alerts), True
    if case == "high_excited":
        return not any(a["kind"] == "customer_yelling" for a in alerts), True
    if case == "xtalk_dialogue":
        false = [a for a in alerts if a["kind"] in ACOUSTIC_KINDS]
        return not false and summary.get("overlap_s", 0.0) <= 1.0, True
    if case == "xtalk_barge":
        assert spec.barge_in is not None
        hits = [
            a
            for a in window
            if a["kind"] == "agent_interrupting" and abs(a["start"] - spec.barge_in) <= 1.0
        ]
        return bool(hits), clean
    raise ValueError(f"unknown case {case!r}")


_STATE: dict[str, Any] = {}


def _init_worker(config_path: str | None, transcribe: bool = False) -> None:
    _STATE["config_path"] = config_path
    _STATE["transcribe"] = transcribe
    _STATE.pop("configs", None)


def _worker_config(path: str | None = None) -> Any:
    """The settings of the run (or of the settings file `path`, for a fitting grid point)."""
    from monitor.config import load_config

    configs = _STATE.setdefault("configs", {})
    path = path or _STATE.get("config_path")
    if path not in configs:
        configs[path] = load_config(path)
    return configs[path]


@dataclass(frozen=True)
class Job:
    """One synthetic call to build and run."""

    section: str
    case: str
    actor: int
    partner: int
    ravdess: str
    seed: int
    config: str | None = None
    """A settings file of its own (a fitting grid point); None: the run's settings."""

    @property
    def key(self) -> str:
        return f"{self.section}-{self.case}-{self.actor}-{self.partner}"


def run_job(job: Job) -> CallResult:
    """Build, run and score one synthetic call (in a worker process)."""
    from audio.sources import ArraySource

    rng = np.random.default_rng([job.seed, zlib.crc32(job.key.encode())])
    spec, agent, customer = BUILDERS[job.section](
        job.ravdess, job.case, job.actor, job.partner, rng
    )
    try:
        alerts, summary = run_pipeline(ArraySource(agent, customer), spec.call_id, job.config)
    except Exception as exc:  # a detector crash fails this call, not the whole evaluation
        error = f"{type(exc).__name__}: {exc}"
        return CallResult(spec, False, False, [], error=error, config=job.config)
    passed, clean = score(spec, alerts, summary)
    return CallResult(spec, passed, clean, alerts, summary, config=job.config)


def replay_with_words(path: str, swap: bool = False) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The call as `tonewatch replay --fast` runs it, with transcription and the words as a
    second opinion (the product's own path): its alerts and summary from the log."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "calm.jsonl"
        cmd = [sys.executable, "-m", "monitor", "replay", path, "--fast", "--quiet"]
        cmd += ["--log", str(log), "--call-id", "calm-call"]
        if swap:
            cmd += ["--agent-channel", "right"]
        if _STATE.get("config_path"):
            cmd += ["--config", str(_STATE["config_path"])]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        if r.returncode != 0:
            raise RuntimeError(f"replay failed: {r.stderr.strip()[-300:]}")
        records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    alerts = [
        {k: rec.get(k) for k in ("kind", "speaker", "start", "end", "evidence", "severity")}
        | {"late": bool(rec.get("late")), "text": rec.get("text"), "cue": rec.get("cue")}
        for rec in records
        if rec.get("record") == "alert"
    ]
    summary = next(rec for rec in records if rec.get("record") == "call_summary")
    return alerts, summary


@dataclass(frozen=True)
class RealCall:
    """Section 4's task: the real call at `path`, with the roles swapped or not."""

    path: str
    swap: bool = False


def run_calm_call(task: RealCall) -> dict[str, Any]:
    """Section 4: the real calm call; alerts per kind and false-alert rates per hour
    (with `--transcribe`: replayed with transcription, so the words count too)."""
    from audio.sources import FileSource

    path = task.path
    if _STATE.get("transcribe"):
        alerts, summary = replay_with_words(path, task.swap)
    else:
        source = FileSource(path, agent_channel="right" if task.swap else "left")
        alerts, summary = run_pipeline(source, "calm-call")
    hours = float(summary["duration_s"]) / 3600.0
    counts = {k: sum(a["kind"] == k for a in alerts) for k in ACOUSTIC_KINDS}
    severe = sum(counts[k] for k in ("customer_yelling", "agent_yelling", "agent_matching"))
    others = {}
    for a in alerts:
        if a["kind"] not in ACOUSTIC_KINDS:
            name = a["kind"] if a["kind"] != "phrase" else f"phrase:{a.get('cue')}"
            others[name] = others.get(name, 0) + 1
    return {
        "path": path,
        "swapped": task.swap,
        "duration_s": summary["duration_s"],
        "counts": counts,
        "yelling_matching": severe,
        "yelling_matching_per_h": severe / hours,
        "acoustic": sum(counts.values()),
        "acoustic_per_h": sum(counts.values()) / hours,
        "other_kinds": others,
        "warnings": sum(a.get("severity") in ("warning", "critical") for a in alerts),
        "transcribed": bool(_STATE.get("transcribe")),
        "alerts": alerts,
        "summary": summary,
    }


def _run_any(task: Job | RealCall) -> CallResult | dict[str, Any]:
    if not isinstance(task, RealCall):
        return run_job(task)
    try:
        return run_calm_call(task)
    except Exception as exc:  # report it on the calm-call line
        return {"path": task.path, "swapped": task.swap, "error": f"{type(exc).__name__}: {exc}"}


HALVES = ((1, 2, 3, 4, 5, 6), (7, 8, 9, 10, 11, 12))


def partner_of(actor: int, offset: int, pool: tuple[int, ...] = ACTORS) -> int:
    """The agent's actor for customer `actor`: `offset` places on within `pool` (wrapping),
    so a half of the actors is evaluated on its own speakers only."""
    i = pool.index(actor)
    return pool[(i + offset) % len(pool)]


def make_jobs(
    ravdess: Path,
    actors: Iterable[int],
    seed: int,
    pool: tuple[int, ...] = ACTORS,
    cases: set[str] | None = None,
) -> list[Job]:
    """Every synthetic call for the selected customer actors (partners from `pool`)."""
    jobs: list[Job] = []

    def add(section: str, names: Iterable[str], a: int, b: int) -> None:
        nonlocal jobs
        jobs += [
            Job(section, c, a, b, str(ravdess), seed) for c in names if cases is None or c in cases
        ]

    for a in actors:
        b = partner_of(a, 1, pool)
        add("customer", CUSTOMER_CASES, a, b)
        add("hot", [c for c in HOT_CASES if c not in HIGH_CASES or a % 2 == 0], a, b)
    for off in PAIR_OFFSETS:
        for a in actors:
            b = partner_of(a, off, pool)
            add("matching", MATCH_CASES, a, b)
            add("interrupt", INTERRUPT_CASES, a, b)
            add("xtalk", XTALK_CASES, a, b)
    return jobs


# ---------------------------------------------------------------------------------------
# Report


@dataclass
class Row:
    """One line of the results table."""

    case: str
    n: int
    passed: int
    rate: float
    positive: bool
    target: float
    ok: bool
    note: str = ""


def case_row(target: Target, results: list[CallResult]) -> Row:
    mine = [r for r in results if r.spec.case == target.case]
    n, passed = len(mine), sum(r.passed for r in mine)
    if target.positive:
        rate = passed / n if n else 0.0
        ok = n > 0 and rate >= target.rate
    else:
        rate = (n - passed) / n if n else 0.0
        ok = n > 0 and rate <= target.rate
    clipped = [r.spec for r in mine if r.spec.clipped]
    note = ""
    if clipped:
        worst = max(s.clipped / max(1, s.window_samples) for s in clipped)
        note = f"clipped in {len(clipped)}/{n} calls (up to {100 * worst:.2f}% of samples)"
    return Row(target.case, n, passed, rate, target.positive, target.rate, ok, note)


def baseline_row(results: list[CallResult]) -> Row:
    n, clean = len(results), sum(r.baseline_clean for r in results)
    rate = clean / n if n else 0.0
    by = []
    for section in BUILDERS:
        mine = [r for r in results if r.spec.section == section]
        if mine:
            by.append(f"{section} {sum(not r.baseline_clean for r in mine)}/{len(mine)}")
    note = "failures: " + ", ".join(by)
    return Row(
        "baseline clean", n, clean, rate, True, BASELINE_TARGET, rate >= BASELINE_TARGET, note
    )


def format_row(row: Row) -> str:
    rate = f"{100 * row.rate:5.1f}%" if row.positive else f"false {100 * row.rate:5.1f}%"
    target = f"{'>=' if row.positive else '<='} {100 * row.target:.0f}%"
    status = "OK" if row.ok else "MISS"
    cells = f"{row.case:<15} {row.n:>4} {row.passed:>6}  {rate:>12}  {target:>7}  {status:<4}"
    return f"{cells}  {row.note}".rstrip()


DELAY_CASES = ("shout", "shout_quiet", "emphatic", "match", "calm_reply", "shout_back")
"""Cases whose test window opens with the customer's shouts or emphatic takes: the customer
alert's decision delay is measured on them (hot starts are reported apart)."""


def decision_delay(r: CallResult) -> tuple[float, bool, float] | None:
    """(decision time - the true start of the customer's elevated takes, late, decision time
    - the alert's own start) of the first customer raised/yelling alert for that episode, or
    None (no such alert, or no such case). The true start is the first customer take of the
    test window (hot starts: of the call)."""
    s = r.spec
    if s.case not in DELAY_CASES + ("hot_shout", "hot_emphatic"):
        return None
    t0 = min(
        (a for sp, a, _ in s.layout if sp == "customer" and a >= s.window_start - 0.01),
        default=None,
    )
    if t0 is None:
        return None
    if s.section == "hot":
        mine = [a for a in r.alerts if a["start"] <= s.window_end + WINDOW_SLACK_S]
    else:
        mine = [a for a in r.alerts if a["start"] >= s.window_start - WINDOW_SLACK_S]
    mine = [a for a in mine if a["kind"] in CUSTOMER_ELEVATED]
    if not mine:
        return None
    first = min(mine, key=lambda a: a["decided"])
    return first["decided"] - t0, bool(first["late"]), first["decided"] - first["start"]


def delay_figures(results: list[CallResult]) -> dict[str, Any]:
    """Median and p95 of the customer alerts' decision delays (live ones), and the hot starts'
    live/late split."""
    live: dict[str, list[float]] = {}
    own: list[float] = []
    hot: dict[str, list[float]] = {"live": [], "late": []}
    for r in results:
        d = decision_delay(r)
        if d is None:
            continue
        if r.spec.section == "hot":
            hot["late" if d[1] else "live"].append(d[0])
        elif not d[1]:
            live.setdefault(r.spec.case, []).append(d[0])
            own.append(d[2])
    every = [x for xs in live.values() for x in xs]

    def stat(xs: list[float]) -> dict[str, float]:
        if not xs:
            return {}
        return {
            "n": len(xs),
            "median": round(float(np.median(xs)), 2),
            "p95": round(float(np.percentile(xs, 95)), 2),
            "max": round(float(max(xs)), 2),
        }

    return {
        "all": stat(every),
        "after_alert_start": stat(own),
        "by_case": {k: stat(v) for k, v in sorted(live.items())},
        "hot_live": stat(hot["live"]),
        "hot_late": stat(hot["late"]),
    }


def format_delays(name: str, fig: dict[str, Any]) -> str:
    a = fig["all"]
    if not a:
        return f"[{name}] customer alert decision delay: no alerts"
    cases = ", ".join(f"{k} {v['median']:.2f}/{v['p95']:.2f}" for k, v in fig["by_case"].items())
    line = (
        f"[{name}] customer alert decision delay after the elevated takes start: median "
        f"{a['median']:.2f} s, p95 {a['p95']:.2f} s, max {a['max']:.2f} s (n={a['n']}; "
        f"median/p95 by case: {cases})"
    )
    o = fig["after_alert_start"]
    line += (
        f"\n    after the alert's own start (the episode as the alert tells it): median "
        f"{o['median']:.2f} s, p95 {o['p95']:.2f} s, max {o['max']:.2f} s"
    )
    for key in ("hot_live", "hot_late"):
        h = fig[key]
        if h:
            line += f"\n    hot starts {key[4:]}: n={h['n']}, median {h['median']:.2f} s"
            line += f", p95 {h['p95']:.2f} s"
    return line


def format_calm(calm: dict[str, Any]) -> str:
    name = "calm call, roles swapped" if calm.get("swapped") else "calm call"
    if "error" in calm:
        return f"{name}: MISS, raised {calm['error']}"
    counts = ", ".join(f"{k} {v}" for k, v in calm["counts"].items() if v) or "none"
    if calm.get("other_kinds"):
        counts += "; " + ", ".join(f"{k} {v}" for k, v in calm["other_kinds"].items())
    status = "OK" if calm["yelling_matching"] == 0 else "MISS"
    warned = "OK" if calm["warnings"] - calm["yelling_matching"] <= 1 else "MISS"
    words = " with words" if calm.get("transcribed") else ""
    return (
        f"{name}{words} ({calm['duration_s']:.0f} s): {counts}\n"
        f"  yelling+matching {calm['yelling_matching']} "
        f"({calm['yelling_matching_per_h']:.0f}/h, target 0) {status}; "
        f"all acoustic {calm['acoustic']} ({calm['acoustic_per_h']:.0f}/h); "
        f"warnings {calm['warnings']} (target <= 1 besides yelling/matching) {warned}"
    )


def format_failure(r: CallResult) -> str:
    """A failing call, its alerts and their evidence, for --verbose."""
    s = r.spec
    what = ("" if r.passed else " FAIL") + ("" if r.baseline_clean else " BASELINE")
    barge = f", barge-in {s.barge_in:.2f} s" if s.barge_in is not None else ""
    head = f"{s.call_id} [{what.strip()}] window {s.window_start:.2f}-{s.window_end:.2f} s{barge}"
    takes = "; ".join(f"{sp[0]} {t0:.2f}-{t1:.2f}" for sp, t0, t1 in s.layout)
    head += f"\n    takes (a=agent, c=customer): {takes}"
    if r.error:
        return f"{head}\n    error: {r.error}"
    lines = [
        f"    {a['start']:7.2f}-{a['end']:7.2f} {a['kind']:<20} {json.dumps(a['evidence'])}"
        for a in r.alerts
    ]
    return "\n".join([head, *(lines or ["    (no alerts)"])])


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


# ---------------------------------------------------------------------------------------
# Main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    default_data = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", help="settings TOML passed to load_config")
    p.add_argument("--actors", help="customer actors to run, e.g. 1,2,3 (default: all 12)")
    p.add_argument("--verbose", action="store_true", help="print failing calls with alerts")
    p.add_argument("--json", type=Path, help="write all results to this file")
    p.add_argument("--data", type=Path, default=default_data, help="shared data directory")
    p.add_argument("--seed", type=int, default=1234, help="base RNG seed")
    p.add_argument("--jobs", type=int, default=2, help="worker processes")
    p.add_argument("--cases", help="only these cases, e.g. hot_shout,shout_back")
    p.add_argument(
        "--crosswise",
        action="store_true",
        help="also fit the fitted settings on each half and test them on the other",
    )
    p.add_argument("--no-calm", action="store_true", help="skip the real calm call")
    p.add_argument(
        "--transcribe",
        action="store_true",
        help="replay the real calm call with transcription (words as a second opinion)",
    )
    return p.parse_args(argv)


def parse_actors(text: str | None) -> list[int]:
    if not text:
        return list(ACTORS)
    try:
        actors = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        actors = []
    if not actors or any(a not in ACTORS for a in actors):
        raise ValueError(f"--actors must be numbers 1-12, got {text!r}")
    return sorted(set(actors))


def run_all(
    jobs: list[Job], calm: Path | None, config: str | None, n_proc: int, transcribe: bool = False
) -> tuple[list[CallResult], list[dict[str, Any]]]:
    """The column's synthetic calls and its real-call results (as played, then swapped)."""
    tasks: list[Job | RealCall] = (
        [RealCall(str(calm), swap) for swap in (False, True)] if calm else []
    )
    tasks += jobs
    results: list[CallResult] = []
    calm_results: list[dict[str, Any]] = []
    init = (config, transcribe)
    with multiprocessing.Pool(n_proc, initializer=_init_worker, initargs=init) as pool:
        for out in pool.imap_unordered(_run_any, tasks, chunksize=1):
            if isinstance(out, CallResult):
                results.append(out)
            else:
                calm_results.append(out)
    results.sort(key=lambda r: r.spec.call_id)
    calm_results.sort(key=lambda c: bool(c.get("swapped")))
    return results, calm_results


FIT_GRID: dict[str, tuple[float, ...]] = {
    "raised_spread_k": (1.5, 2.0, 2.5),
    "yell_pitch_spread_st": (10.0, 12.0, 15.0),
    "yell_pitch_floor_st": (9.0, 12.0, 15.0),
}
"""The [detector] thresholds that were chosen by looking at development calls (see
docs/detection.md): the raised threshold's multiple of a speaker's calm swing, the
coherent pitch track's width and the lifted contour's floor. `--crosswise` fits them on
one half, from this grid, by that half's own targets, and tests the choice on the other
half."""
FIT_SECTIONS = ("customer", "matching", "hot")
"""The voice cases: the ones these thresholds decide (interruptions and crosstalk do not
use them)."""


def fit_score(rows: list[Row]) -> tuple[int, float]:
    """(targets met, summed margin over the targets) of one fitting run: more is better."""
    met = sum(r.ok for r in rows if r.n)
    margin = sum((r.rate - r.target) if r.positive else (r.target - r.rate) for r in rows if r.n)
    return met, round(margin, 6)


def fit_settings(
    ravdess: Path,
    actors: tuple[int, ...],
    base: str | None,
    seed: int,
    n_proc: int,
    tmp: Path,
    defaults: dict[str, float],
) -> tuple[dict[str, float], list[str]]:
    """The grid point of `FIT_GRID` that meets the most of the fitting half's targets (ties:
    the larger summed margin, then the shipped value), on that half's voice cases only;
    returns it and one line per grid point for the report."""
    names = list(FIT_GRID)
    # One threshold at a time around the shipped values.
    points = [dict(defaults)]
    points += [{**defaults, n: v} for n in names for v in FIT_GRID[n] if v != defaults[n]]
    voice = [j for j in make_jobs(ravdess, actors, seed, actors) if j.section in FIT_SECTIONS]
    paths = [
        write_fitted(base, p, tmp / f".eval_fit_{actors[0]}_{actors[-1]}_{i}.toml")
        for i, p in enumerate(points)
    ]
    jobs = [dataclasses.replace(j, config=path) for path in paths for j in voice]
    results, _ = run_all(jobs, None, base, n_proc)
    best: tuple[tuple[int, float, int], dict[str, float]] | None = None
    lines = []
    for point, path in zip(points, paths, strict=True):
        Path(path).unlink(missing_ok=True)
        mine = [r for r in results if r.config == path]
        met, margin = fit_score(Column("fit", actors, None, mine).rows())
        shipped = int(point == defaults)
        lines.append(f"{point}: {met} targets met, margin {margin:+.3f}")
        key = (met, margin, shipped)
        if best is None or key > best[0]:
            best = (key, point)
    assert best is not None
    return best[1], lines


@dataclass
class Column:
    """One evaluation run: which actors, with which settings."""

    name: str
    actors: tuple[int, ...]
    config: str | None
    results: list[CallResult] = field(default_factory=list)
    calm: list[dict[str, Any]] = field(default_factory=list)  # as played, then swapped
    fitted: dict[str, float] = field(default_factory=dict)

    def rows(self) -> list[Row]:
        return [case_row(t, self.results) for t in TARGETS] + [baseline_row(self.results)]


def write_fitted(base: str | None, fitted: dict[str, float], path: Path) -> str:
    """A settings file: the user's file (if any) with the fitted [detector] values over it."""
    lines = []
    if base:
        lines.append(Path(base).read_text(encoding="utf-8").split("[detector]")[0])
    lines.append("[detector]")
    lines += [f"{k} = {v}" for k, v in fitted.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def format_table(columns: list[Column]) -> list[str]:
    """One line per case: the rate in every column, MISS where a target is not met."""
    head = f"{'case':<15} {'target':>7}  " + "  ".join(f"{c.name:>19}" for c in columns)
    out = [head]
    all_rows = [c.rows() for c in columns]
    for i, first in enumerate(all_rows[0]):
        if all(rows[i].n == 0 for rows in all_rows):
            continue
        target = f"{'>=' if first.positive else '<='} {100 * first.target:.0f}%"
        cells = []
        for rows in all_rows:
            r = rows[i]
            mark = "" if r.ok else " MISS"
            cells.append(f"{100 * r.rate:5.1f}% ({r.n:>3}){mark:<5}" if r.n else f"{'-':>19}")
        out.append(f"{first.case:<15} {target:>7}  " + "  ".join(f"{c:>19}" for c in cells))
    for c in columns:
        out.append(format_delays(c.name, delay_figures(c.results)))
    for c in columns:
        for calm in c.calm:
            out.append(f"[{c.name}] " + format_calm(calm).replace("\n", "\n    "))
    return out


def main(argv: list[str] | None = None) -> int:
    t0 = time.monotonic()
    args = parse_args(argv)
    ravdess = args.data / "ravdess"
    if not ravdess.is_dir():
        print(f"evaluation data not found: no {ravdess} (use --data DIR)")
        return 2
    try:
        actors = parse_actors(args.actors)
    except ValueError as exc:
        print(exc)
        return 2
    cases = set(args.cases.split(",")) if args.cases else None
    known = {t.case for t in TARGETS}
    if cases and not cases <= known:
        print(f"--cases: unknown case(s) {', '.join(sorted(cases - known))}")
        return 2
    from monitor.config import ConfigError, load_config

    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(exc)
        return 2
    calm = args.data / CALM_CALL
    calm_path = calm if calm.is_file() and not args.no_calm else None
    columns: list[Column] = []
    if args.actors:
        pool = tuple(actors) if len(actors) >= 3 else ACTORS
        columns.append(Column(f"actors {args.actors}", pool, args.config))
    else:
        columns += [Column(f"{h[0]}-{h[-1]}", h, args.config) for h in HALVES]
    tmp = Path(args.json.parent if args.json else Path.cwd())
    fit_lines: dict[str, list[str]] = {}
    if args.crosswise:
        shipped = {n: float(getattr(cfg.detector, n)) for n in FIT_GRID}
        for train, test in (HALVES, HALVES[::-1]):
            fitted, grid = fit_settings(
                ravdess, train, args.config, args.seed, max(1, args.jobs), tmp, shipped
            )
            fit_lines[f"fit {train[0]}-{train[-1]}>{test[0]}-{test[-1]}"] = grid
            name = f"fit {train[0]}-{train[-1]}>{test[0]}-{test[-1]}"
            path = tmp / f".eval_fit_{train[0]}_{train[-1]}.toml"
            col = Column(name, test, write_fitted(args.config, fitted, path), fitted=fitted)
            columns.append(col)
    for col in columns:
        jobs = make_jobs(ravdess, col.actors, args.seed, col.actors, cases)
        if args.actors:
            jobs = [j for j in jobs if j.actor in actors]
        col.results, col.calm = run_all(
            jobs, calm_path, col.config, max(1, args.jobs), args.transcribe
        )
    print(f"tonewatch detection eval: config {cfg.source}, seed {args.seed}")
    for col in columns:
        if col.fitted:
            print(f"  {col.name}: fitted on the other half: {col.fitted}")
            for line in fit_lines.get(col.name, []):
                print(f"      {line}")
    for line in format_table(columns):
        print(line)
    if calm_path is None:
        print(f"calm call: {calm} missing or skipped")
    results = [r for c in columns for r in c.results]
    errors = [r for r in results if r.error]
    if errors:
        print(f"{len(errors)} calls raised errors (counted as failed), e.g. {errors[0].error}")
    if args.verbose:
        for col in columns:
            failing = [r for r in col.results if not (r.passed and r.baseline_clean)]
            print(f"\n[{col.name}] {len(failing)} failing calls:")
            for r in failing:
                print(format_failure(r))
    wall = time.monotonic() - t0
    if args.json:
        out = {
            "config": cfg.source,
            "seed": args.seed,
            "wall_s": round(wall, 1),
            "columns": [
                {
                    "name": c.name,
                    "actors": c.actors,
                    "fitted": c.fitted,
                    "fit_grid": fit_lines.get(c.name, []),
                    "rows": [asdict(r) for r in c.rows()],
                    "decision_delay": delay_figures(c.results),
                    "calm_call": c.calm,
                    "calls": [asdict(r) for r in c.results],
                }
                for c in columns
            ],
        }
        args.json.write_text(json.dumps(out, indent=1, default=_json_default), encoding="utf-8")
    print(f"wall time {wall:.1f} s ({len(results)} synthetic calls, {max(1, args.jobs)} processes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
