"""The docs cannot drift: the model zoo table matches the registry, and the quick-start examples run."""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hear_ssl import zoo_docs
from hear_ssl.registry import available_models, available_weights

from .requires import unavailable

DOCS = Path(__file__).resolve().parents[1] / "docs"
SKIP_MARK = "<!-- docs-test: skip"


def test_model_zoo_tables_are_generated_from_the_registry():
    """docs/models.md holds exactly what the registry renders (edit the table, then regenerate)."""
    text = (DOCS / "models.md").read_text()
    assert zoo_docs.DOCS_BEGIN in text and zoo_docs.DOCS_END in text, "docs/models.md lost its model-zoo markers"
    committed = zoo_docs.DOCS_BEGIN + text.split(zoo_docs.DOCS_BEGIN, 1)[1].split(zoo_docs.DOCS_END, 1)[0]
    expected = zoo_docs.render_model_zoo()
    assert committed + zoo_docs.DOCS_END == expected, (
        "docs/models.md is out of date with hear_ssl/registry.py; regenerate it with:\n"
        "    .venv/bin/python -m hear_ssl.zoo_docs docs/models.md"
    )
    for name in available_models() + available_weights():
        assert f"| `{name}` |" in expected, name


def test_update_docs_rewrites_only_the_generated_block(tmp_path):
    page = tmp_path / "models.md"
    page.write_text(f"intro\n{zoo_docs.DOCS_BEGIN}\nstale\n{zoo_docs.DOCS_END}\noutro\n")
    assert zoo_docs.update_docs(page) is True
    assert page.read_text() == f"intro\n{zoo_docs.render_model_zoo()}\noutro\n"
    assert zoo_docs.update_docs(page) is False
    page.write_text("no markers")
    with pytest.raises(ValueError, match="no model-zoo block"):
        zoo_docs.update_docs(page)


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
