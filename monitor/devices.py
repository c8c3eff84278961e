"""List the audio devices PortAudio sees (`tonewatch devices`), marking loopback sources.

Each line gives the id to pass to `tonewatch live --mic/--loopback/--device`, the input and
output channel counts, the default sample rate, the host API and the name. Inputs whose
names say they carry played audio (a PulseAudio/PipeWire `.monitor`, "Monitor of ...",
loopback, BlackHole, Stereo Mix, ...) are marked `loopback`; the default input is marked
with `*`. A machine without PortAudio or without devices gets one line and exit code 3.
"""

from __future__ import annotations

import argparse
import sys

from audio.devices import LiveError, list_devices
from monitor.errors import EXIT_SOURCE, CommandError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inputs", action="store_true", help="only devices that can capture (inputs)")


def run(args: argparse.Namespace) -> int:
    try:
        devices = list_devices()
    except LiveError as exc:
        raise CommandError(str(exc), EXIT_SOURCE) from None
    if args.inputs:
        devices = [d for d in devices if d.max_input_channels > 0]
    if not devices:
        what = "audio input devices" if args.inputs else "audio devices"
        raise CommandError(
            f"no {what} found (PortAudio sees none; on Linux is PulseAudio/PipeWire running?)",
            EXIT_SOURCE,
        )
    print(f"{'id':>4}  {'in':>3} {'out':>3} {'rate':>6}  {'host API':<12} name")
    for d in devices:
        mark = "*" if d.default_input else " "
        tags = "  [loopback]" if d.loopback and d.max_input_channels > 0 else ""
        print(
            f"{mark}{d.index:>3}  {d.max_input_channels:>3} {d.max_output_channels:>3} "
            f"{d.default_samplerate:>6.0f}  {d.hostapi[:12]:<12} {d.name}{tags}"
        )
    print(
        "tonewatch live --mic ID --loopback ID  (or --device ID --channels AGENT,CUSTOMER)",
        file=sys.stderr,
    )
    return 0
