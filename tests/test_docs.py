"""The docs cannot drift: the model zoo table matches the registry, and every example runs or parses.

Examples checked (`test_*_examples_*` below):

- Python blocks of docs/quickstart.md and README.md are executed (with the official BYOL-A d512 checkpoint
  from ../shared); those of evaluation/downstream/README.md need a task's embeddings, so only their imports run.
- Every command of the bash blocks of README.md, docs/*.md, weights/README.md and evaluation/downstream/README.md
  is expanded by bash (variables, quoting, line continuations) and then parsed by the real argument parser of
  `hear-ssl`, `python -m MODULE` or `python SCRIPT.py`, without running the command (they download tasks, train
  for hours or need a finished run). On top of parsing: the HEAR modules named by `hear-ssl evaluate --modules`
  are imported and loaded (bundled default, or the official checkpoint when ../shared has it; other weights
  must fail only for being absent), `hear-ssl embed --model` names a registry model, and `hear-validator`
  names an importable module. The `hear-ssl embed` blocks of the quick start are also executed, by
  `test_quickstart_examples_run`.
- Every `--help` text of `hear-ssl`: its module specs are checked as above and its `hear-ssl ...` example
  lines are parsed.
"""

import argparse
import ast
import contextlib
import importlib
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hear_ssl import zoo_docs
from hear_ssl.cli import COMMANDS
from hear_ssl.cli import main as hear_ssl_main
from hear_ssl.evaluation.modules import ModuleSpec, parse_module_spec
from hear_ssl.registry import available_models, available_weights, get_weights

from .requires import unavailable

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
DOC_FILES = ["README.md", *sorted(p.relative_to(REPO).as_posix() for p in DOCS.glob("*.md"))]
DOC_FILES += ["weights/README.md", "evaluation/downstream/README.md"]
EXECUTED_PYTHON = {"README.md", "docs/quickstart.md"}  # the others' Python blocks: imports only


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


# ------------------------------------------------------------------------------------------------------
# Every command of the docs' bash blocks, and every example in `--help`, parses; module specs load.

# Shell stubs: each documented program prints its argv (one `%q`-quoted line) instead of running.
SHELL_STUBS = """
record() { printf '%q ' "$@"; printf '\\n'; }
hear-ssl() { record hear-ssl "$@"; }
python() { record python "$@"; }
python3() { record python "$@"; }
hear-validator() { record hear-validator "$@"; }
make() { :; }
source() { :; }
command_not_found_handle() { record UNKNOWN-COMMAND "$@"; return 127; }
"""


def documented_commands(doc: str) -> list[list[str]]:
    """argv of every program call in `doc`'s bash blocks, as bash expands them (nothing is run)."""
    commands = []
    for lang, code in code_blocks((REPO / doc).read_text()):
        if lang != "bash":
            continue
        result = subprocess.run(
            [shutil.which("bash"), "-c", SHELL_STUBS + code],
            capture_output=True,
            text=True,
            env={"PATH": "/nonexistent", "HOME": os.environ.get("HOME", "/")},
            cwd="/",
            timeout=60,
            check=False,
        )
        commands += [shlex.split(line) for line in result.stdout.splitlines() if line.strip()]
    return commands


class _Parsed(Exception):
    def __init__(self, namespace):
        self.namespace = namespace


def parse_only(main, argv: list[str], capsys) -> argparse.Namespace:
    """The namespace `main(argv)` would parse, without running the command: `parse_args` stops it there."""
    original = argparse.ArgumentParser.parse_args

    def parse_and_stop(self, args=None, namespace=None):
        raise _Parsed(original(self, args, namespace))

    argparse.ArgumentParser.parse_args = parse_and_stop
    try:
        main(argv)
    except _Parsed as parsed:
        return parsed.namespace
    except SystemExit as stop:
        pytest.fail(f"{argv}: the parser refused it (exit {stop.code}): {capsys.readouterr().err}")
    finally:
        argparse.ArgumentParser.parse_args = original
    pytest.fail(f"{argv}: the program never parsed its arguments")


