#!/usr/bin/env python3
"""Build the default pretraining corpus from openly licensed Debian sound packages.

Every source is a Debian binary package of the `main` component (DFSG-free) fetched with `apt-get download` and
unpacked with `dpkg-deb -x` (never installed). The result, under OUT_DIR:

    debs/<package>_<version>_all.deb      the downloaded packages (kept so a rerun skips the download)
    pkgs/<package>/                        each package unpacked on its own, reduced to its audio files and its
                                           usr/share/doc (a `.done` marker with the control fields is written last)
    pkgs/<package>/**/<name>.pk3.d/        audio members of game archives (.pk3 zips), extracted
    corpus.txt                             one absolute audio path per line: pass it to `hear-ssl pretrain --data`
    sources.json                           per package: category, version, section, files, hours, bytes, hours per
                                           category, the License: fields of its debian/copyright, the licence
                                           and attribution checked by hand, and the copyright file's path
    skipped.json                           packages left out by this run and why (unavailable, refused licence)

Each file gets a category (speech, music, effects, environmental = animals, weather, water, machines, household,
crowds): the package's, unless one of its path rules says otherwise (a game's voices are speech, its ambience is
environmental). Files identical to one already listed (same bytes) are listed once. A package whose section is
outside `main` or whose debian/copyright names a non-commercial / no-derivatives / non-free licence is refused.

Sources used by the evaluation tasks are refused (Hydrogen drum kits, the FluidR3 GM SoundFont and the soundfonts
derived from it), so the probe on ../shared/hear-tasks never sees its own audio during pretraining.

Usage:  python recipes/build_corpus.py /work/corpus [--packages p1 p2 ...] [--baseline] [--large] [--skip-update]
        python recipes/build_corpus.py /work/corpus --report      # the hours table from sources.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import NamedTuple

from hear_ssl.io import atomic_write_text

CATEGORIES = ("speech", "music", "effects", "environmental")


class Source(NamedTuple):
    """One Debian package of the corpus, with what a human checked in its debian/copyright.

    Parameters
    ----------
    package : the Debian binary package name.
    category : the category of its files (one of CATEGORIES).
    licence : the licence(s) of its audio files, as read in debian/copyright.
    attribution : who made the audio (for the docs and model cards).
    rules : (regex, category) pairs searched in a file's path inside the package; the first match wins.
    archives : suffixes of zip archives whose audio members are extracted, beyond ARCHIVE_SUFFIXES.
    """

    package: str
    category: str
    licence: str
    attribution: str
    rules: tuple[tuple[str, str], ...] = ()
    archives: tuple[str, ...] = ()


SOURCES = (
    # --- the first corpus (before issue 12) ---
    Source("asterisk-core-sounds-en-wav", "speech", "CC-BY-SA-3.0", "Allison Smith (voice), Digium / Asterisk"),
    Source("asterisk-core-sounds-es-wav", "speech", "CC-BY-SA-3.0", "Asterisk core sounds, Spanish prompts"),
    Source("asterisk-core-sounds-fr-wav", "speech", "CC-BY-SA-3.0", "June Wallack (French prompts)"),
    Source("asterisk-core-sounds-it-wav", "speech", "CC-BY-SA-3.0", "Carlo Flora, segreterietelefoniche.it"),
    Source("asterisk-core-sounds-ru-wav", "speech", "CC-BY-SA-3.0", "Maxim Topal (Russian prompts)"),
    Source("klettres-data", "speech", "GPL-2+", "Anne-Marie Mahfouf and the KDE KLettres contributors"),
    Source("ktuberling-data", "speech", "GPL-2+", "Albert Astals Cid and the KDE KTuberling contributors"),
    Source("wesnoth-1.16-music", "music", "GPL-2+", "The Battle for Wesnoth project and its composers"),
    Source("warzone2100-music", "music", "GPL-2+", "Warzone 2100 Project; Eidos Interactive (soundtrack)"),
    Source("singularity-music", "music", "CC-BY-SA", "Max McCracken"),
    Source(
        "hyperrogue-music",
        "music",
        "music CC-BY-SA-3.0; sounds CC0 / CC-BY-SA-3.0/4.0 / CC-BY-3.0",
        "Shawn Parrotte, Lincoln Domina, Will Savino, Brett Cornwall, Jagadamba; Zeno Rogue",
    ),
    Source("nexuiz-music", "music", "GPL-2+", "Alientrap, Lee Vermeulen (Nexuiz)"),
    Source("asterisk-moh-opsound-wav", "music", "CC-BY-SA-3.0", "Paul Shuler (Macroform), Manolo Camp, Reno Project"),
    Source("sonic-pi-samples", "effects", "CC0 (per-file credits)", "Freesound contributors, collected by Sam Aaron"),
    Source("ufoai-sound", "effects", "GPL-2+ (some CC-BY-3.0 / CC-BY-SA-3.0 / PD)", "The UFO:AI Team"),
    Source("bucklespring-data", "effects", "GPL-2+", "Ico Doornekamp (keyboard recordings)"),
    Source("colobot-common-sounds", "effects", "GPL-3+", "Daniel Roux, EPSITEC SA & TerranovaTeam"),
    # --- added by issue 12: everyday and environmental sounds, more speakers and languages ---
    Source(
        "tuxpaint-stamps-default",
        "environmental",
        "GPL-2",
        "Tux Paint stamps contributors (Bill Kendrick et al.); spoken descriptions by their translators",
        # <stamp>_desc_<lang>.ogg are spoken descriptions; the alphabet and number stamps speak their symbol
        (("_desc", "speech"), ("/stamps/symbols/", "speech"), ("/hobbies/music/", "music")),
    ),
    Source(
        "megaglest-data",
        "effects",
        "CC-BY-SA-3.0 (data), GPL-2+",
        "MegaGlest team and Glest contributors",
        (("/music/", "music"), ("/tilesets/", "environmental"), ("water_sounds", "environmental")),
    ),
    Source(
        "lincity-ng-data",
        "environmental",
        "GPL-2+",
        "LinCity-NG team (city, industry, traffic and nature ambiences)",
        (("/music/", "music"),),
    ),
    Source(
        "hedgewars-data",
        "effects",
        "GFDL-1.3 (sounds), GPL-2, CC-BY-SA-3.0 (droplets)",
        "Hedgewars Project (Andrey Korotaev et al.); saugox (freesound)",
        (("/voices/", "speech"), ("/Music/", "music")),
    ),
    Source(
        "asterisk-prompt-it-menardi-wav",
        "speech",
        "CC-BY-SA-3.0",
        "Cristiana Menardi (Italian prompts, female voice)",
    ),
    Source(
        "extremetuxracer-data",
        "environmental",
        "GPL-2+, CC0",
        "Extreme Tux Racer team (wind, snow, ice sounds)",
        (("/music/", "music"),),
    ),
    Source("freeciv-data", "effects", "GPL-2+", "Freeciv project", (("stdmusic", "music"),)),
    Source(
        "frozen-bubble-data", "effects", "GPL-2", "Guillaume Cottenceau, Matthias Le Bidan, Amaury Amblard-Ladurantie"
    ),
    Source("pingus-data", "effects", "GPL-2+", "Pingus team (Ingo Ruhnke et al.)", (("/music/", "music"),)),
    Source("openarena-data", "effects", "GPL-2+", "OpenArena team", (("/music/", "music"),)),
    Source("sound-theme-freedesktop", "effects", "CC-BY-SA-3.0, CC-BY-3.0, GPL-2+", "freedesktop.org sound theme"),
    Source("oxygen-sounds", "effects", "LGPL-3+", "Nuno Pinheiro, KDE Oxygen team"),
    Source("yaru-theme-sound", "effects", "CC-BY-SA-4.0", "Ubuntu Yaru community"),
    Source("deepin-sound-theme", "effects", "GPL-3+", "Deepin Technology"),
    Source(
        "lomiri-sounds",
        "effects",
        "CC-BY-3.0/4.0, CC-BY-SA-3.0, CC0",
        "UBports / Canonical and the credited sound authors",
        (("/ringtones/", "music"),),
    ),
    Source("xmoto-data", "music", "GPL-2+", "X-Moto team"),
    Source(
        "widelands-data",
        "environmental",
        "GPL-2+",
        "Widelands Development Team (animals, farm, workshop and nature sounds)",
        (("/music/", "music"),),
    ),
    Source(
        "wesnoth-1.16-data",
        "effects",
        "GPL-2+",
        "The Battle for Wesnoth project",
        (("/ambient/", "environmental"),),
    ),
    Source(
        "warzone2100-data",
        "speech",
        "GPL-2+, CC-BY-SA-3.0, CC0",
        "Warzone 2100 Project; Eidos Interactive (original voice lines)",
        (("/sfx/", "effects"), ("/music/", "music")),
    ),
    Source(
        "scratch",
        "effects",
        "CC-BY-SA-3.0 (Media/)",
        "MIT Media Lab Lifelong Kindergarten group (Scratch media library)",
        (
            ("/Sounds/(Animal|Human)/", "environmental"),
            ("/Sounds/(Vocals|Instruments|Percussion|Electronic|Music Loops)/", "music"),
        ),
    ),
    Source(
        "minetest-data",
        "environmental",
        "CC-BY-SA-3.0, CC0 (sounds; per-file credits)",
        "Minetest Game contributors (footsteps, water, fire, doors, digging)",
    ),
    Source(
        "supertux-data", "effects", "GPL-2+, CC-BY-SA", "SuperTux team", (("/music/", "music"), ("/speech/", "speech"))
    ),
    Source("simutrans-pak64", "environmental", "Artistic-1.0", "Simutrans pak64 team (vehicles, machines, town)"),
    Source("sound-icons", "effects", "GPL-2+", "Milan Zamazal / Brailcom (speech-dispatcher sound icons)"),
)
# Large packages (over 1 GB to download, several GB unpacked), added with --large.
LARGE_SOURCES = (
    Source(
        "0ad-data",
        "effects",
        "CC-BY-SA-3.0 (art and audio), GPL-2+",
        "Wildfire Games and the 0 A.D. contributors",
        (("/audio/ambient/", "environmental"), ("/audio/music/", "music"), ("/audio/voice/", "speech")),
        (".zip",),
    ),
    Source(
        "flightgear-data-base",
        "environmental",
        "GPL-2+",
        "The FlightGear project (engines, wind, rain, thunder, aircraft systems)",
        (("/ATC/|/voices?/|/mk-viii/|/tcas/", "speech"),),  # spoken ATC and cockpit warning callouts
    ),
)
SOURCE_BY_PACKAGE = {s.package: s for s in SOURCES + LARGE_SOURCES}
# The corpus as it was before issue 12 (kept for before/after comparisons: --baseline).
BASELINE_PACKAGES = tuple(s.package for s in SOURCES[: SOURCES.index(SOURCE_BY_PACKAGE["colobot-common-sounds"]) + 1])
DEFAULT_PACKAGES = tuple(s.package for s in SOURCES)
LARGE_PACKAGES = tuple(s.package for s in LARGE_SOURCES)

# The evaluation tasks in ../shared/hear-tasks are built from these: never pretrain on them. hydrogen ships kits
# of its own; the MuseScore and mono FluidR3 soundfonts are derived from FluidR3 (gm_pitch's instruments).
EXCLUDED_PACKAGES = frozenset(
    {
        "hydrogen",
        "hydrogen-data",
        "hydrogen-drumkits",
        "hydrogen-drumkits-effects",
        "fluid-soundfont-gm",
        "fluid-soundfont-gs",
        "fluidr3mono-gm-soundfont",
        "musescore-general-soundfont",
        "musescore-general-soundfont-lossless",
        "musescore-general-soundfont-small",
    }
)
AUDIO_SUFFIXES = {".wav", ".ogg", ".oga", ".opus", ".flac", ".mp3"}
ARCHIVE_SUFFIXES = {".pk3", ".wz"}  # zip archives of game data (Quake-style, Warzone 2100)
# Licence names that are not free for the corpus's use (DFSG): non-commercial, no-derivatives, non-free.
NON_FREE_LICENCE = re.compile(r"(\bNC\b|non[- ]?commercial|\bND\b|no[- ]?deriv|non[- ]?free|proprietary)", re.I)


def category_of(source: Source, relative_path: str) -> str:
    """The category of one file: the first of the source's path rules that matches, else the package's."""
    for pattern, category in source.rules:
        if re.search(pattern, relative_path):
            return category
    return source.category


def source_for(package: str) -> Source:
    """The curated entry, or an unchecked one (category "other") for a package passed with --packages."""
    return SOURCE_BY_PACKAGE.get(package) or Source(package, "other", "not checked by hand", "see copyright file")


def check_packages(packages: list[str]) -> None:
    """Refuse the evaluation tasks' sources and names that are not Debian package names."""
    banned = sorted(EXCLUDED_PACKAGES.intersection(packages))
    if banned:
        raise ValueError(f"{banned} are sources of the evaluation tasks; pretraining on them would leak: drop them")
    bad = [p for p in packages if not re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", p)]
    if bad:
        raise ValueError(f"{bad} are not Debian package names (lower case letters, digits, + - .)")


def licence_problem(section: str, licenses: list[str]) -> str | None:
    """Why a package may not enter the corpus (None when its section and License: fields are free)."""
    if section.startswith(("non-free", "contrib", "restricted", "multiverse")):
        return f"section {section!r} is outside Debian main (not DFSG-free or depends on non-free)"
    non_free = [v for v in licenses if NON_FREE_LICENCE.search(v)]
    if non_free:
        return f"debian/copyright names non-free licences {non_free}"
    return None


def run(cmd: list[str], cwd: Path | None = None) -> str:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"command failed ({result.returncode}): {' '.join(cmd)}\n{result.stderr.strip()}")
    return result.stdout


