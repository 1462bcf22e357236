"""Which HEAR modules a run evaluates: `MODULE[:WEIGHTS][?key=value,...]` specs, parsed and loaded.

Examples: `hear_ssl.byol_a:/ckpt/AudioNTT2020-BYOLA-64x96d512.pth`, `hear_ssl.tempo?model_name=tempo-tcn`,
`hearbaseline.naive:naive_baseline.pt`. Any importable module following the HEAR API works. The options
after `?` are passed to `load_model` as keyword arguments (values parsed as JSON when they parse,
e.g. numbers and booleans, else kept as strings), as heareval's `--model-options` does.
"""

from __future__ import annotations

import importlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

_MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True)
class ModuleSpec:
    """One model to evaluate.

    Attributes
    ----------
    module : str
        Importable HEAR module name.
    weights : str or None
        Passed as `load_model`'s first argument (a file path, or a reference the module resolves).
    options : dict
        Keyword arguments for `load_model`.
    """

    module: str
    weights: str | None = None
    options: dict = field(default_factory=dict)

    @property
    def slug(self) -> str:
        """A folder-safe, human-readable identifier: module, weights file stem, options."""
        parts = [self.module]
        if self.weights:
            stem = Path(self.weights.split("@")[0]).name
            for suffix in (".safetensors", ".pth", ".pt", ".ckpt", ".bin"):
                stem = stem.removesuffix(suffix)
            parts.append(stem)
        parts += [f"{k}={v}" for k, v in sorted(self.options.items())]
        return _slugify("-".join(parts))

    def to_dict(self) -> dict:
        return {"module": self.module, "weights": self.weights, "options": dict(self.options)}

    def load(self) -> tuple[ModuleType, object]:
        """Import the module and call its `load_model`; returns `(module, model)`."""
        try:
            module = importlib.import_module(self.module)
        except ImportError as err:
            raise ImportError(
                f"cannot import HEAR module {self.module!r} ({err}); install it into this environment "
                "(e.g. `pip install -e .` for hear_ssl, `pip install hearbaseline` for the HEAR baselines)"
            ) from err
        missing = [
            f for f in ("load_model", "get_scene_embeddings", "get_timestamp_embeddings") if not hasattr(module, f)
        ]
        if missing:
            raise AttributeError(f"{self.module} is not a HEAR module: it lacks {', '.join(missing)}")
        if self.weights is not None:
            model = module.load_model(self.weights, **self.options)
        else:
            model = module.load_model(**self.options)
        return module, model


def _slugify(text):
    return re.sub(r"[^A-Za-z0-9._=+-]+", "_", text).strip("_")


def parse_module_spec(text: str) -> ModuleSpec:
    """Parse `MODULE[:WEIGHTS][?key=value,key=value]` into a `ModuleSpec`.

    Raises
    ------
    ValueError
        On a malformed spec, with the expected form in the message.
    """
    form = "expected MODULE[:WEIGHTS][?key=value,...], e.g. hear_ssl.byol_a:/path/to/weights.pth"
    body, _, query = text.partition("?")
    module, _, weights = body.partition(":")
    if not _MODULE_RE.match(module):
        raise ValueError(f"bad module spec {text!r}: {module!r} is not an importable module name; {form}")
    options = {}
    if query:
        for item in query.split(","):
            key, eq, value = item.partition("=")
            if not eq or not key:
                raise ValueError(f"bad module spec {text!r}: option {item!r} is not key=value; {form}")
            try:
                options[key] = json.loads(value)
            except json.JSONDecodeError:
                options[key] = value
    if weights and "://" not in weights and not weights.startswith("hf-hub:"):
        path = Path(weights).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"weights for {module} not found: {path}")
        weights = str(path.resolve())
    return ModuleSpec(module=module, weights=weights or None, options=options)


def check_unique_slugs(specs: list[ModuleSpec]) -> None:
    """Raise if two specs would share an output folder (e.g. same module, same weights file name)."""
    seen = {}
    for spec in specs:
        if spec.slug in seen and seen[spec.slug] != spec:
            raise ValueError(
                f"{seen[spec.slug]} and {spec} both map to the output folder {spec.slug!r}; "
                "give the weight files different names"
            )
        seen[spec.slug] = spec
