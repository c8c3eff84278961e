"""Call sources: iterables of `Block` at 16 kHz for the two speakers.

A source is any iterable of `Block`. The analysis never knows which source it runs on;
live capture (a later module) yields the same blocks. Files are read with soundfile in
chunks and resampled with a streaming soxr resampler, so memory stays flat for long calls.
All of this runs on the caller's thread.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from audio.types import SAMPLE_RATE, Block


class SourceError(Exception):
    """A source cannot deliver audio; the message is one line naming the file or device."""


CHANNELS = {"left": 0, "right": 1}

READ_AHEAD_S = 8.0
"""Files are decoded this many seconds at a time, whatever the block size: every
libsndfile read through soundfile costs a seek (a FLAC decoder restart), so 1 s reads
spent about a quarter of the decoding time on it. Blocks are still delivered one by one."""


def open_audio(path: Path) -> sf.SoundFile:
    """An audio file opened for reading, or a `SourceError` saying in one line why not
    (missing, a folder, empty, permission denied, not audio, no samples)."""
    if not path.exists():
        raise SourceError(f"{path}: no such file")
    if path.is_dir():
        raise SourceError(f"{path}: is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise SourceError(f"{path}: file is empty")
    try:
        with open(path, "rb"):  # libsndfile says only "System error." when it may not read
            pass
    except PermissionError:
        raise SourceError(f"{path}: permission denied (cannot read the file)") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        handle = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        reason = str(exc).split(":")[-1].strip() or "unreadable"
        raise SourceError(f"{path}: not a readable audio file ({reason})") from None
    if handle.frames == 0:
        handle.close()
        raise SourceError(f"{path}: file holds no audio samples")
    return handle


def declared_bytes_missing(handle: sf.SoundFile) -> int:
    """Bytes a WAV-style header promises beyond the end of the file (0 if complete)."""
    match = re.search(r"data\s*:\s*(\d+)\s*\(should be (\d+)\)", handle.extra_info)
    if match is None:
        return 0
    return max(0, int(match.group(1)) - int(match.group(2)))


class _Resampler:
    """Streaming resampler for one channel (identity at 16 kHz)."""

    def __init__(self, rate: int) -> None:
        self._stream = (
            None if rate == SAMPLE_RATE else soxr.ResampleStream(rate, SAMPLE_RATE, 1, "float32")
        )

    def __call__(self, x: np.ndarray, last: bool = False) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self._stream is None:
            return x
        return np.asarray(self._stream.resample_chunk(x, last=last), dtype=np.float32)


class FileSource:
    """Replays a recorded call from a stereo file or two mono files.

    Args:
        path: a stereo file (agent on `agent_channel`, customer on the other), or None when
            `agent_path` and `customer_path` are given.
        agent_channel: "left" or "right".
        agent_path, customer_path: two mono files, one per speaker.
        block_s: seconds of audio per block (at the file's rate).
        channels: which channels (1-based) carry the agent and the customer: of the call
            file, or of the agent's and the customer's files. Needed for a call file of
            more than two channels and for speaker files of more than one; without it
            those are refused rather than silently cut down.

    Non-finite samples (NaN, infinity: a damaged float file) become silence, as in live
    capture; `nonfinite` counts them. A file with no finite sample at all is an error.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        agent_channel: str = "left",
        agent_path: str | Path | None = None,
        customer_path: str | Path | None = None,
        block_s: float = 1.0,
        channels: tuple[int, int] | None = None,
    ) -> None:
        if agent_channel not in CHANNELS:
            raise SourceError(
                f"bad agent channel {agent_channel!r}: use one of {', '.join(CHANNELS)}"
            )
        if block_s <= 0:
            raise ValueError("block_s must be > 0")
        self.block_s = block_s
        self._files: list[sf.SoundFile] = []
        if path is not None:
            if agent_path is not None or customer_path is not None:
                raise SourceError("give either one stereo call file or --agent and --customer")
            handle = open_audio(Path(path))
            self._files.append(handle)
            if handle.channels < 2:
                handle.close()
                raise SourceError(
                    f"{path}: has {handle.channels} channel, a call needs two "
                    "(or use --agent FILE --customer FILE)"
                )
            n = handle.channels
            if channels is not None:
                self._plan = [
                    (handle, _pick(handle, channels[0])),
                    (handle, _pick(handle, channels[1])),
                ]
            elif n > 2:
                handle.close()
                raise SourceError(
                    f"{path}: has {n} channels; say which carry the agent and the customer "
                    f"with --channels A,C (1 to {n})"
                )
            else:
                a = CHANNELS[agent_channel]
                self._plan = [(handle, a), (handle, 1 - a)]
            self.name = Path(path).stem
        elif agent_path is not None and customer_path is not None:
            ha = open_audio(Path(agent_path))
            hc = open_audio(Path(customer_path))
            self._files += [ha, hc]
            if channels is not None:
                self._plan = [(ha, _pick(ha, channels[0])), (hc, _pick(hc, channels[1]))]
            else:
                for h, who in ((ha, "--agent"), (hc, "--customer")):
                    if h.channels > 1:
                        self.close()
                        raise SourceError(
                            f"{h.name}: has {h.channels} channels but {who} takes one "
                            "speaker's mono file; pick the channels with --channels A,C"
                        )
                self._plan = [(ha, 0), (hc, 0)]
            self.name = Path(agent_path).stem
        else:
            raise SourceError("no call given: pass a stereo file or --agent FILE --customer FILE")
        self._missing = {id(h): declared_bytes_missing(h) for h, _ in self._plan}
        self.channels_used = [ch + 1 for _, ch in self._plan]
        """The channel (1-based) of its file each speaker is read from: agent, customer."""
        self.nonfinite = 0
        """Samples that were NaN or infinite in the file(s), played as silence."""
        self._finite: dict[int, int] = {}
        self._readers: dict[int, sf.SoundFile] = {}
        """A file's own handle, opened again, where the first one could not seek back."""
        self.duration_s = max(h.frames / h.samplerate for h, _ in self._plan)
        self.native_rates = [h.samplerate for h, _ in self._plan]

    def _frames(self, handle: sf.SoundFile) -> int:
        """Frames of `handle` per block (rounded, so `block_s = n / rate` gives n exactly)."""
        return max(1, int(round(self.block_s * handle.samplerate)))

    def close(self) -> None:
        for handle in self._files:
            handle.close()

    def _decode(self, handle: sf.SoundFile, frames: int) -> np.ndarray:
        reader = self._readers.get(id(handle), handle)
        try:
            data = reader.read(frames, dtype="float32", always_2d=True)
            ok = np.isfinite(data)
            good = int(np.count_nonzero(ok))
            self._finite[id(handle)] = self._finite.get(id(handle), 0) + good
            if good < data.size:
                self.nonfinite += data.size - good
                data[~ok] = 0.0  # as live capture does: damage is silence, not numbers
            return data
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise SourceError(
                f"{handle.name}: audio data is corrupt or truncated ({exc})"
            ) from None

    def _rewind(self, handle: sf.SoundFile, at: int) -> None:
        """Decode `handle` from frame `at` again. A decoder that lost sync may refuse to
        seek at all (FLAC); the file is then opened afresh and read from there."""
        try:
            self._readers.get(id(handle), handle).seek(at)
            return
        except (sf.LibsndfileError, RuntimeError):
            pass
        try:
            fresh = sf.SoundFile(handle.name)
            self._files.append(fresh)
            if at:
                fresh.seek(at)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise SourceError(
                f"{handle.name}: audio data is corrupt or truncated ({exc})"
            ) from None
        self._readers[id(handle)] = fresh

    def _read(self, handle: sf.SoundFile, n: int) -> np.ndarray:
        """The next `n` frames of a file (fewer at its end), decoded ahead in big chunks."""
        key = id(handle)
        ahead = self._ahead.get(key)
        have = 0 if ahead is None else ahead.shape[0]
        if have < n and key not in self._eof:
            careful = key in self._careful
            want = n - have if careful else max(n, int(READ_AHEAD_S * handle.samplerate)) - have
            at = self._readers.get(key, handle).tell()
            try:
                data = self._decode(handle, want)
            except SourceError:
                if careful:
                    raise
                # Damage somewhere ahead: go back and decode block by block from here, so
                # the audio before the damage is still delivered before the error.
                self._careful.add(key)
                self._rewind(handle, at)
                want = n - have
                data = self._decode(handle, want)
            if data.shape[0] < want:
                self._eof.add(key)
            ahead = data if ahead is None or have == 0 else np.concatenate([ahead, data])
        assert ahead is not None
        out, self._ahead[key] = ahead[:n], ahead[n:]
        self._done[key] = self._done.get(key, 0) + out.shape[0]
        return out

    def __iter__(self) -> Iterator[Block]:
        self._done: dict[int, int] = {}
        self._ahead: dict[int, np.ndarray] = {}
        self._eof: set[int] = set()
        self._careful: set[int] = set()
        resamplers = [_Resampler(h.samplerate) for h, _ in self._plan]
        pending = [np.zeros(0, np.float32), np.zeros(0, np.float32)]
        done = [False, False]
        start = 0
        shared = self._plan[0][0] is self._plan[1][0]
        try:
            while not all(done):
                if shared:
                    handle = self._plan[0][0]
                    data = self._read(handle, self._frames(handle))
                    chunks = [data[:, ch] for _, ch in self._plan]
                else:
                    chunks = []
                    for handle, ch in self._plan:
                        data = self._read(handle, self._frames(handle))
                        chunks.append(data[:, ch])
                for i, chunk in enumerate(chunks):
                    if done[i]:
                        continue
                    handle = self._plan[i][0]
                    last = chunk.shape[0] == 0 or self._done[id(handle)] >= handle.frames
                    out = resamplers[i](chunk, last=last)
                    pending[i] = np.concatenate([pending[i], out]) if pending[i].size else out
                    done[i] = last
                n = min(p.shape[0] for p in pending)
                if all(done):
                    n = max(p.shape[0] for p in pending)
                    pending = [np.pad(p, (0, n - p.shape[0])) for p in pending]
                if n == 0:
                    continue
                yield Block(start=start, agent=pending[0][:n], customer=pending[1][:n])
                pending = [p[n:] for p in pending]
                start += n
        finally:
            self.close()
        self._check_complete()

    def _check_complete(self) -> None:
        for handle, _ in self._plan:
            if self._done.get(id(handle), 0) and not self._finite.get(id(handle), 0):
                raise SourceError(
                    f"{handle.name}: holds no usable audio (every sample is NaN or infinite)"
                )
            got = self._done.get(id(handle), 0)
            missing = self._missing[id(handle)]
            if missing:
                raise SourceError(
                    f"{handle.name}: file is truncated ({missing} bytes of audio missing; "
                    f"analysed the {got / handle.samplerate:.1f} s that were there)"
                )
            if got < handle.frames:
                raise SourceError(
                    f"{handle.name}: file is truncated (read {got} of {handle.frames} frames)"
                )


