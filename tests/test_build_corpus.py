"""recipes/build_corpus.py offline: categories, licence and exclusion checks, the report, and a build from a local .deb.

The build tests make a tiny Debian package with `dpkg-deb -b` (skipped where dpkg-deb is missing) and never call
apt-get: a package that is not in OUT_DIR/debs is answered the way an unknown package is answered by apt-get.
"""

import importlib.util
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "build_corpus.py"


@pytest.fixture(scope="module")
def recipe():
    spec = importlib.util.spec_from_file_location("build_corpus", RECIPE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # as tests/test_docs.py loads it: not registered in sys.modules
    return module


def test_every_source_has_a_known_category_and_a_checked_licence(recipe):
    packages = [s.package for s in recipe.SOURCES]
    assert len(packages) == len(set(packages)), "a package is listed twice"
    for source in recipe.SOURCES:
        assert source.category in recipe.CATEGORIES, source
        assert all(category in recipe.CATEGORIES for _, category in source.rules), source
        assert source.licence and source.attribution, f"{source.package}: licence and attribution are required"
        assert recipe.NON_FREE_LICENCE.search(source.licence) is None, source
    assert set(recipe.BASELINE_PACKAGES) < set(recipe.DEFAULT_PACKAGES)
    assert {"speech", "music", "effects", "environmental"} <= {s.category for s in recipe.SOURCES}


def test_the_evaluation_sources_are_never_in_the_corpus(recipe):
    assert not recipe.EXCLUDED_PACKAGES.intersection(recipe.DEFAULT_PACKAGES)
    for leak in ("hydrogen-drumkits", "fluid-soundfont-gm", "musescore-general-soundfont"):
        with pytest.raises(ValueError, match="evaluation tasks"):
            recipe.check_packages(["sound-icons", leak])
    with pytest.raises(ValueError, match="not Debian package names"):
        recipe.check_packages(["Sound Icons"])
    recipe.check_packages(list(recipe.DEFAULT_PACKAGES))


def test_large_packages_are_only_added_on_request(recipe):
    assert not set(recipe.LARGE_PACKAGES).intersection(recipe.DEFAULT_PACKAGES)
    assert all(p in recipe.SOURCE_BY_PACKAGE for p in recipe.LARGE_PACKAGES)
    zero_ad = recipe.SOURCE_BY_PACKAGE["0ad-data"]
    assert recipe.category_of(zero_ad, "public.zip.d/audio/ambient/dayscape/birds.ogg") == "environmental"
    assert recipe.category_of(zero_ad, "public.zip.d/audio/voice/hellenes/civ/civ_male_attack.ogg") == "speech"


def test_excluded_package_on_the_command_line_is_a_clear_error(recipe, tmp_path, capsys):
    with pytest.raises(SystemExit):
        recipe.main([str(tmp_path), "--packages", "fluid-soundfont-gs", "--skip-update"])
    assert "evaluation tasks" in capsys.readouterr().err
    assert not (tmp_path / "corpus.txt").exists()


def test_path_rules_give_voices_ambience_and_music_their_own_category(recipe):
    tuxpaint = recipe.SOURCE_BY_PACKAGE["tuxpaint-stamps-default"]
    stamps = "usr/share/tuxpaint/stamps"
    assert recipe.category_of(tuxpaint, f"{stamps}/animals/birds/owl.ogg") == "environmental"
    assert recipe.category_of(tuxpaint, f"{stamps}/animals/birds/owl_desc_fr.ogg") == "speech"
    assert recipe.category_of(tuxpaint, f"{stamps}/symbols/math/7_nb.ogg") == "speech"
    megaglest = recipe.SOURCE_BY_PACKAGE["megaglest-data"]
    assert (
        recipe.category_of(megaglest, "usr/share/games/megaglest/tilesets/forest/sounds/bird1.ogg") == "environmental"
    )
    assert recipe.category_of(megaglest, "usr/share/games/megaglest/techs/x/units/archer/sounds/a.wav") == "effects"
    assert recipe.source_for("some-new-package").category == "other"


@pytest.mark.parametrize(
    "section, licenses, refused",
    [
        ("sound", ["CC-BY-SA-3.0", "GPL-2+", "BSD-3-clause", "GFDL-NIV-1.2+"], None),
        ("non-free/sound", ["GPL-2+"], "outside Debian main"),
        ("contrib/games", ["GPL-2+"], "outside Debian main"),
        ("games", ["GPL-2+", "CC-BY-NC-SA-3.0"], "non-free licences"),
        ("games", ["CC-BY-ND-4.0"], "non-free licences"),
        ("games", ["non-free"], "non-free licences"),
    ],
)
def test_licence_check_refuses_what_is_not_free(recipe, section, licenses, refused):
    problem = recipe.licence_problem(section, licenses)
    assert problem is None if refused is None else refused in problem


def test_hours_by_category_reads_both_sources_json_formats(recipe):
    sources = {
        "old-speech": {"category": "speech", "files": 3, "hours": 1.5},  # the first corpus: no per-file categories
        "game": {
            "category": "effects",
            "files": 5,
            "hours": 2.0,
            "bytes": 500,
            "categories": {
                "effects": {"files": 4, "hours": 1.25, "bytes": 400},
                "speech": {"files": 1, "hours": 0.75, "bytes": 100},
            },
        },
    }
    table = recipe.hours_by_category(sources)
    assert list(table) == ["speech", "effects"]  # in CATEGORIES order
    assert table["speech"] == {"files": 4, "hours": 2.25, "bytes": 100}
    assert table["effects"] == {"files": 4, "hours": 1.25, "bytes": 400}
    report = recipe.render_report(sources, before={"old-speech": sources["old-speech"]})
    assert "| speech | 3 | 1.50 | 4 | 2.25 |" in report
    assert "| effects | 0 | 0.00 | 4 | 1.25 |" in report
    assert "| **total** | 3 | 1.50 | 8 | 3.50 |" in report
    assert "effects 1.25 h, speech 0.75 h" in report


def write_tone(path: Path, seconds: float, freq: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(16000 * seconds)) / 16000
    soundfile.write(path, 0.3 * np.sin(2 * np.pi * freq * t), 16000, subtype="PCM_16")


def make_deb(tmp_path: Path, package: str) -> Path:
    """A tiny .deb: two tones, a copy of one, a broken .ogg, a zip with a third tone, an image, a copyright file."""
    root = tmp_path / "src" / package
    sounds = root / "usr" / "share" / "games" / package / "sounds"
    write_tone(sounds / "bird.wav", 2.0, 440)
    write_tone(sounds / "voices" / "hello.wav", 1.0, 880)
    shutil.copy(sounds / "bird.wav", sounds / "bird_copy.wav")
    (sounds / "broken.ogg").write_bytes(b"not audio")
    (sounds / "icon.png").write_bytes(b"\x89PNG")
    write_tone(tmp_path / "zipped" / "sfx" / "zipped.wav", 0.5, 660)
    with zipfile.ZipFile(sounds / "data.zip", "w") as zf:  # audio hidden in a game archive
        zf.write(tmp_path / "zipped" / "sfx" / "zipped.wav", "sfx/zipped.wav")
        zf.writestr("scripts/readme.txt", "not audio")
    doc = root / "usr" / "share" / "doc" / package
    doc.mkdir(parents=True)
    (doc / "copyright").write_text("Files: *\nCopyright: 2024 Someone\nLicense: CC-BY-SA-3.0\n")
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN" / "control").write_text(
        f"Package: {package}\nVersion: 1.0-1\nSection: games\nArchitecture: all\nMaintainer: T <t@example.org>\n"
        "Description: test sounds\n"
    )
    debs = tmp_path / "out" / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    deb = debs / f"{package}_1.0-1_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(root), str(deb)], check=True, capture_output=True)
    return deb


