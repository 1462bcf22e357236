"""Generated audio for the pretraining tests: tones, chirps, noise bursts and clicks, several sample rates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile


def write_corpus(folder: Path, seed: int = 0) -> list[Path]:
    """Eight short files (0.3-4 s): mono and stereo, 16 kHz and 22.05 kHz, WAV and FLAC."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    specs = [
        ("tone_a.wav", 16000, 3.0, 1),
        ("tone_b.flac", 22050, 2.5, 2),
        ("chirp.wav", 16000, 4.0, 1),
        ("noise.wav", 16000, 2.0, 1),
        ("bursts.wav", 22050, 3.0, 1),
        ("clicks.flac", 16000, 1.5, 1),
        ("short.wav", 16000, 0.3, 1),
        ("sub/mix.wav", 16000, 3.5, 2),
    ]
    for name, rate, seconds, channels in specs:
        t = np.arange(int(rate * seconds)) / rate
        if "tone" in name:
            audio = 0.3 * np.sin(2 * np.pi * rng.uniform(200, 2000) * t)
        elif "chirp" in name:
            audio = 0.3 * np.sin(2 * np.pi * (100 + 900 * t) * t)
        elif "noise" in name:
            audio = 0.1 * rng.standard_normal(len(t))
        elif "bursts" in name:
            audio = 0.2 * rng.standard_normal(len(t)) * (np.sin(2 * np.pi * 3 * t) > 0.5)
        elif "clicks" in name:
            audio = np.zeros(len(t))
            audio[:: rate // 8] = 0.9
        else:
            audio = 0.2 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(len(t))
        audio = audio.astype(np.float32)
        if channels == 2:
            audio = np.stack([audio, 0.5 * audio], axis=1)
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(str(path), audio, rate)
        paths.append(path)
    return sorted(paths)
