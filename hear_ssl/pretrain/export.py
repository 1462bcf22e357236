"""Turn a pretraining checkpoint into HEAR-ready weights: encoder-only safetensors plus a model card.

The safetensors file holds the encoder's state dict (float16 by default: half the size, and the
encoders run in float32 after loading) and, in its metadata under `hear_ssl_config`, everything
`hear_ssl.load_model` needs to rebuild the model: encoder, front-end, normalisation statistics, framing.
No optimiser state, projector or predictor is exported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import registry
from ..config import EncoderConfig, FramingConfig, NormConfig
from ..io import atomic_path, atomic_torch_save, atomic_write_text, sha256_file
from ..models import build_encoder
from ..weights import CONFIG_METADATA_KEY
from .checkpoint import LOG, load_checkpoint, read_log
from .config import PretrainConfig
from .objectives import objective_class

TRAINING_METADATA_KEY = "hear_ssl_training"
DTYPES = {"float16": torch.float16, "float32": torch.float32, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class ExportResult:
    weights: Path
    card: Path
    sha256: str
    num_bytes: int
    name: str
    model_config: dict
    training: dict


def default_name(config: PretrainConfig) -> str:
    arch = config.encoder.arch
    width = f"-d{config.encoder.d}" if arch != "cvt" else ""
    return f"hear-ssl-{config.objective.replace('_', '-')}-{arch}{width}"


def framing_for(arch: str) -> FramingConfig:
    # CvT attends over its whole input, so each timestamp window must be encoded on its own.
    return FramingConfig(window_ms=1000.0, hop_ms=50.0, pool_frames=arch != "cvt")


def matching_architectures(encoder: EncoderConfig, framing: FramingConfig, objective: str) -> list[str]:
    """Registered log-mel architectures with exactly this encoder and framing, the objective's family first.

    Families named after an objective (`barlow_twins`, `hybrid`) are preferred for weights trained with it.
    """
    wanted = registry.LogMelEncoder(encoder, framing)
    names = [name for name in registry.available_models() if registry.get_architecture(name).config == wanted]
    return sorted(names, key=lambda name: registry.get_architecture(name).family != objective)


def hear_module_for(encoder: EncoderConfig, framing: FramingConfig, objective: str) -> str:
    """The HEAR module that loads these weights: of the matching architecture, else of the same encoder kind."""
    exact = matching_architectures(encoder, framing, objective)
    if exact:
        return registry.get_architecture(exact[0]).module
    same_kind = [
        arch
        for arch in map(registry.get_architecture, registry.available_models())
        if isinstance(arch.config, registry.LogMelEncoder) and arch.config.encoder.arch == encoder.arch
    ]
    return min(same_kind, key=lambda arch: arch.family != objective).module


def write_weights(
    path: str | Path,
    state: dict[str, torch.Tensor],
    model_config: dict,
    training: dict | None = None,
    dtype: str = "float16",
) -> str:
    """Write HEAR-ready safetensors atomically: `state` cast to `dtype`, configs in the metadata.

    Parameters
    ----------
    path : output `.safetensors` path.
    state : the encoder's state dict.
    model_config : {"name", "encoder", "frontend", "norm", "framing"} as plain dicts (what `load_model` rebuilds).
    training : provenance stored under `hear_ssl_training`, if any.
    dtype : "float16" (default), "bfloat16" or "float32".

    Returns
    -------
    str
        The file's sha256.
    """
    from safetensors.torch import save_file

    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    tensors = {
        k: v.to(DTYPES[dtype]).contiguous() if v.is_floating_point() else v.contiguous() for k, v in state.items()
    }
    metadata = {CONFIG_METADATA_KEY: json.dumps(model_config)}
    if training is not None:
        metadata[TRAINING_METADATA_KEY] = json.dumps(training)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return sha256_file(path)


def encoder_state(checkpoint: dict, which: str) -> dict[str, torch.Tensor]:
    """The encoder's tensors from the online network ("online") or BYOL's EMA target ("target")."""
    if which == "online":
        source, prefix = checkpoint["model"], "network.encoder."
    elif which == "target":
        if checkpoint.get("target") is None:
            raise ValueError("this checkpoint has no EMA target network (only BYOL-based objectives do)")
        source, prefix = checkpoint["target"], "encoder."
    else:
        raise ValueError(f"which must be 'online' or 'target', got {which!r}")
    return {k[len(prefix) :]: v for k, v in source.items() if k.startswith(prefix)}


def export_checkpoint(
    checkpoint_path: str | Path,
    out_path: str | Path | None = None,
    name: str | None = None,
    which: str = "online",
    dtype: str | None = None,
) -> ExportResult:
    """Write `<out_path>.safetensors` and `<out_path>.md` (model card) from a pretraining checkpoint.

    Parameters
    ----------
    checkpoint_path : path to a `ckpt.pt` written by `hear-ssl pretrain`.
    out_path : output `.safetensors` path; default `<checkpoint folder>/<name>.safetensors`.
    name : model name recorded in the metadata and card; default from objective and encoder.
    which : "online" (default, as BYOL-A exports) or "target" (the EMA network of BYOL runs).
    dtype : "float16", "bfloat16" or "float32"; default float16, or the zoo family's own (float32 for the
        tempo TCN, as its published weights).
    """
    if dtype is not None and dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    checkpoint_path = Path(checkpoint_path)
    if not checkpoint_path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {checkpoint_path}")
    checkpoint = load_checkpoint(checkpoint_path)
    config = PretrainConfig.from_dict(checkpoint["config"])
    kind = objective_class(config.objective)
    if hasattr(kind, "export_payload"):  # BEATs: the official {'cfg', 'model'} layout its loaders read
        options = config.objective_options
        name = name or f"hear-ssl-{config.objective.replace('_', '-')}-{options.layers}x{options.dim}"
        return export_official(checkpoint, checkpoint_path, config, kind, out_path, name)
    zoo = kind.zoo_export(config)
    if zoo is not None:
        name = name or zoo.name
    dtype = dtype or (zoo.dtype if zoo is not None else "float16")
    name = name or default_name(config)
    out_path = Path(out_path) if out_path else checkpoint_path.parent / f"{name}.safetensors"
    if out_path.suffix != ".safetensors":
        raise ValueError(f"export path must end in .safetensors, got {out_path}")

    state = encoder_state(checkpoint, which)
    if zoo is not None:
        return export_zoo_encoder(checkpoint_path, checkpoint, config, zoo, state, out_path, name, which, dtype)
    encoder = build_encoder(config.encoder)
    encoder.load_state_dict(state, strict=True)  # proves the export is complete before writing it
    norm = NormConfig(mode="fixed", mean=float(checkpoint["norm"]["mean"]), std=float(checkpoint["norm"]["std"]))
    model_config = {
        "name": name,
        "encoder": config.encoder.to_dict(),
        "frontend": config.frontend.to_dict(),
        "norm": norm.to_dict(),
        "framing": framing_for(config.encoder.arch).to_dict(),
    }
    training = training_record(checkpoint, config, which)
    digest = write_weights(out_path, state, model_config, training, dtype)
    card = out_path.with_suffix(".md")
    rows = training_log(checkpoint_path)
    text = model_card(name, config, checkpoint, model_config, training, encoder, out_path, digest, rows)
    atomic_write_text(card, text)
    return ExportResult(out_path, card, digest, out_path.stat().st_size, name, model_config, training)


def training_record(checkpoint: dict, config, which: str) -> dict:
    """What an exported file's metadata says about its training: objective, steps, samples, network, corpus."""
    return {
        "objective": config.objective,
        "step": checkpoint["step"],
        "samples_seen": checkpoint["step"] * config.batch_size * config.grad_accum * checkpoint["world_size"],
        "network": which,
        "corpus": checkpoint.get("corpus", {}),
    }


