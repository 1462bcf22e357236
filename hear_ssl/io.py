"""Small helpers every part of hear-ssl shares: atomic writes, file digests, device choice.

Atomic means a reader (or a run resumed after `kill -9`) sees either the old file or the complete new
one, never a truncated file: write to a temporary name in the same folder, fsync, `os.replace`, then
fsync the folder so the rename itself survives a power cut. Temporary files get the permissions a plain
`open(path, "w")` would give (mkstemp's 0600 would surprise users sharing a run directory).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _default_file_mode() -> int:
    return 0o666 & ~_umask()


def _fsync_directory(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some filesystems (and Windows) cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block ends without error it becomes `path`.

    For writers that take a file name (torch.save, safetensors, matplotlib, soundfile). The folder is
    created if needed; on error the temporary file is removed and `path` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _default_file_mode())
        commit_file(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def commit_file(finished: str | os.PathLike, path: str | os.PathLike) -> None:
    """Durably rename a completely written file onto `path`: fsync it, `os.replace`, fsync the folder.

    For writers that must keep their own partial file between runs (a resumable download's `.part`);
    everything else should use `atomic_path`/`atomic_open`, which call this.
    """
    with open(finished, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(finished, path)
    _fsync_directory(Path(path).parent)


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **open_kwargs):
    """`open()` for writing, atomically: `with atomic_open(p, "wb") as f: f.write(...)`."""
    if not mode.startswith("w"):
        raise ValueError(f"atomic_open writes whole files; mode must start with 'w', got {mode!r}")
    with atomic_path(path) as tmp, open(tmp, mode, **open_kwargs) as handle:
        yield handle


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def atomic_write_json(path: str | os.PathLike, value, indent: int | None = 2) -> None:
    """Strict JSON (no NaN/Infinity tokens: they raise), written atomically."""
    atomic_write_text(path, json.dumps(value, indent=indent, allow_nan=False) + "\n")


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


@contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; on success it replaces `path` (an old one is removed).

    For outputs that are a folder (an extracted archive, a resampled task): a half-written folder is
    never seen under the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700 folders
        if path.exists():
            old = path.with_name(f".{path.name}.old.{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_directory(path.parent)


def file_digest(path: str | os.PathLike, algorithm: str = "sha256", chunk_bytes: int = 1 << 20) -> str:
    """Hex digest of a file, read in chunks (checkpoints can be GBs)."""
    digest = hashlib.new(algorithm, usedforsecurity=False) if algorithm == "md5" else hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    return file_digest(path, "sha256")


def choose_device(name: str | None = "auto"):
    """A `torch.device` from a user's choice: "auto" (CUDA when available, else CPU), "cpu", "cuda", "cuda:N".

    Raises ValueError naming the fix when the device does not exist here.
    """
    import torch

    if name is None or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(name, torch.device):
        device = name
    else:
        try:
            device = torch.device(name)
        except RuntimeError as err:
            raise ValueError(f"{name!r} is not a device ({err}); use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} requested but CUDA is not available here; use cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) are visible")
    return device