def require_tool(name: str) -> None:
    if shutil.which(name) is None:
        raise SystemExit(
            f"error: `{name}` not found: this recipe needs a Debian or Ubuntu system with apt-get and dpkg-deb "
            "(apt-get only for packages not yet in OUT_DIR/debs)"
        )


def download(package: str, debs: Path) -> Path:
    """The package's .deb in `debs`, downloaded unless a previous run left it there."""
    found = sorted(debs.glob(f"{package}_*.deb"))
    if found:
        return found[-1]
    require_tool("apt-get")
    run(["apt-get", "download", "-q", package], cwd=debs)
    found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        raise RuntimeError(f"apt-get download {package} produced no .deb in {debs}")
    return found[-1]


def control_fields(deb: Path) -> dict[str, str]:
    return {k.lower(): run(["dpkg-deb", "-f", str(deb), k]).strip() for k in ("Version", "Section", "Homepage")}


def unpack(deb: Path, target: Path) -> dict[str, str]:
    """`dpkg-deb -x` the package, open its game archives, keep only audio and docs; the control fields.

    A rerun finds the `.done` marker and unpacks nothing (the marker of the first corpus held only the .deb name).
    """
    marker = target / ".done"
    if marker.exists():
        text = marker.read_text()
        return json.loads(text) if text.startswith("{") else control_fields(deb)
    if target.exists():  # a run stopped half-way
        shutil.rmtree(target)
    target.mkdir(parents=True)
    run(["dpkg-deb", "-x", str(deb), str(target)])
    suffixes = ARCHIVE_SUFFIXES.union(source_for(target.name).archives)
    for archive in sorted(p for p in target.rglob("*") if p.suffix.lower() in suffixes and p.is_file()):
        extract_audio_members(archive, archive.with_suffix(archive.suffix + ".d"))
    prune_to_audio(target)
    fields = control_fields(deb)
    marker.write_text(json.dumps(fields) + "\n")
    return fields


