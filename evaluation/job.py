"""The harness's unit of work: one (model, task) of a run and how to run it, shared by orchestrator and worker.

The orchestrator (`hear_ssl.evaluation.run`) builds a `Job` per unit and passes `job.to_json()` to the
worker process (`hear_ssl.evaluation.worker`), which rebuilds the same `Job` with `Job.from_json`; both
sides read the same typed fields, so a field added here reaches the worker without a second list of keys.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from .modules import ModuleSpec
from .state import Unit


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to run one (model, task) unit.

    Attributes
    ----------
    run_dir : Path
        The run directory (absolute: the worker runs with it as cwd).
    spec : ModuleSpec
        The HEAR module, weights and options to evaluate.
    task_dir : Path
        The HEAR task folder.
    cache_dir : Path
        Resampled-audio cache shared by the run's units.
    grid : str
        heareval grid name.
    grid_points : int
        Grid settings sampled.
    backend : str
        Prediction backend name (`hear_ssl.evaluation.worker.BACKENDS`).
    keep_logs : bool
        Keep Lightning's logs and checkpoints.
    threads : int
        Torch threads in the worker.
    use_gpu : bool
        Train on the worker's (single visible) GPU.
    progress : bool
        Show the worker's progress bars (only when units run one at a time).
    """

    run_dir: Path
    spec: ModuleSpec
    task_dir: Path
    cache_dir: Path
    grid: str = "default"
    grid_points: int = 8
    backend: str = "heareval"
    keep_logs: bool = False
    threads: int = 1
    use_gpu: bool = False
    progress: bool = False
    unit: Unit = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "unit", Unit(Path(self.run_dir), self.spec.slug, Path(self.task_dir).name))

    def to_json(self) -> str:
        """The job as one JSON object (paths as strings, the spec as its dict)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        values.update(spec=self.spec.to_dict(), **{name: str(values[name]) for name in _PATH_FIELDS})
        return json.dumps(values)

    @classmethod
    def from_json(cls, text: str) -> Job:
        """Rebuild the `Job` that `to_json` wrote.

        Raises
        ------
        ValueError
            If the text is not a job of this version of the harness (unknown or missing fields).
        """
        values = json.loads(text)
        init = [f for f in dataclasses.fields(cls) if f.init]
        required = {f.name for f in init if f.default is dataclasses.MISSING}
        if not isinstance(values, dict) or set(values) - {f.name for f in init} or required - set(values):
            found = sorted(values) if isinstance(values, dict) else type(values).__name__
            raise ValueError(f"not a harness job: expected fields {[f.name for f in init]}, got {found}")
        values["spec"] = ModuleSpec(**values["spec"])
        for name in _PATH_FIELDS:
            values[name] = Path(values[name])
        return cls(**values)


_PATH_FIELDS = ("run_dir", "task_dir", "cache_dir")
