"""Audio in and per-speaker analysis.

Owns: call sources (files now, live capture later) that yield time-stamped blocks of
16 kHz mono float32 samples for the two speakers, voice activity detection (webrtcvad),
frame features (K-weighted level, pitch, spectral balance), and per-speaker baselines.
Nothing here knows about alerts, logs or the command line.
"""