def entry_point(program: str, args: list[str]):
    """(main function, its argv) for `hear-ssl ...`, `python -m MODULE ...` or `python SCRIPT.py ...`."""
    if program == "hear-ssl":
        return hear_ssl_main, args
    if args[0] == "-m":
        module = importlib.import_module(args[1])
        if hasattr(module, "__path__"):  # a package run with -m runs its __main__
            module = importlib.import_module(f"{args[1]}.__main__")
        return module.main, args[2:]
    script = REPO / args[0]
    assert script.is_file(), f"python {args[0]}: no such script in the repository"
    spec = importlib.util.spec_from_file_location(script.stem, script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main, args[1:]


def check_module_spec(text: str, reference_dir: Path | None, tmp_path: Path) -> None:
    """A HEAR module spec of the docs: hear_ssl modules load; weights absent here fail only for being absent."""
    body, _, query = text.partition("?")
    module, _, weights = body.partition(":")
    spec = parse_module_spec(module + (f"?{query}" if query else ""))  # syntax (the harness checks the file)
    if not module.startswith("hear_ssl"):
        return  # a third party's module (hearbaseline, my_package...): parsing is all we can check
    if not weights:
        spec.load()  # the module's bundled default
        return
    name = Path(weights).name
    if reference_dir is not None and (reference_dir / name).is_file():
        ModuleSpec(spec.module, str(reference_dir / name), spec.options).load()
        return
    with pytest.raises((FileNotFoundError, ValueError)) as err:
        ModuleSpec(spec.module, str(tmp_path / name), spec.options).load()
    assert name in str(err.value), f"{text}: fails for another reason than the absent file: {err.value}"


def check_command(argv: list[str], reference_dir, tmp_path, capsys) -> None:
    program, *args = argv
    assert program != "UNKNOWN-COMMAND", f"{args[0]} is not a program this test knows how to check"
    if program == "hear-validator":
        assert importlib.util.find_spec(args[0]) is not None, f"hear-validator {args[0]}: no such module"
        return
    main, args = entry_point(program, args)
    namespace = parse_only(main, args, capsys)
    command = getattr(namespace, "_module", "")
    if command.endswith(".evaluate"):
        for text in namespace.modules:
            check_module_spec(text, reference_dir, tmp_path)
    elif command.endswith(".embed"):
        get_weights(namespace.model)  # a registry name (`name` or `name.tag`)


@pytest.fixture(scope="module")
def reference_dir_if_present():
    from .conftest import SHARED

    folder = SHARED / "reference"
    return folder if folder.is_dir() else None


@pytest.mark.parametrize("doc", DOC_FILES)
def test_documented_commands_parse_and_name_real_modules(doc, reference_dir_if_present, tmp_path, capsys):
    commands = documented_commands(doc)
    for argv in commands:
        check_command(argv, reference_dir_if_present, tmp_path, capsys)


def test_documented_commands_are_found():
    """The extraction itself works: the docs hold commands of every kind the test checks."""
    programs = {(argv[0], argv[1]) for doc in DOC_FILES for argv in documented_commands(doc)}
    for expected in [("hear-ssl", "evaluate"), ("hear-ssl", "embed"), ("hear-ssl", "pretrain"), ("hear-ssl", "tasks")]:
        assert expected in programs, programs
    assert any(program == "python" and arg.endswith(".py") for program, arg in programs), programs
    assert any(program == "hear-validator" for program, _ in programs), programs


def help_texts(capsys, monkeypatch) -> dict[str, str]:
    monkeypatch.setenv("COLUMNS", "1000")  # no wrapping inside an example
    texts = {}
    for name in ["", *COMMANDS]:
        with contextlib.suppress(SystemExit):
            hear_ssl_main([*name.split(), "--help"])
        texts[name] = capsys.readouterr().out
    return texts


def test_help_examples_are_valid(reference_dir_if_present, tmp_path, capsys, monkeypatch):
    texts = help_texts(capsys, monkeypatch)
    assert all(texts.values()), [name for name, text in texts.items() if not text]
    specs = {m.rstrip(".;,)'\"") for text in texts.values() for m in re.findall(r"\bhear_ssl\.\w+[:?]\S+", text)}
    assert specs, "the --help texts were expected to show module specs (hear-ssl evaluate --modules)"
    for text in sorted(specs):
        check_module_spec(text, reference_dir_if_present, tmp_path)
    # The same examples in module docstrings and comments of the package (they end up in help() and docs).
    sources = [*(REPO / "hear_ssl").rglob("*.py"), *(REPO / "evaluation").rglob("*.py")]
    in_sources = {m for path in sources for m in re.findall(r"\bhear_ssl\.\w+\?model_name=[\w.-]*\w", path.read_text())}
    assert in_sources, "expected module-spec examples in the package's docstrings"
    for text in sorted(in_sources):
        check_module_spec(text, reference_dir_if_present, tmp_path)
    examples = [
        line.strip().rstrip("\\")
        for text in texts.values()
        for line in re.sub(r"\\\n\s*", " ", text).splitlines()
        if line.strip().startswith("hear-ssl ")
    ]
    assert examples, "hear-ssl evaluate --help was expected to show example commands"
    for line in examples:
        check_command(shlex.split(line), reference_dir_if_present, tmp_path, capsys)


def test_python_blocks_of_the_readme_run_and_the_others_import(byola_d512_checkpoint, tmp_path, monkeypatch):
    (tmp_path / byola_d512_checkpoint.name).symlink_to(byola_d512_checkpoint)
    monkeypatch.chdir(tmp_path)
    ran = 0
    for doc in DOC_FILES:
        if doc == "docs/quickstart.md":
            continue  # executed, with its outputs checked, by test_quickstart_examples_run
        for lang, code in code_blocks((REPO / doc).read_text()):
            if lang != "python":
                continue
            tree = ast.parse(code, doc)
            if doc not in EXECUTED_PYTHON:
                tree.body = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
            exec(compile(tree, doc, "exec"), {})
            ran += 1
    assert ran >= 2


def test_repeated_options_accumulate_or_fail(capsys):
    """`--tasks A --tasks B` must not silently mean B; list options collect every value."""
    base = ["evaluate", "--tasks-dir", "t", "--run-dir", "r"]
    namespace = parse_only(hear_ssl_main, [*base, "--modules", "a", "b", "--modules", "c"], capsys)
    assert namespace.modules == ["a", "b", "c"]
    with pytest.raises(SystemExit):
        hear_ssl_main([*base, "--modules", "a", "--tasks", "A", "--tasks", "B"])
    assert "--tasks takes one value but was given twice ('A', then 'B')" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        hear_ssl_main(["embed", "x.wav", "--model", "byol-s", "--model", "byol-a-512", "--out", "o.npz"])
    assert "--model takes one value but was given twice" in capsys.readouterr().err
    from hear_ssl.evaluation.downstream.__main__ import main as downstream_main

    with pytest.raises(SystemExit):
        downstream_main(["task_dir", "--grid", "faster", "--grid", "default"])
    assert "--grid takes one value but was given twice ('faster', then 'default')" in capsys.readouterr().err
