"""Which audio files a pretraining run reads: a folder searched recursively, or a list file."""

from __future__ import annotations

from pathlib import Path

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif")


def resolve_audio_files(data: str | Path) -> list[Path]:
    """Audio files named by `data`, sorted so every rank and every resume sees the same order.

    Parameters
    ----------
    data : str or Path
        A folder (searched recursively for files ending in one of `AUDIO_SUFFIXES`), or a text file with one
        path per line (relative paths are taken relative to the list's folder; blank lines and lines starting
        with ``#`` are skipped).

    Raises
    ------
    FileNotFoundError
        When `data` or a listed file does not exist.
    ValueError
        When no audio file is found.
    """
    data = Path(data).expanduser()
    if data.is_dir():
        files = sorted(p for p in data.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        where = f"folder {data} (searched recursively for {', '.join(AUDIO_SUFFIXES)})"
    elif data.is_file():
        files = []
        for number, line in enumerate(data.read_text().splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            path = Path(line).expanduser()
            path = path if path.is_absolute() else data.parent / path
            if not path.is_file():
                raise FileNotFoundError(f"{data}:{number}: listed audio file does not exist: {path}")
            files.append(path)
        where = f"list file {data}"
    else:
        raise FileNotFoundError(f"--data {data} is neither a folder of audio nor a list file of audio paths")
    if not files:
        raise ValueError(f"no audio files found in {where}")
    return files