@pytest.fixture
def offline_build(recipe, tmp_path, monkeypatch):
    """Run the recipe on OUT_DIR=tmp_path/out where apt-get knows no package (answers like an unknown name)."""
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb not installed (the recipe needs a Debian system)")
    real_run = recipe.run

    def run(cmd, cwd=None):
        if cmd[0] == "apt-get":
            raise RuntimeError(f"command failed (100): {' '.join(cmd)}\nE: Unable to locate package {cmd[-1]}")
        return real_run(cmd, cwd)

    monkeypatch.setattr(recipe, "run", run)
    monkeypatch.setattr(recipe.shutil, "which", lambda name: f"/usr/bin/{name}")
    rules = (("/voices/", "speech"),)
    source = recipe.Source("hear-ssl-test-sounds", "environmental", "CC-BY-SA-3.0", "t", rules, (".zip",))
    monkeypatch.setitem(recipe.SOURCE_BY_PACKAGE, source.package, source)
    make_deb(tmp_path, source.package)
    return tmp_path / "out"


def test_build_lists_readable_unique_audio_with_categories_and_skips_unavailable(recipe, offline_build, capsys):
    out = offline_build
    assert recipe.main([str(out), "--packages", "hear-ssl-test-sounds", "not-a-real-package", "--skip-update"]) == 0
    assert "skipping not-a-real-package: not available" in capsys.readouterr().err
    assert "not available" in json.loads((out / "skipped.json").read_text())["not-a-real-package"]

    listed = (out / "corpus.txt").read_text().splitlines()
    # the copy and the broken file are left out; the zip's audio member is extracted
    assert sorted(Path(p).name for p in listed) == ["bird.wav", "hello.wav", "zipped.wav"]
    info = json.loads((out / "sources.json").read_text())["hear-ssl-test-sounds"]
    assert (info["files"], info["duplicate_files"], info["unreadable_files"]) == (3, 1, 1)
    assert info["hours"] == pytest.approx(3.5 / 3600, abs=1e-4)
    assert info["categories"]["speech"]["files"] == 1 and info["categories"]["environmental"]["files"] == 2
    assert info["licenses"] == ["CC-BY-SA-3.0"] and info["version"] == "1.0-1" and info["section"] == "games"
    unpacked = out / "pkgs" / "hear-ssl-test-sounds"
    assert not list(unpacked.rglob("*.png")) and not list(unpacked.rglob("*.zip")), "non-audio files are pruned"
    assert (unpacked / "usr" / "share" / "doc" / "hear-ssl-test-sounds" / "copyright").is_file()

    assert recipe.main([str(out), "--report"]) == 0
    assert "| speech | 1 | 0.00 |" in capsys.readouterr().out


