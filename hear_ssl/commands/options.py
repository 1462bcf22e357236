"""Repeated command-line options: list options accumulate, single-valued ones refuse a second value.

argparse's default keeps the last value of a repeated option, so `hear-ssl evaluate --tasks A --tasks B`
would silently run only B. After `guard_repeats(parser)`:

- an option taking several values (`nargs="+"` / `"*"`) accumulates: `--modules A --modules B` is `[A, B]`;
- any other option that stores a value fails when given twice, naming both values.
"""

from __future__ import annotations

import argparse

_SEEN = "_options_given"  # namespace attribute holding the option names given so far; removed after parsing


class _StoreOnce(argparse._StoreAction):
    def __call__(self, parser, namespace, values, option_string=None):
        if _already_given(namespace, self):
            previous = getattr(namespace, self.dest)
            parser.error(
                f"{option_string} takes one value but was given twice ({previous!r}, then {values!r}); "
                f"give it once" + (f" (it takes {self.metavar})" if isinstance(self.metavar, str) else "")
            )
        setattr(namespace, self.dest, values)


class _StoreAccumulating(argparse._StoreAction):
    def __call__(self, parser, namespace, values, option_string=None):
        if _already_given(namespace, self):
            values = list(getattr(namespace, self.dest)) + list(values)
        setattr(namespace, self.dest, values)


def _already_given(namespace: argparse.Namespace, action: argparse.Action) -> bool:
    seen = namespace.__dict__.setdefault(_SEEN, set())
    given = action.dest in seen
    seen.add(action.dest)
    return given


def guard_repeats(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make `parser`'s plain `store` options accumulate (list-valued) or refuse repeats (single-valued).

    Positional arguments and other actions (`store_true`, `append`, ...) keep argparse's behaviour.
    Call `forget_repeats(args)` on the parsed namespace to drop the bookkeeping attribute.
    """
    for action in parser._actions:
        if type(action) is argparse._StoreAction and action.option_strings:
            # Same attributes, another __call__: swapping the class keeps every other setting intact.
            # A fixed count (nargs=2) is one value, so it is refused when repeated like a scalar.
            action.__class__ = _StoreAccumulating if action.nargs in ("+", "*") else _StoreOnce
    return parser


def forget_repeats(args: argparse.Namespace) -> argparse.Namespace:
    """Drop the bookkeeping `guard_repeats` left on a parsed namespace."""
    vars(args).pop(_SEEN, None)
    return args
