"""Audio in and per-speaker analysis.

Owns: call sources (files in `sources`, live PortAudio capture in `live`, the only module that
imports sounddevice) that yield time-stamped blocks of 16 kHz mono float32 samples for the two
speakers; headset-bleed cancelling (`bleed`); voice activity detection (`vad`, webrtcvad);
frame features (`features`: K-weighted level, pitch by YIN, or from YIN's candidates with the
octave chosen by the harmonics in the spectrum, spectral balance) per channel
(`analyzer`); the crosstalk guard; per-speaker baselines; and the transcription worker.
Nothing here knows about alerts, logs or the command line.
"""
