"""Speech segmentation: onset, hangover, and webrtcvad on real speech."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audio.vad import VAD_FRAME, Segmenter, WebrtcScorer
from tests.conftest import FIXTURES


def _bits(s: str) -> np.ndarray:
    return np.array([c == "1" for c in s])


def test_segmenter_bridges_short_gaps_and_closes_after_hangover():
    seg = Segmenter("agent", onset_frames=2, hangover_frames=4)
    out, closed = seg.push(0, _bits("0110110001111000000"))
    assert "".join("1" if b else "0" for b in out) == "0011111111111111000"
    assert [(c.start, c.end) for c in closed] == [(1 * VAD_FRAME, 13 * VAD_FRAME)]


def test_segmenter_ignores_single_frame_clicks_and_flushes_open_segment():
    seg = Segmenter("customer", onset_frames=2, hangover_frames=3)
    out, closed = seg.push(0, _bits("01001000011"))
    assert closed == [] and out.sum() == 1
    (tail,) = seg.flush()
    assert (tail.start, tail.end) == (9 * VAD_FRAME, 11 * VAD_FRAME)


def test_webrtc_scorer_finds_speech_in_a_real_recording():
    path = FIXTURES / "phrases_neutral.flac"
    if not path.exists():
        pytest.skip("phrase fixtures not built")
    x, rate = sf.read(path, dtype="float32")
    assert rate == 16000
    n = (x.shape[0] // VAD_FRAME) * VAD_FRAME
    speech = WebrtcScorer(2).score(x[:n])
    assert 0.3 < speech.mean() < 0.98
    assert not WebrtcScorer(2).score(np.zeros(VAD_FRAME * 20, np.float32)).any()


def test_bad_aggressiveness():
    with pytest.raises(ValueError, match="0-3"):
        WebrtcScorer(5)
