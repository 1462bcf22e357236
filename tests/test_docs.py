"""The docs cannot drift: the model zoo table matches the registry, and the quick-start examples run."""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hear_ssl.registry import available_models, get_spec

from .requires import unavailable

DOCS = Path(__file__).resolve().parents[1] / "docs"
SKIP_MARK = "<!-- docs-test: skip"
ARCH_NAMES = {"audiontt2020": "AudioNTT2020", "audiontt2022": "AudioNTT2022", "cvt": "CvT"}


def table_rows(markdown: str, heading: str) -> dict[str, list[str]]:
    """Rows of the first table under `## heading`, keyed by the model name in their first cell."""
    section = markdown.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `") and cells:
            rows[cells[0].strip("`")] = cells
    return rows


@pytest.fixture(scope="module")
def models_md():
    return (DOCS / "models.md").read_text()


def test_model_zoo_lists_every_registry_model(models_md):
    for heading in ("Architecture and processing", "Weights"):
        rows = table_rows(models_md, heading)
        assert sorted(rows) == sorted(available_models()), f"docs/models.md '{heading}' table is out of date"


def test_model_zoo_rows_match_the_registry(models_md):
    processing = table_rows(models_md, "Architecture and processing")
    weights = table_rows(models_md, "Weights")
    for name in available_models():
        spec = get_spec(name)
        _, _, encoder, _, size, frontend, norm, framing = processing[name]
        assert encoder.startswith(ARCH_NAMES[spec.encoder.arch]), (name, encoder)
        if spec.encoder.arch != "cvt":
            assert f"d={spec.encoder.d}" in encoder, (name, encoder)
        assert size == str(spec.embedding_size), (name, size)
        assert frontend == f"win {spec.frontend.win_length}", (name, frontend)
        if spec.norm.mode == "fixed":
            assert norm == f"fixed: mean {spec.norm.mean}, std {spec.norm.std}", (name, norm)
        else:
            assert norm == "per input", (name, norm)
        assert framing.startswith(f"{spec.framing.window_ms:g} ms / {spec.framing.hop_ms:g} ms"), (name, framing)
        assert ("pooled frames" in framing) == spec.framing.pool_frames, (name, framing)

        _, filename, _, _, size_cell, sha_cell, ours = weights[name]
        official = spec.official
        if official.filename.endswith((".pth", ".safetensors")):
            assert filename == f"`{official.filename}`", (name, filename)
        if official.sha256:
            assert sha_cell == f"`{official.sha256}`", (name, sha_cell)
            assert size_cell == f"{official.num_bytes:,}", (name, size_cell)
        else:
            assert not re.fullmatch(r"`[0-9a-f]{64}`", sha_cell), f"{name}: a sha256 the registry does not know"
        assert (ours == "none yet") == (spec.hub is None and spec.bundled is None), (name, ours)


def code_blocks(markdown: str):
    """(language, code) of every fenced block not preceded by the skip marker."""
    pattern = re.compile(r"(?P<mark><!-- docs-test: skip[^>]*-->\s*)?```(?P<lang>\w+)\n(?P<code>.*?)```", re.S)
    for match in pattern.finditer(markdown):
        if not match["mark"]:
            # Blocks inside list items are indented; the closing fence's indent is left on the last line.
            yield match["lang"], textwrap.dedent(match["code"].rstrip(" "))


def test_quickstart_examples_run(byola_d512_checkpoint, tmp_path, monkeypatch, capsys):
    """Every unmarked Python and `hear-ssl` block of docs/quickstart.md, in order, in a scratch folder."""
    blocks = list(code_blocks((DOCS / "quickstart.md").read_text()))
    assert sum(lang == "python" for lang, _ in blocks) >= 5
    (tmp_path / byola_d512_checkpoint.name).symlink_to(byola_d512_checkpoint)
    monkeypatch.chdir(tmp_path)
    console_script = Path(sys.executable).parent / "hear-ssl"
    namespace: dict = {}
    for lang, code in blocks:
        if lang == "python":
            exec(compile(code, "docs/quickstart.md", "exec"), namespace)
        elif lang == "bash" and code.lstrip().startswith("hear-ssl embed"):
            if not console_script.exists():
                unavailable("the hear-ssl console script is not installed (run make install)")
            env = {**os.environ, "PATH": f"{console_script.parent}{os.pathsep}{os.environ['PATH']}"}
            result = subprocess.run(
                ["bash", "-e", "-c", code], capture_output=True, text=True, env=env, timeout=300, check=False
            )
            assert result.returncode == 0, result.stderr
            # Lines shown as "# output" in the docs must be what the command prints.
            for expected in re.findall(r"^# (.+)$", code, re.M):
                assert expected in result.stdout + result.stderr, (expected, result.stdout + result.stderr)
    printed = capsys.readouterr().out
    assert "byol-a-512 16000 512" in printed
    assert "no bundled default weights" in printed
    assert (tmp_path / "embeddings.npz").is_file()


def test_quickstart_commands_name_real_options():
    """Every --option the quick start mentions for `hear-ssl embed` exists."""
    import argparse

    from hear_ssl.commands import embed

    parser = argparse.ArgumentParser()
    embed.add_arguments(parser)
    known = {option for action in parser._actions for option in action.option_strings}
    text = (DOCS / "quickstart.md").read_text()
    section = text.split("## Command line", 1)[1].split("\n## ", 1)[0]
    mentioned = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", section))
    assert mentioned and mentioned <= known, mentioned - known
