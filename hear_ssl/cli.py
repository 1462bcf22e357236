"""The `hear-ssl` command line: one entry point, one module per subcommand.

Subcommand modules are imported only when their command runs, so `hear-ssl embed` never pays for
heareval or tensorflow imports. Each module exposes `add_arguments(parser)` and `main(args) -> int`.
A repeated option accumulates when it takes several values and is an error otherwise (`commands.options`).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .commands.options import forget_repeats, guard_repeats

# name -> (module, one-line help). Nested groups (e.g. "tasks build") use a space.
COMMANDS = {
    "embed": ("hear_ssl.commands.embed", "compute scene or timestamp embeddings of audio files"),
    "evaluate": ("hear_ssl.evaluation.commands.evaluate", "run HEAR modules over a folder of HEAR tasks"),
    "report": ("hear_ssl.evaluation.commands.report", "aggregate a run directory into tables and plots"),
    "tasks build": ("hear_ssl.evaluation.commands.tasks_build", "build a HEAR task from labelled audio"),
    "tasks download": ("hear_ssl.evaluation.commands.tasks_download", "download the official HEAR 2021 tasks"),
    "pretrain": ("hear_ssl.commands.pretrain", "self-supervised pretraining of an encoder"),
    "export": ("hear_ssl.commands.export", "export a training checkpoint as HEAR-ready weights"),
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hear-ssl", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    groups = {}
    for name, (module_name, help_text) in COMMANDS.items():
        *group, leaf = name.split(" ")
        target = sub
        if group:
            if group[0] not in groups:
                group_parser = sub.add_parser(group[0], help=f"{group[0]} commands")
                groups[group[0]] = group_parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
            target = groups[group[0]]
        command_parser = target.add_parser(leaf, help=help_text, description=help_text)
        command_parser.set_defaults(_module=module_name)
        # Only the chosen command's module is imported to add its arguments.
        if _selected(name, argv):
            importlib.import_module(module_name).add_arguments(command_parser)
            guard_repeats(command_parser)
    return guard_repeats(parser)


def _selected(name: str, argv: list[str]) -> bool:
    words = name.split(" ")
    return [a for a in argv if not a.startswith("-")][: len(words)] == words


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = forget_repeats(build_parser(argv).parse_args(argv))
    return importlib.import_module(args._module).main(args) or 0


if __name__ == "__main__":
    sys.exit(main())