def test_rerun_is_idempotent_and_does_not_unpack_again(recipe, offline_build):
    out = offline_build
    args = [str(out), "--packages", "hear-ssl-test-sounds", "--skip-update"]
    recipe.main(args)
    marker = out / "pkgs" / "hear-ssl-test-sounds" / ".done"
    first = [(out / n).read_text() for n in ("corpus.txt", "sources.json")]
    stamp = marker.stat().st_mtime_ns
    recipe.main(args)
    assert [(out / n).read_text() for n in ("corpus.txt", "sources.json")] == first
    assert marker.stat().st_mtime_ns == stamp


def test_refused_licence_is_left_out_with_a_warning(recipe, offline_build, capsys):
    out = offline_build
    copyright_file = out / "pkgs" / "hear-ssl-test-sounds" / "usr" / "share" / "doc" / "hear-ssl-test-sounds"
    recipe.main([str(out), "--packages", "hear-ssl-test-sounds", "--skip-update"])
    (copyright_file / "copyright").write_text("Files: *\nLicense: CC-BY-NC-SA-4.0\n")
    recipe.main([str(out), "--packages", "hear-ssl-test-sounds", "--skip-update"])
    assert "refusing hear-ssl-test-sounds" in capsys.readouterr().err
    assert (out / "corpus.txt").read_text() == ""
    assert "CC-BY-NC-SA-4.0" in json.loads((out / "skipped.json").read_text())["hear-ssl-test-sounds"]


def test_missing_apt_get_is_a_clear_error(recipe, tmp_path, monkeypatch):
    monkeypatch.setattr(recipe.shutil, "which", lambda name: None)
    with pytest.raises(SystemExit, match="apt-get"):
        recipe.download("sound-icons", tmp_path)