def training_log(checkpoint_path: Path) -> list[dict]:
    """The run's log.csv rows beside its checkpoint (none if the log is gone)."""
    log_path = checkpoint_path.parent / LOG
    return read_log(log_path) if log_path.exists() else []


def export_official(checkpoint: dict, checkpoint_path: Path, config, kind, out_path, name: str) -> ExportResult:
    """Write `kind.export_payload` (an official-layout `{'cfg', 'model'}` .pt, float32) and a short model card."""
    out_path = Path(out_path) if out_path else checkpoint_path.parent / f"{name}.pt"
    if out_path.suffix != ".pt":
        raise ValueError(f"{config.objective} exports the official {{'cfg', 'model'}} .pt layout; got {out_path}")
    payload = kind.export_payload(checkpoint, config.objective_options)
    atomic_torch_save(payload, out_path)
    digest = sha256_file(out_path)
    training = {"objective": config.objective, "step": checkpoint["step"], "network": "online",
                "corpus": checkpoint.get("corpus", {})}  # fmt: skip
    loader = "hear_ssl.beats.load_model" if config.objective == "beats" else "--objective beats --tokenizer"
    card = out_path.with_suffix(".md")
    lines = [
        f"# {name}", "",
        f"Trained with `hear-ssl pretrain --objective {config.objective}`; {checkpoint['step']:,} steps "
        f"x batch {config.batch_size * config.grad_accum * checkpoint['world_size']}.", "",
        f"- file `{out_path.name}`, sha256 `{digest}`, {out_path.stat().st_size:,} bytes",
        "- layout: official BEATs `{'cfg', 'model'}` (microsoft/unilm `beats/`)", f"- use with: `{loader}`", "",
        "```json", json.dumps(payload["cfg"], indent=1), "```",
    ]  # fmt: skip
    atomic_write_text(card, "\n".join(lines) + "\n")
    return ExportResult(out_path, card, digest, out_path.stat().st_size, name, {"cfg": payload["cfg"]}, training)


