"""benchmarks/zoo_floor.py: the floor checkpoints it writes are files the zoo modules load and embed with."""

import importlib

import torch

from hear_ssl.evaluation.modules import parse_module_spec

from .benchmark_scripts import load_benchmark
from .requires import unavailable


def test_every_floor_module_loads_its_checkpoint_and_embeds(reference_dir, tmp_path):
    seeds = reference_dir / "seeds"
    if not seeds.is_dir():
        unavailable(f"seed fixtures absent at {seeds}")
    floor = load_benchmark("zoo_floor")
    names = list(floor.FLOOR_MODULES)
    specs = floor.module_specs(names, seeds, tmp_path)
    assert [spec.split(":")[0] for spec in specs] == [floor.FLOOR_MODULES[name][0] for name in names]
    for name, spec in zip(names, specs):
        parsed = parse_module_spec(spec)  # what `hear-ssl evaluate --modules` accepts
        module = importlib.import_module(parsed.module)
        model = module.load_model(str(parsed.weights or ""))
        audio = 0.1 * torch.randn(1, model.sample_rate // 2, generator=torch.Generator().manual_seed(0))
        scene = module.get_scene_embeddings(audio, model)
        assert scene.shape == (1, model.scene_embedding_size) and torch.isfinite(scene).all(), name