def _pick(handle: sf.SoundFile, channel: int) -> int:
    """The 0-based index of 1-based `channel` of `handle`, or SourceError."""
    if not 1 <= channel <= handle.channels:
        raise SourceError(
            f"{handle.name}: has {handle.channels} channel(s); --channels {channel} is not one"
        )
    return channel - 1


class ArraySource:
    """Blocks from two in-memory arrays at 16 kHz (tests and evaluation)."""

    def __init__(self, agent: np.ndarray, customer: np.ndarray, block_s: float = 1.0) -> None:
        n = max(agent.shape[0], customer.shape[0])
        self.agent = np.pad(np.asarray(agent, np.float32), (0, n - agent.shape[0]))
        self.customer = np.pad(np.asarray(customer, np.float32), (0, n - customer.shape[0]))
        self.block = max(1, int(round(block_s * SAMPLE_RATE)))
        self.duration_s = n / SAMPLE_RATE
        self.name = "array"

    def __iter__(self) -> Iterator[Block]:
        for start in range(0, self.agent.shape[0], self.block):
            stop = start + self.block
            yield Block(start, self.agent[start:stop], self.customer[start:stop])


def paced(blocks: Iterable[Block], speed: float = 1.0) -> Iterator[Block]:
    """Yield blocks no faster than real time (times `speed`), for trainers following a call."""
    t0 = time.monotonic()
    for block in blocks:
        # A block exists in real time only once its last sample has been heard.
        due = t0 + (block.start + block.n_samples) / SAMPLE_RATE / speed
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield block