def export_zoo_encoder(checkpoint_path, checkpoint, config, zoo, state, out_path, name, which, dtype) -> ExportResult:
    """`export_checkpoint` for an encoder of the model zoo (e.g. ATST): its own config in the metadata, loaded
    by `zoo.module`, which reads the file like one of the family's official checkpoints."""
    zoo.encoder.load_state_dict(state, strict=True)  # proves the export is complete before writing it
    model_config = {**zoo.model_config, "name": name}
    if zoo.corpus_norm:
        stats = checkpoint["norm"]
        model_config["norm"] = NormConfig(mode="fixed", mean=float(stats["mean"]), std=float(stats["std"])).to_dict()
    training = training_record(checkpoint, config, which)
    digest = write_weights(out_path, state, model_config, training, dtype)
    rows = training_log(checkpoint_path)
    first, last = (rows[0], rows[-1]) if rows else ({}, {})
    params = sum(p.numel() for p in zoo.encoder.parameters())
    batch = config.batch_size * config.grad_accum * checkpoint["world_size"]
    lines = [
        f"# {name}",
        "",
        "Self-supervised audio encoder trained with hear-ssl's pretraining engine (`hear-ssl pretrain`).",
        "",
        "| field | value |",
        "| --- | --- |",
        f"| file | `{out_path.name}` |",
        f"| sha256 | `{digest}` |",
        f"| size | {out_path.stat().st_size:,} bytes |",
        f"| objective | {config.objective} |",
        f"| encoder | {zoo.description}, {params:,} parameters |",
        f"| exported network | {which} |",
        f"| steps | {checkpoint['step']:,} x batch {batch} = {training['samples_seen']:,} crops |",
        f"| loss | {first.get('loss', '?')} at step {first.get('step', '?')} -> {last.get('loss', '?')} at step "
        f"{last.get('step', '?')} |",
        "",
        f'Load it with `{zoo.module}.load_model("{out_path.name}")`; the metadata key `hear_ssl_config` carries '
        "the encoder's settings.",
        "",
        "## Hyperparameters",
        "",
        "```json",
        json.dumps({k: v for k, v in config.to_dict().items() if k not in ("progress",)}, indent=1, default=str),
        "```",
    ]
    card = out_path.with_suffix(".md")
    atomic_write_text(card, "\n".join(lines) + "\n")
    return ExportResult(out_path, card, digest, out_path.stat().st_size, name, model_config, training)


def corpus_sources(config: PretrainConfig) -> dict | None:
    """The recipe's `sources.json` beside the --data list, when the corpus came from `recipes/build_corpus.py`."""
    if not config.data:
        return None
    candidate = (
        Path(config.data).parent / "sources.json" if Path(config.data).is_file() else Path(config.data) / "sources.json"
    )
    return json.loads(candidate.read_text()) if candidate.is_file() else None


