"""Sources: resampling, channel maps, and one clear error per kind of bad input."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audio.sources import ArraySource, FileSource, SourceError
from audio.types import SAMPLE_RATE
from tests.conftest import voice


def _write(path, data, rate=16000, **kw):
    sf.write(str(path), data, rate, **kw)
    return path


def test_telephone_rate_is_resampled_and_channels_follow_the_map(tmp_path):
    left = voice(2.0, f0_hz=200, level=0.2)[::2]  # 8 kHz stand-in
    right = np.zeros_like(left)
    path = _write(tmp_path / "call.wav", np.column_stack([left, right]), rate=8000)
    blocks = list(FileSource(path))
    total = sum(b.n_samples for b in blocks)
    assert abs(total - 2 * left.shape[0]) <= 2
    assert blocks[0].start == 0 and blocks[1].start == blocks[0].n_samples
    agent = np.concatenate([b.agent for b in blocks])
    customer = np.concatenate([b.customer for b in blocks])
    assert np.abs(agent).max() > 0.1 and np.abs(customer).max() == 0
    swapped = list(FileSource(path, agent_channel="right"))
    assert np.abs(np.concatenate([b.customer for b in swapped])).max() > 0.1


def test_two_mono_files_of_different_rates_and_lengths(tmp_path):
    a = _write(tmp_path / "a.flac", voice(1.0, level=0.2), rate=16000)
    c = _write(tmp_path / "c.wav", voice(1.5, level=0.2)[::2], rate=8000)
    blocks = list(FileSource(agent_path=a, customer_path=c, block_s=0.25))
    total = sum(b.n_samples for b in blocks)
    assert abs(total - 1.5 * SAMPLE_RATE) <= 4
    assert all(b.agent.shape == b.customer.shape for b in blocks)


def test_array_source_blocks():
    blocks = list(ArraySource(np.zeros(16000), np.zeros(8000), block_s=0.3))
    assert [b.start for b in blocks] == [0, 4800, 9600, 14400]
    assert blocks[-1].n_samples == 1600


def _bytes(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d / "missing.wav", "no such file"),
        (lambda d: _bytes(d / "empty.wav", b""), "file is empty"),
        (lambda d: _bytes(d / "notes.wav", b"hello " * 50), "not a readable"),
        (lambda d: _write(d / "mono.wav", voice(1.0)), "has 1 channel"),
        (lambda d: _write(d / "zero.wav", np.zeros((0, 2))), "no audio samples"),
        (lambda d: d, "is a directory"),
    ],
)
def test_bad_input_gives_one_line_naming_the_file(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(SourceError) as info:
        list(FileSource(path))
    text = str(info.value)
    assert message in text and "\n" not in text and str(path) in text


@pytest.mark.parametrize("name", ["cut.wav", "cut.flac"])
def test_truncated_file_is_reported_after_its_audio(tmp_path, name):
    rng = np.random.default_rng(0)
    audio = np.column_stack([voice(4.0), 0.05 * rng.standard_normal(64000)])
    path = _write(tmp_path / name, audio, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    got = 0
    with pytest.raises(SourceError, match="truncated"):
        for block in FileSource(path):
            got += block.n_samples
    assert got > 0.8 * SAMPLE_RATE


def test_bad_channel_name(tmp_path):
    path = _write(tmp_path / "call.wav", np.zeros((1600, 2)))
    with pytest.raises(SourceError, match="bad agent channel 'centre'"):
        FileSource(path, agent_channel="centre")
