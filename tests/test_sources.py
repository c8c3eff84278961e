"""Sources: resampling, channel maps, and one clear error per kind of bad input."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audio.sources import ArraySource, FileSource, SourceError
from audio.types import SAMPLE_RATE
from tests.conftest import FIXTURES, voice


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


# -- any block size, one answer ----------------------------------------------------------
# The real pipeline on real fixture calls: the alerts and the whole call summary must be
# exactly equal (no tolerance) whatever the block size, including sizes that are not whole
# 10 ms hops or 50 ms bleed cells, a whole file as one block, and the same samples given
# as arrays instead of a file.

BLOCK_SIZES = (160, 441, 4096, 80000)
"""Samples per block: one hop, an odd size, a power of two, 5 s."""


def _analyse(blocks, cfg):
    from monitor.pipeline import Pipeline

    pipe = Pipeline(cfg, "invariance", tracks=True)
    records = []
    for block in blocks:
        records += pipe.push(block)
    records += pipe.finish()
    # The 10 Hz track records too (levels, pitch, speech and the baselines of the time).
    return [r.to_record() for r in records] + pipe.take_tracks(), pipe.summary()


def _file_blocks(path, n_samples):
    blocks = list(FileSource(path, block_s=n_samples / SAMPLE_RATE))
    # Every block but the last is exactly the size asked for.
    assert {b.n_samples for b in blocks[:-1]} <= {n_samples}
    return blocks


@pytest.fixture(scope="module")
def reference():
    """Each fixture's result in 0.1 s blocks (replay's block at real-time pace)."""
    from monitor.config import load_config

    cfg = load_config(None)
    return cfg, {
        name: _analyse(_file_blocks(FIXTURES / f"{name}.flac", 1600), cfg)
        for name in ("headset_bleed", "agent_barge_in")
    }


@pytest.mark.parametrize("name", ["headset_bleed", "agent_barge_in"])
@pytest.mark.parametrize("n_samples", BLOCK_SIZES)
def test_alerts_and_summary_do_not_depend_on_the_block_size(reference, name, n_samples):
    cfg, results = reference
    records, summary = results[name]
    got_records, got_summary = _analyse(_file_blocks(FIXTURES / f"{name}.flac", n_samples), cfg)
    assert got_records == records
    assert got_summary == summary
    if name == "headset_bleed":
        # The call this test is about: bleed found and taken out, and alerts to compare.
        assert summary["headset_bleed"]["detected"] and summary["headset_bleed"]["hops_discounted"]
        assert records


def test_streamed_equals_whole_file_and_file_equals_array(reference):
    cfg, results = reference
    path = FIXTURES / "headset_bleed.flac"
    records, summary = results["headset_bleed"]
    whole = list(FileSource(path, block_s=3600.0))
    assert len(whole) == 1
    assert _analyse(whole, cfg) == (records, summary)
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    assert rate == SAMPLE_RATE
    arrays = ArraySource(data[:, 0], data[:, 1], block_s=0.37)
    assert _analyse(arrays, cfg) == (records, summary)