def model_card(name, config, checkpoint, model_config, training, encoder, path, digest, rows) -> str:
    params = sum(p.numel() for p in encoder.parameters())
    batch = config.batch_size * config.grad_accum * checkpoint["world_size"]
    norm = model_config["norm"]
    corpus = checkpoint.get("corpus", {})
    last = rows[-1] if rows else {}
    first = rows[0] if rows else {}
    lines = [
        f"# {name}",
        "",
        "Self-supervised audio encoder trained with hear-ssl's pretraining engine (`hear-ssl pretrain`).",
        "",
        "| field | value |",
        "| --- | --- |",
        f"| file | `{path.name}` |",
        f"| sha256 | `{digest}` |",
        f"| size | {path.stat().st_size:,} bytes |",
        f"| objective | {config.objective}"
        + (f" ({config.hybrid_base} + {config.features} features)" if config.objective == "hybrid" else "")
        + " |",
        f"| encoder | {config.encoder.arch}, embedding size {encoder.embedding_size}, {params:,} parameters |",
        f"| exported network | {training['network']} |",
        f"| steps | {checkpoint['step']:,} x batch {batch} = {training['samples_seen']:,} crops of "
        f"{config.crop_frames} frames |",
        f"| corpus | {corpus.get('files', '?')} files, {corpus.get('hours', 0):.2f} h, "
        f"{corpus.get('segments', '?')} segments |",
        f"| normalisation | (log-mel - {norm['mean']:.6f}) / {norm['std']:.6f} (corpus statistics) |",
        f"| front-end | {json.dumps(model_config['frontend'])} |",
        f"| loss | {first.get('loss', '?')} at step {first.get('step', '?')} -> {last.get('loss', '?')} at step "
        f"{last.get('step', '?')} |",
        f"| training time | {last.get('elapsed_s', '?')} s wall, device {config.device}, dtype {config.dtype} |",
        "",
        "Load it with the HEAR module of its architecture: "
        f"`{hear_module_for(config.encoder, framing_for(config.encoder.arch), config.objective)}.load_model("
        f'"{path.name}")`;',
        "the metadata key `hear_ssl_config` carries encoder, front-end, normalisation and framing.",
        "",
        "## Hyperparameters",
        "",
        "```json",
        json.dumps({k: v for k, v in config.to_dict().items() if k not in ("progress",)}, indent=1, default=str),
        "```",
    ]
    sources = corpus_sources(config)
    if sources:
        lines += [
            "",
            "## Corpus sources (Debian packages)",
            "",
            "| package | category | files | hours | licence of the audio | attribution |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for package, info in sources.items():
            # The recipe's hand-checked licence; a sources.json of the first corpus has only the License: fields.
            licences = info.get("licence") or ", ".join(info["licenses"][:6]) or "see copyright file"
            attribution = info.get("attribution") or "see copyright file"
            lines.append(
                f"| {package} {info['version']} | {info['category']} | {info['files']} | "
                f"{info['hours']:.2f} | {licences} | {attribution} |"
            )
        lines += ["", "Full attribution and licences: `weights/README.md` and each package's debian/copyright."]
    return "\n".join(lines) + "\n"


def push_to_hub(repo_id: str, files: list[Path], revision: str | None = None, private: bool = False, api=None) -> str:
    """Upload exported files to a Hugging Face Hub model repo in one commit; returns that commit's hash.

    `api` defaults to `huggingface_hub.HfApi()` (endpoint from `HF_ENDPOINT`, token from `HF_TOKEN` or the
    login cache). The hash is what a registry entry pins (`HubFile(repo_id, revision)`).
    """
    from huggingface_hub import CommitOperationAdd

    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    api.create_repo(repo_id=repo_id, repo_type="model", private=private, exist_ok=True)
    operations = [CommitOperationAdd(path_in_repo=Path(path).name, path_or_fileobj=str(path)) for path in files]
    names = ", ".join(Path(path).name for path in files)
    commit = api.create_commit(
        repo_id=repo_id, operations=operations, repo_type="model", revision=revision,
        commit_message=f"Upload {names} (hear-ssl export)",
    )  # fmt: skip
    return commit.oid


def registry_entry(result: ExportResult, repo_id: str, revision: str) -> str:
    """Python source of the `Weights(...)` entry (and `Architecture(...)` when none matches) to add to
    `hear_ssl/registry.py` for an upload; the names it uses are those of `hear_ssl.registry`."""
    config = result.model_config
    encoder = EncoderConfig.from_dict(config["encoder"])
    framing = FramingConfig.from_dict(config["framing"])
    objective = result.training.get("objective", "")
    matches = matching_architectures(encoder, framing, objective)
    architecture = matches[0] if matches else result.name.lower().replace("_", "-")
    tag = "hub" if f"{architecture}.hear-ssl" in registry.available_weights() else "hear-ssl"
    lines = []
    if not matches:
        family = hear_module_for(encoder, framing, objective).removeprefix("hear_ssl.")
        lines += [
            "# No registered architecture has this encoder; add one to _ARCHITECTURE_TABLE:",
            f"Architecture({architecture!r}, {family!r}, LogMelEncoder(EncoderConfig(**{config['encoder']!r}), "
            f"FramingConfig(**{config['framing']!r})), {tag!r}, {result.name!r})",
        ]
    description = f"{objective}, {result.training.get('step', '?')} steps ({result.name})"
    lines += [
        "# Add to _WEIGHTS_TABLE (fill in the licence; change the tag if you like):",
        "Weights(",
        f"    architecture={architecture!r},",
        f"    tag={tag!r},",
        '    format="hear-ssl",',
        '    license="FILL IN",',
        "    redistributable=True,",
        f"    processing=LogMelProcessing(FrontEndConfig(**{config['frontend']!r}), NormConfig(**{config['norm']!r})),",
        f"    description={description!r},",
        f"    filename={result.weights.name!r},",
        f"    num_bytes={result.num_bytes},",
        f"    sha256={result.sha256!r},",
        f"    hub=HubFile({repo_id!r}, {revision!r}),",
        ")",
    ]
    return "\n".join(lines)