def extract_audio_members(archive: Path, target: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        for member in zf.namelist():
            name = Path(member)
            # Only plain relative names: a crafted archive cannot write outside `target`.
            if name.suffix.lower() in AUDIO_SUFFIXES and not name.is_absolute() and ".." not in name.parts:
                zf.extract(member, target)


def prune_to_audio(root: Path) -> None:
    """Delete what the corpus does not need (graphics, code, archives), keeping audio and usr/share/doc."""
    for path in sorted(root.rglob("*"), reverse=True):
        if is_doc(root, path):
            continue
        if path.is_symlink() or (path.is_file() and path.suffix.lower() not in AUDIO_SUFFIXES):
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def is_doc(root: Path, path: Path) -> bool:
    return "doc" in path.relative_to(root).parts[:3]


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
        if is_doc(root, path) or path.is_symlink() or not path.is_file():
            continue
        if path.suffix.lower() in AUDIO_SUFFIXES:
            files.append(path)
    return sorted(files)


def duration_seconds(path: Path) -> float:
    """The file's length read from its header (0.0 when libsndfile cannot read it)."""
    import soundfile

    try:
        info = soundfile.info(str(path))
    except Exception:  # unreadable: left out of corpus.txt and counted in sources.json
        return 0.0
    return info.frames / info.samplerate if info.samplerate else 0.0


def content_key(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return path.stat().st_size, digest.hexdigest()


def empty_tally() -> dict:
    return {"files": 0, "hours": 0.0, "bytes": 0}


def add_to_tally(tally: dict, seconds: float, size: int) -> None:
    tally["files"] += 1
    tally["hours"] += seconds / 3600
    tally["bytes"] += size


def describe_package(package: str, root: Path, fields: dict, seen: set) -> tuple[dict, list[Path]]:
    """The sources.json entry of an unpacked package and its files for corpus.txt (duplicates of `seen` dropped)."""
    source = source_for(package)
    totals, per_category = empty_tally(), {}
    kept, unreadable, duplicates = [], 0, 0
    for path in audio_files(root):
        seconds = duration_seconds(path)
        if seconds <= 0:
            unreadable += 1
            continue
        key = content_key(path)
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        category = category_of(source, path.relative_to(root).as_posix())
        add_to_tally(totals, seconds, key[0])
        add_to_tally(per_category.setdefault(category, empty_tally()), seconds, key[0])
        kept.append(path)
    copyright_file = root / "usr" / "share" / "doc" / package / "copyright"
    for tally in [totals, *per_category.values()]:
        tally["hours"] = round(tally["hours"], 3)
    entry = {
        "category": source.category,
        **fields,
        **totals,
        "categories": dict(sorted(per_category.items())),
        "unreadable_files": unreadable,
        "duplicate_files": duplicates,
        "licence": source.licence,
        "attribution": source.attribution,
        "licenses": license_fields(copyright_file),
        "copyright_file": str(copyright_file) if copyright_file.is_file() else None,
    }
    return entry, kept


def hours_by_category(sources: dict) -> dict[str, dict]:
    """Files, hours and bytes per category summed over the packages of a sources.json."""
    table = {}
    for info in sources.values():
        # A sources.json of the first corpus has no per-file categories: its package category holds them all.
        categories = info.get("categories") or {info["category"]: {k: info.get(k, 0) for k in ("files", "hours")}}
        for category, tally in categories.items():
            row = table.setdefault(category, empty_tally())
            for key in row:
                row[key] += tally.get(key, 0)
    order = {c: i for i, c in enumerate(CATEGORIES)}
    return dict(sorted(table.items(), key=lambda kv: order.get(kv[0], len(order))))


def render_report(sources: dict, before: dict | None = None) -> str:
    """Markdown: hours per category (with a before column when `before` is given), then one row per package."""
    after_table = hours_by_category(sources)
    before_table = hours_by_category(before) if before else {}
    lines = ["| category | " + ("files before | hours before | " if before else "") + "files | hours | size |"]
    lines.append("| --- | " + ("--- | --- | " if before else "") + "--- | --- | --- |")
    total_after, total_before = empty_tally(), empty_tally()
    for category in {**before_table, **after_table}:
        row, old = after_table.get(category, empty_tally()), before_table.get(category, empty_tally())
        for total, tally in ((total_after, row), (total_before, old)):
            for key in total:
                total[key] += tally[key]
        lines.append(report_row(category, row, old if before else None))
    lines.append(report_row("**total**", total_after, total_before if before else None))
    lines += ["", "| package | category | version | files | hours | size | licence of the audio | attribution |"]
    lines.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for package, info in sources.items():
        split = ", ".join(f"{c} {t['hours']:.2f} h" for c, t in info.get("categories", {}).items())
        kind = info["category"] if len(info.get("categories", {})) < 2 else split
        lines.append(
            f"| {package} | {kind} | {info.get('version', '')} | {info['files']:,} | {info['hours']:.2f} | "
            f"{info.get('bytes', 0) / 1e6:,.0f} MB | {info.get('licence', '')} | {info.get('attribution', '')} |"
        )
    return "\n".join(lines) + "\n"


def report_row(name: str, row: dict, old: dict | None) -> str:
    before = f"{old['files']:,} | {old['hours']:.2f} | " if old is not None else ""
    return f"| {name} | {before}{row['files']:,} | {row['hours']:.2f} | {row['bytes'] / 1e9:.2f} GB |"


def build(out: Path, packages: list[str], skip_update: bool) -> int:
    require_tool("dpkg-deb")
    debs, pkgs = out / "debs", out / "pkgs"
    debs.mkdir(parents=True, exist_ok=True)
    if not skip_update:
        require_tool("apt-get")
        run(["apt-get", "update", "-q"])

    from tqdm import tqdm

    sources, skipped, all_files, seen = {}, {}, [], set()
    for package in tqdm(packages, desc="packages", unit="pkg"):
        try:
            deb = download(package, debs)
        except RuntimeError as err:
            print(f"warning: skipping {package}: not available ({str(err).splitlines()[-1]})", file=sys.stderr)
            skipped[package] = f"not available: {err}"
            continue
        fields = unpack(deb, pkgs / package)
        licenses = license_fields(pkgs / package / "usr" / "share" / "doc" / package / "copyright")
        problem = licence_problem(fields["section"], licenses)
        if problem:
            print(f"warning: refusing {package}: {problem}", file=sys.stderr)
            skipped[package] = f"refused: {problem}"
            continue
        entry, files = describe_package(package, pkgs / package, fields, seen)
        if not files:
            print(f"warning: skipping {package}: no readable audio files", file=sys.stderr)
            skipped[package] = "no readable audio files"
            continue
        sources[package] = entry
        all_files += files

    atomic_write_text(out / "corpus.txt", "".join(f"{f}\n" for f in all_files))
    atomic_write_text(out / "sources.json", json.dumps(sources, indent=2) + "\n")
    atomic_write_text(out / "skipped.json", json.dumps(skipped, indent=2) + "\n")
    hours = sum(s["hours"] for s in sources.values())
    print(f"{len(all_files)} audio files, {hours:.2f} h from {len(sources)} packages -> {out / 'corpus.txt'}")
    if skipped:
        print(f"skipped {len(skipped)}: {', '.join(skipped)} (reasons in {out / 'skipped.json'})")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="cache folder (outside the repository), e.g. /work/corpus")
    parser.add_argument("--packages", nargs="+", help="Debian packages to include (default: every curated source)")
    parser.add_argument("--baseline", action="store_true", help="only the packages of the corpus before issue 12")
    parser.add_argument(
        "--large", action="store_true", help=f"add the large packages ({', '.join(LARGE_PACKAGES)}; several GB)"
    )
    parser.add_argument("--skip-update", action="store_true", help="do not run `apt-get update` first")
    parser.add_argument(
        "--report", action="store_true", help="print the hours table of OUT_DIR/sources.json and exit (builds nothing)"
    )
    parser.add_argument("--before", type=Path, help="with --report: an older sources.json for before/after columns")
    args = parser.parse_args(argv)
    out = args.out_dir.resolve()

    if args.report:
        if not (out / "sources.json").is_file():
            parser.error(f"{out / 'sources.json'} not found: build the corpus first (without --report)")
        before = json.loads(args.before.read_text()) if args.before else None
        print(render_report(json.loads((out / "sources.json").read_text()), before), end="")
        return 0
    if args.packages and args.baseline:
        parser.error("pass either --packages or --baseline, not both")
    packages = list(args.packages or (BASELINE_PACKAGES if args.baseline else DEFAULT_PACKAGES))
    packages += [p for p in LARGE_PACKAGES if args.large and p not in packages]
    try:
        check_packages(packages)
    except ValueError as err:
        parser.error(str(err))
    return build(out, packages, args.skip_update)


if __name__ == "__main__":
    sys.exit(main())
