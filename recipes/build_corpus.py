#!/usr/bin/env python3
"""Build the default pretraining corpus from openly licensed Debian sound packages.

Every source is a Debian binary package fetched with `apt-get download` and unpacked with `dpkg-deb -x`
(no installation, no root needed beyond what apt-get download needs). The result, under OUT_DIR:

    debs/<package>_<version>_all.deb      the downloaded packages (kept so a rerun skips the download)
    pkgs/<package>/                        each package unpacked on its own (a `.done` marker is written last)
    corpus.txt                             one absolute audio path per line: pass it to `hear-ssl pretrain --data`
    pkgs/<package>/**/<name>.pk3.d/        audio members of game archives (.pk3 zips), extracted
    sources.json                           per package: version, section, files, hours, the License: fields of
                                           its debian/copyright and the copyright file's path (for attribution)

Sources used by the evaluation tasks are refused (Hydrogen drum kits, the FluidR3 GM SoundFont), so the
probe on ../shared/hear-tasks never sees its own audio during pretraining.

Usage:  python recipes/build_corpus.py /work/corpus [--packages p1 p2 ...] [--skip-update]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from hear_ssl.io import atomic_write_text

SPEECH = [
    "asterisk-core-sounds-en-wav",
    "asterisk-core-sounds-es-wav",
    "asterisk-core-sounds-fr-wav",
    "asterisk-core-sounds-it-wav",
    "asterisk-core-sounds-ru-wav",
    "klettres-data",
    "ktuberling-data",
]
MUSIC = [
    "wesnoth-1.16-music",
    "warzone2100-music",
    "singularity-music",
    "hyperrogue-music",
    "nexuiz-music",
    "asterisk-moh-opsound-wav",
]
EFFECTS = ["sonic-pi-samples", "ufoai-sound", "bucklespring-data", "colobot-common-sounds"]
DEFAULT_PACKAGES = SPEECH + MUSIC + EFFECTS
CATEGORY = {**{p: "speech" for p in SPEECH}, **{p: "music" for p in MUSIC}, **{p: "effects" for p in EFFECTS}}

# The evaluation tasks in ../shared/hear-tasks are built from these: never pretrain on them.
EXCLUDED_PACKAGES = {"hydrogen-drumkits", "hydrogen-drumkits-effects", "fluid-soundfont-gm", "fluid-soundfont-gs"}
AUDIO_SUFFIXES = {".wav", ".ogg", ".oga", ".opus", ".flac", ".mp3"}


def run(cmd: list[str], cwd: Path | None = None) -> str:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"command failed ({result.returncode}): {' '.join(cmd)}\n{result.stderr.strip()}")
    return result.stdout


def download(package: str, debs: Path) -> Path:
    """The package's .deb in `debs`, downloaded unless a previous run left it there."""
    found = sorted(debs.glob(f"{package}_*.deb"))
    if found:
        return found[-1]
    run(["apt-get", "download", package], cwd=debs)
    found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        raise RuntimeError(f"apt-get download {package} produced no .deb in {debs}")
    return found[-1]


def unpack(deb: Path, target: Path) -> None:
    """`dpkg-deb -x` the package, then open the game archives (.pk3 = zip) that hide its sounds."""
    marker = target / ".done"
    if marker.exists():
        return
    target.mkdir(parents=True, exist_ok=True)
    run(["dpkg-deb", "-x", str(deb), str(target)])
    for archive in sorted(target.rglob("*.pk3")):
        extract_audio_members(archive, archive.with_suffix(".pk3.d"))
    marker.write_text(deb.name + "\n")


def extract_audio_members(archive: Path, target: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        for member in zf.namelist():
            name = Path(member)
            # Only plain relative names: a crafted archive cannot write outside `target`.
            if name.suffix.lower() in AUDIO_SUFFIXES and not name.is_absolute() and ".." not in name.parts:
                zf.extract(member, target)


def control_field(deb: Path, field: str) -> str:
    return run(["dpkg-deb", "-f", str(deb), field]).strip()


def license_fields(copyright_file: Path) -> list[str]:
    """The distinct `License:` values of a machine-readable debian/copyright (empty for free-form ones)."""
    if not copyright_file.is_file():
        return []
    text = copyright_file.read_text(errors="replace")
    values = {m.group(1).strip() for m in re.finditer(r"^License:\s*(\S.*)$", text, flags=re.M)}
    # Free-form copyright files sometimes put prose after "License:"; keep only licence identifiers.
    return sorted(v for v in values if not re.search(r"[()<>@]|copyright", v, flags=re.I))


def audio_files(root: Path) -> list[Path]:
    files = []
    for path in root.rglob("*"):
        # Documentation folders hold no training audio; symlinks would count a file twice.
        if "doc" in path.relative_to(root).parts[:3] or path.is_symlink() or not path.is_file():
            continue
        if path.suffix.lower() in AUDIO_SUFFIXES:
            files.append(path)
    return sorted(files)


def duration_seconds(path: Path) -> float:
    import soundfile

    try:
        info = soundfile.info(str(path))
    except Exception:  # an unreadable file is reported by the cache builder, which skips it
        return 0.0
    return info.frames / info.samplerate if info.samplerate else 0.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="cache folder (outside the repository), e.g. /work/corpus")
    parser.add_argument("--packages", nargs="+", default=DEFAULT_PACKAGES, help="Debian packages to include")
    parser.add_argument("--skip-update", action="store_true", help="do not run `apt-get update` first")
    args = parser.parse_args(argv)

    banned = EXCLUDED_PACKAGES.intersection(args.packages)
    if banned:
        parser.error(f"{sorted(banned)} are sources of the evaluation tasks; pretraining on them would leak")
    out = args.out_dir.resolve()
    debs, pkgs = out / "debs", out / "pkgs"
    debs.mkdir(parents=True, exist_ok=True)
    if not args.skip_update:
        run(["apt-get", "update", "-q"])

    from tqdm import tqdm

    sources, all_files = {}, []
    for package in tqdm(args.packages, desc="packages", unit="pkg"):
        deb = download(package, debs)
        target = pkgs / package
        unpack(deb, target)
        files = audio_files(target)
        copyright_file = target / "usr" / "share" / "doc" / package / "copyright"
        seconds = sum(duration_seconds(f) for f in files)
        sources[package] = {
            "category": CATEGORY.get(package, "other"),
            "version": control_field(deb, "Version"),
            "section": control_field(deb, "Section"),
            "homepage": control_field(deb, "Homepage"),
            "deb": deb.name,
            "files": len(files),
            "hours": round(seconds / 3600, 3),
            "licenses": license_fields(copyright_file),
            "copyright_file": str(copyright_file) if copyright_file.is_file() else None,
        }
        all_files += files

    atomic_write_text(out / "corpus.txt", "".join(f"{f}\n" for f in all_files))
    atomic_write_text(out / "sources.json", json.dumps(sources, indent=2) + "\n")
    hours = sum(s["hours"] for s in sources.values())
    print(f"{len(all_files)} audio files, {hours:.2f} h from {len(sources)} packages -> {out / 'corpus.txt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
