"""Sound devices: finding them, naming loopbacks, and the routes live capture opens.

The only module that imports sounddevice (lazily, through `sounddevice()`, so replay, the
tests and `--help` never load PortAudio). `list_devices` and `find_device` serve
`tonewatch devices` and `tonewatch live --mic/--loopback/--device`; `two_devices` and
`one_device` turn the chosen devices into `Route`s for `audio.live.LiveSource`. Errors are
`LiveError`, one line naming the device and the problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from audio.sources import SourceError
from audio.types import Speaker

LOOPBACK_HINTS = (
    "monitor",
    "loopback",
    "blackhole",
    "stereo mix",
    "what u hear",
    "wave out",
    "soundflower",
    "cable output",
    "vb-audio",
)
"""Lower-case name fragments of input devices that carry played audio ("monitor" covers
PulseAudio/PipeWire `.monitor` sources and "Monitor of ..." descriptions)."""


class LiveError(SourceError):
    """A device cannot be used; the message is one line naming the device and the problem."""


def sounddevice() -> ModuleType:
    """The sounddevice module, imported on first use (it loads PortAudio)."""
    try:
        import sounddevice as sd
    except OSError as exc:
        raise LiveError(f"PortAudio is not available ({exc}); install libportaudio2") from None
    except ImportError:
        raise LiveError("the sounddevice package is missing (pip install sounddevice)") from None
    return sd


def looks_like_loopback(name: str) -> bool:
    """Whether a device name says it carries played audio (monitor, loopback, BlackHole...)."""
    low = name.lower()
    return any(hint in low for hint in LOOPBACK_HINTS)


@dataclass(frozen=True)
class DeviceInfo:
    """One PortAudio device as `tonewatch devices` shows it."""

    index: int
    name: str
    hostapi: str
    max_input_channels: int
    max_output_channels: int
    default_samplerate: float
    default_input: bool = False

    @property
    def loopback(self) -> bool:
        return looks_like_loopback(self.name)


def list_devices() -> list[DeviceInfo]:
    """Every device PortAudio knows.

    Raises:
        LiveError: PortAudio is missing or cannot list devices.
    """
    sd = sounddevice()
    try:
        devices = sd.query_devices()
        apis = sd.query_hostapis()
        default_in = sd.default.device[0]
    except sd.PortAudioError as exc:
        raise LiveError(f"cannot list audio devices ({exc})") from None
    out = []
    for i, d in enumerate(devices):
        api = apis[d["hostapi"]]["name"] if 0 <= d["hostapi"] < len(apis) else "?"
        out.append(
            DeviceInfo(
                index=i,
                name=d["name"],
                hostapi=api,
                max_input_channels=int(d["max_input_channels"]),
                max_output_channels=int(d["max_output_channels"]),
                default_samplerate=float(d["default_samplerate"]),
                default_input=i == default_in,
            )
        )
    return out


def find_device(spec: str, role: str, devices: list[DeviceInfo] | None = None) -> DeviceInfo:
    """The input device named by `spec`: an id from `tonewatch devices` or part of a name.

    Raises:
        LiveError: no such device, several match, or it has no input channels.
    """
    devices = list_devices() if devices is None else devices
    spec = spec.strip()
    if spec.isdigit():
        found = [d for d in devices if d.index == int(spec)]
    else:
        exact = [d for d in devices if d.name.lower() == spec.lower()]
        found = exact or [d for d in devices if spec.lower() in d.name.lower()]
        inputs = [d for d in found if d.max_input_channels > 0]
        found = inputs or found
    if not found:
        raise LiveError(f"{role} device {spec!r}: no such device (see `tonewatch devices`)")
    if len(found) > 1:
        names = ", ".join(f"{d.index} {d.name!r}" for d in found[:4])
        raise LiveError(f"{role} device {spec!r}: matches several devices ({names}); use the id")
    dev = found[0]
    if dev.max_input_channels < 1:
        raise LiveError(f"{role} device {dev.index} {dev.name!r}: has no input channels")
    return dev


@dataclass(frozen=True)
class Route:
    """One device to open and which of its channels feed which speaker.

    Attributes:
        device: the device.
        channels: how many channels to open.
        take: 0-based channel indices per speaker; several are averaged.
        sample_rate: rate to open it at (its default rate).
    """

    device: DeviceInfo
    channels: int
    take: dict[Speaker, tuple[int, ...]]
    sample_rate: int


def two_devices(mic: DeviceInfo, loopback: DeviceInfo) -> list[Route]:
    """The agent from the mic's first channel; the customer from the loopback's mix."""
    if mic.index == loopback.index:
        raise LiveError(
            f"mic and loopback are the same device ({mic.index} {mic.name!r}); "
            "use --device with --channels for one device"
        )
    loop_ch = min(2, loopback.max_input_channels)
    return [
        Route(mic, 1, {"agent": (0,)}, int(mic.default_samplerate)),
        Route(
            loopback,
            loop_ch,
            {"customer": tuple(range(loop_ch))},
            int(loopback.default_samplerate),
        ),
    ]


def one_device(device: DeviceInfo, channels: str) -> list[Route]:
    """One device, `channels` = "AGENT,CUSTOMER" as 1-based channel numbers, e.g. "1,2"."""
    parts = [p.strip() for p in channels.split(",")]
    if len(parts) != 2 or not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise LiveError(
            f"--channels {channels!r}: give the agent's and the customer's channel, e.g. 1,2"
        )
    a, c = int(parts[0]), int(parts[1])
    if a == c:
        raise LiveError(f"--channels {channels!r}: agent and customer need different channels")
    if max(a, c) > device.max_input_channels:
        raise LiveError(
            f"device {device.index} {device.name!r}: has {device.max_input_channels} input "
            f"channel(s), --channels asks for channel {max(a, c)}"
        )
    take: dict[Speaker, tuple[int, ...]] = {"agent": (a - 1,), "customer": (c - 1,)}
    return [Route(device, max(a, c), take, int(device.default_samplerate))]


def _refresh_portaudio() -> None:
    """Re-scan devices so one that was unplugged and came back can be found again."""
    sd = sounddevice()
    try:
        sd._terminate()
        sd._initialize()
    except (sd.PortAudioError, AttributeError):
        return
