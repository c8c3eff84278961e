"""Precision of the phrase cues on real transcripts: the cues as they were, and with context.

Speech goes through the real pipeline and the embedded model (offline, as `replay --fast`),
and every cue hit in the transcripts is scored against labels:

- the phrase fixtures (fixtures/phrases_*.flac): each sentence's cues are known
  (fixtures/phrases.expected.json);
- an espeak-ng call of ordinary helpful sentences written for this bench (instructions
  such as "when you have to reset your radio clock, hold the button"): no problem cue is
  true in it; its one apology and one empathy sentence are;
- the development calls in ../shared/data/calls (if present): the real calm call, whose
  only true cue is the agent's apology at about 45 s.

"before" matches every pattern anywhere (guarded patterns as plain ones, the cue set as it
was); "after" counts guarded patterns only in a tense moment or before a demand (see
alerts/cues.toml). Prints each hit, then precision (true hits / hits) and the true hits
found, for problem cues and for good signs.

Usage::

    python bench/cue_precision.py [--no-shared]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alerts.cues import Cue, CueMatcher, load_cues  # noqa: E402
from audio.sources import FileSource  # noqa: E402
from audio.transcribe import Transcript  # noqa: E402
from audio.types import SAMPLE_RATE  # noqa: E402
from monitor.config import load_config  # noqa: E402
from monitor.pipeline import Pipeline  # noqa: E402
from monitor.speech import PhraseSpotter  # noqa: E402
from monitor.transcription import SpeechSetup  # noqa: E402

HELPFUL: list[tuple[str, str, list[str]]] = [
    ("agent", "When you have to reset your radio clock, hold the button for five seconds.", []),
    ("agent", "You need to press the power button on the back, then wait for the green light.", []),
    ("agent", "If you have to reschedule, just give us a call.", []),
    ("agent", "You should have received an email with the tracking number.", []),
    ("agent", "You have to sign in first, then open the billing page.", []),
    ("agent", "To get the discount you need to enter the code at checkout.", []),
    ("agent", "You must bring the receipt and your ID when you come in.", []),
    ("agent", "Let me check that for you. Your order shipped on Monday.", []),
    ("agent", "I am so sorry for the trouble with your order.", ["apology"]),
    ("agent", "I understand how frustrating that must be.", ["empathy"]),
    ("customer", "Okay, I see. So I have to restart it first?", []),
    ("customer", "Great, that worked. Thanks a lot for your help.", []),
]
"""An ordinary helpful call: (speaker, sentence, cues that are true in it)."""

SHARED_CALLS = {
    "auto_repairs_40_agentL_customerR_8k.flac": {("agent", "apology"): [(40.0, 62.0)]},
}
"""Development calls and where their true cues are (speaker, cue) -> [(from s, to s)]."""


def say(text: str, voice: str, tmp: Path) -> np.ndarray:
    wav = tmp / "s.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "165", "-w", str(wav), text], check=True)
    x, rate = sf.read(str(wav), dtype="float32")
    return soxr.resample(x, rate, SAMPLE_RATE).astype(np.float32)


def helpful_call(path: Path, tmp: Path) -> list[tuple[str, float, float, list[str]]]:
    gap = np.zeros(int(1.0 * SAMPLE_RATE), np.float32)
    a: list[np.ndarray] = [gap]
    c: list[np.ndarray] = [gap]
    spans = []
    t = gap.size
    for speaker, text, cues in HELPFUL:
        x = 0.3 * say(text, "en-us+f3" if speaker == "agent" else "en-us", tmp)
        z = np.zeros_like(x)
        a += [x if speaker == "agent" else z, gap]
        c += [z if speaker == "agent" else x, gap]
        spans.append((speaker, t / SAMPLE_RATE, (t + x.size) / SAMPLE_RATE, cues))
        t += x.size + gap.size
    sf.write(str(path), np.column_stack([np.concatenate(a), np.concatenate(c)]), SAMPLE_RATE)
    return spans


def phrases_call(path: Path) -> list[tuple[str, float, float, list[str]]]:
    expected = json.loads((ROOT / "fixtures" / "phrases.expected.json").read_text())
    gap = np.zeros(int(1.5 * SAMPLE_RATE), np.float32)
    a: list[np.ndarray] = [gap]
    c: list[np.ndarray] = [gap]
    spans = []
    t = gap.size
    for name, exp in sorted(expected.items()):
        if not exp["speech"]:
            continue
        x, _ = sf.read(str(ROOT / "fixtures" / name), dtype="float32")
        z = np.zeros_like(x)
        a += [x if exp["speaker"] == "agent" else z, gap]
        c += [z if exp["speaker"] == "agent" else x, gap]
        spans.append((exp["speaker"], t / SAMPLE_RATE, (t + x.size) / SAMPLE_RATE, exp["cues"]))
        t += x.size + gap.size
    sf.write(str(path), np.column_stack([np.concatenate(a), np.concatenate(c)]), SAMPLE_RATE)
    return spans


def transcripts(path: Path, agent_channel: str = "left") -> list[tuple[Transcript, bool]]:
    """Each transcript of the call, with whether its moment was tense."""
    cfg = load_config()
    speech = SpeechSetup.build(cfg, policy="block").for_call("cues")
    assert speech is not None
    seen: list[tuple[Transcript, bool]] = []

    class Keep(PhraseSpotter):
        def __call__(self, t: Transcript):  # type: ignore[no-untyped-def]
            seen.append((t, self.moment is not None and self.moment(t.start)))
            return super().__call__(t)

    spotter = Keep(speech.spotter.matcher, "cues", False)
    pipe = Pipeline(cfg, "cues", speech.worker, spotter)
    for block in FileSource(str(path), agent_channel=agent_channel, block_s=5.0):
        pipe.push(block)
    pipe.finish()
    return seen


def before_cues(cues: list[Cue]) -> list[Cue]:
    """The cue set as it was: guarded patterns count anywhere ("you must" is new: left out)."""
    return [
        dataclasses.replace(
            c,
            patterns=c.patterns + tuple(p for p in c.guarded if p != "you must"),
            guarded=(),
            pushy_next=(),
        )
        for c in cues
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-shared", action="store_true", help="leave out ../shared/data/calls")
    args = ap.parse_args()
    cues = load_cues()
    matchers = {"before": CueMatcher(before_cues(cues)), "after": CueMatcher(cues)}
    good = {c.name: c.good for c in cues}
    scored: dict[str, dict[str, list[int]]] = {
        k: {"problem": [0, 0], "good": [0, 0]} for k in matchers
    }  # [true hits, hits]
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        sets: list[tuple[str, Path, object]] = []
        sets.append(("phrase fixtures", tmp / "phrases.flac", phrases_call(tmp / "phrases.flac")))
        sets.append(("helpful espeak call", tmp / "h.flac", helpful_call(tmp / "h.flac", tmp)))
        shared = ROOT.parent / "shared" / "data" / "calls"
        if not args.no_shared:
            for name, labels in SHARED_CALLS.items():
                if (shared / name).exists():
                    sets.append((name, shared / name, labels))
        for label, path, truth in sets:
            print(f"== {label}")
            for t, tense in transcripts(path):
                mid = (t.start + t.end) / 2 / SAMPLE_RATE
                for version, matcher in matchers.items():
                    for hit in matcher.match(t.speaker, t.text, tense=tense):
                        name = hit.cue.name
                        if isinstance(truth, dict):
                            ok = any(lo <= mid <= hi for lo, hi in truth.get((t.speaker, name), []))
                        else:
                            ok = any(
                                sp == t.speaker and lo - 0.5 <= mid <= hi + 0.5 and name in c
                                for sp, lo, hi, c in truth  # type: ignore[attr-defined]
                            )
                        kind = "good" if good.get(name) else "problem"
                        scored[version][kind][1] += 1
                        scored[version][kind][0] += int(ok)
                        word = "true " if ok else "FALSE"
                        print(
                            f"  {version:<6} {word} {t.speaker:<8} {name:<18} {mid:6.1f} s "
                            f"{'tense ' if tense else ''}| {t.text[:90]}"
                        )
    for version, kinds in scored.items():
        for kind, (true, hits) in kinds.items():
            p = true / hits if hits else float("nan")
            print(f"{version:<6} {kind:<8} cues: precision {p:.2f} ({true}/{hits} hits true)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
