"""Readable names for the report: models by registry name or weights file, tasks without version.

A run's model slug (`hear_ssl.byol_a-model_name=byol-a-2048`) is unique and folder-safe, not readable;
the report's tables, figure and legend use these instead. The CSV keeps the slug (it names the run's
folders) beside the name, and the Markdown/HTML report lists which folder each name stands for.
"""

from pathlib import Path

from .official_tasks import folders_of_column, official_task

_WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt", ".bin")


def model_display_name(slug, spec=None):
    """`byol-a-2048.vibcreg` (the registry weights it loads), `byol_a · AudioNTT2020-BYOLA-64x96d512`, or the slug.

    Parameters
    ----------
    slug : str
    spec : dict, optional
        The model's entry of `run.json` (`module`, `weights`, `options`).
    """
    if not spec or not spec.get("module"):
        return slug
    module = spec["module"].removeprefix("hear_ssl.")
    options = dict(spec.get("options") or {})
    name = options.pop("model_name", None)
    weights = spec.get("weights")
    if weights:
        stem = Path(str(weights).split("@")[0]).name
        for suffix in _WEIGHT_SUFFIXES:
            stem = stem.removesuffix(suffix)
        label = f"{name or module} · {stem}"
    elif spec["module"].startswith("hear_ssl.") and (registry_name := name or _module_default(spec["module"])):
        label = _registry_weights_name(registry_name)
    elif name:
        label = f"{module} {name}"
    else:
        label = module
    extra = ", ".join(f"{k}={v}" for k, v in sorted(options.items()) if k not in ("weights_sha256",))
    return f"{label} [{extra}]" if extra else label


def _module_default(module):
    """The model a `hear_ssl` module loads without `model_name` (None for a module this version lacks)."""
    import importlib

    try:
        return getattr(importlib.import_module(module), "DEFAULT_MODEL", None)
    except ImportError:
        return None


def _registry_weights_name(name):
    """`architecture.tag` of the weights `load_model("", model_name=name)` loads (a name already tagged stays)."""
    from hear_ssl.registry import get_weights

    try:
        weights = get_weights(name)
    except ValueError:  # a model this version's registry does not know (an older run): its name as given
        return name
    return f"{weights.architecture}.{weights.tag}"


def task_display_name(task):
    """A report row's task without its version suffix.

    Official tasks get their leaderboard column name (`ESC-50`, `NSynth Pitch 5h`: the mode tells the two
    NSynth and Speech Commands folders apart); a combined row keeps its label; the folders of a column
    made of several (the two Beehive folds) and other tasks their `task_name`.
    """
    if task.get("combined"):
        return task["task"]
    official = official_task(task["task"])
    if official is not None and len(folders_of_column(official.column)) == 1:
        return official.column
    return task.get("task_name") or task["task"].split("-")[0]
