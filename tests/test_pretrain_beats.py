"""BEATs pre-training: the quantiser, the tokenizer's official checkpoint layout, and two iterations end to end
(iteration 1 on random-projection labels, tokenizer distillation, iteration 2 on its labels), each killed after a
checkpoint, resumed exactly, exported in the official layout and loaded by `hear_ssl.beats`."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hear_ssl import cli
from hear_ssl.beats_config import BEATsConfig
from hear_ssl.models.beats_tokenizer import (
    BEATsTokenizer,
    NormEMAQuantizer,
    RandomProjectionTokenizer,
    cosine_kmeans,
    l2norm,
    load_tokenizer,
    save_tokenizer,
)
from hear_ssl.pretrain.objectives.beats import beats_encoder_config
from hear_ssl.weights import CheckpointError

from .pretrain_corpus import write_corpus
from .resume_support import killed_and_resumed
from .test_pretrain_smoke import command
from .validator_support import assert_hearvalidator_passes

TINY_BEATS = ["--beats-layers", "2", "--beats-dim", "192", "--beats-heads", "4", "--beats-ffn", "384",
              "--beats-predictor-layers", "1", "--beats-quant-n", "64", "--beats-quant-dim", "32"]  # fmt: skip
TINY_TOKENIZER = ["--beats-tokenizer-layers", "1", "--beats-tokenizer-dim", "64", "--beats-tokenizer-heads", "4",
                  "--beats-tokenizer-ffn", "128", "--beats-tokenizer-quant-n", "32", "--beats-tokenizer-quant-dim",
                  "16", "--beats-tokenizer-estimator-layers", "1"]  # fmt: skip


def test_nearest_code_is_the_closest_unit_vector():
    quantizer = NormEMAQuantizer(4, 3)
    quantizer.embedding.weight.copy_(torch.eye(4, 3) + torch.tensor([[0, 0, 0], [0, 0, 0], [0, 0, 0], [1.0, 1, 1]]))
    quantizer.embedding.weight.copy_(l2norm(quantizer.embedding.weight))
    z = l2norm(torch.tensor([[0.9, 0.1, 0.0], [0.0, 0.2, 1.0], [1.0, 1.0, 0.9]]))
    assert quantizer.nearest(z).tolist() == [0, 2, 3]


def test_ema_update_moves_used_codes_towards_their_normalised_mean_and_keeps_unused_ones():
    quantizer = NormEMAQuantizer(3, 2, decay=0.9)
    codes = l2norm(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]))
    quantizer.embedding.weight.copy_(codes)
    flat = l2norm(torch.tensor([[1.0, 1.0], [1.0, 0.5], [0.2, 1.0]]))
    ids = torch.tensor([0, 0, 1])
    quantizer.ema_update(flat, ids)
    mean0 = l2norm(flat[:2].mean(0))
    expected0 = l2norm(0.9 * codes[0] + 0.1 * mean0)
    expected1 = l2norm(0.9 * codes[1] + 0.1 * flat[2])
    assert torch.allclose(quantizer.embedding.weight[0], expected0, atol=1e-6)
    assert torch.allclose(quantizer.embedding.weight[1], expected1, atol=1e-6)
    assert torch.equal(quantizer.embedding.weight[2], codes[2])  # unused: unchanged
    assert torch.allclose(quantizer.cluster_size, torch.tensor([0.2, 0.1, 0.0]))


def test_kmeans_initialisation_finds_separated_clusters_on_the_first_training_batch():
    generator = torch.Generator().manual_seed(0)
    centres = l2norm(torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]))
    samples = l2norm(centres.repeat_interleave(50, 0) + 0.05 * torch.randn(150, 3, generator=generator))
    recovered = []
    for seed in range(10):  # Lloyd's iterations from random samples can start two codes in one cluster
        start, _ = cosine_kmeans(samples, 3, torch.Generator().manual_seed(seed), iterations=0)
        means, sizes = cosine_kmeans(samples, 3, torch.Generator().manual_seed(seed))
        assert sizes.sum() == 150 and torch.allclose(means.norm(dim=1), torch.ones(3))
        fit, start_fit = (samples @ means.T).max(1).values.mean(), (samples @ start.T).max(1).values.mean()
        assert fit >= start_fit - 1e-6
        if sorted(sizes.tolist()) == [50, 50, 50] and (means @ centres.T).max(0).values.min() > 0.99:
            recovered.append(seed)
    assert len(recovered) >= 6
    quantizer = NormEMAQuantizer(3, 3).train()
    quantizer.generator = torch.Generator().manual_seed(recovered[0])
    _, loss, ids = quantizer(samples.view(3, 50, 3) * 4.0)  # inputs are normalised first
    assert quantizer.embedding.initted.item() == 1.0 and loss.item() < 0.01
    assert ids.unique().numel() == 3


def test_random_projection_tokenizer_is_seeded_and_labels_every_patch():
    fbank = torch.randn(2, 48, 128)
    first, again = RandomProjectionTokenizer(16, 64, 32, seed=3), RandomProjectionTokenizer(16, 64, 32, seed=3)
    labels = first.labels(fbank)
    assert labels.shape == (2, 3 * 8) and labels.dtype == torch.int64 and labels.max() < 64
    assert torch.equal(labels, again.labels(fbank))
    assert not torch.equal(labels, RandomProjectionTokenizer(16, 64, 32, seed=4).labels(fbank))


def test_tokenizer_round_trips_in_the_official_checkpoint_layout(tmp_path):
    tokenizer = BEATsTokenizer(beats_encoder_config(1, 64, 4, 128), quant_n=32, quant_dim=16).train()
    tokenizer(torch.randn(2, 32, 128))  # k-means init + one EMA step: the codebook is no longer zero
    path = tmp_path / "Tokenizer_tiny.pt"
    save_tokenizer(tokenizer, path)
    payload = torch.load(path, weights_only=True)
    assert set(payload) == {"cfg", "model"}
    assert payload["cfg"]["quant_n"] == 32 and payload["cfg"]["quant_dim"] == 16
    assert "finetuned_model" not in payload["cfg"] and payload["cfg"]["input_patch_size"] == 16
    official = {"quantize.embedding.weight", "quantize.embedding.cluster_size", "quantize.embedding.embed_avg",
                "quantize.embedding.initted", "quantize.cluster_size", "quantize_layer.0.weight",
                "quantize_layer.2.bias", "patch_embedding.weight", "layer_norm.weight", "post_extract_proj.weight",
                "encoder.pos_conv.0.weight_g", "encoder.layers.0.self_attn.grep_a"}  # fmt: skip
    assert official <= set(payload["model"])
    loaded = load_tokenizer(path)
    fbank = torch.randn(2, 32, 128)
    assert torch.equal(loaded.labels(fbank), tokenizer.eval().labels(fbank))
    del payload["model"]["quantize.cluster_size"]
    torch.save(payload, tmp_path / "broken.pt")
    with pytest.raises(CheckpointError, match="missing keys.*quantize.cluster_size"):
        load_tokenizer(tmp_path / "broken.pt")
    torch.save({"cfg": BEATsConfig(input_patch_size=16).to_cfg(), "model": {}}, tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="not a BEATs tokenizer checkpoint"):
        load_tokenizer(tmp_path / "model.pt")


def killed_and_resumed_checkpoint(args: list[str], root: Path, audio: Path, cache: Path) -> Path:
    """Train `args` with the exact-resume check of resume_support; the resumed run's ckpt.pt."""
    killed_and_resumed(lambda out_dir: command(args, out_dir, audio, cache), root)
    return root / "interrupted" / "ckpt.pt"


@pytest.mark.slow
def test_two_beats_iterations_train_resume_export_and_load(tmp_path):
    import numpy as np

    import hear_ssl.beats

    audio, cache = tmp_path / "audio", tmp_path / "fbank-cache"
    write_corpus(audio)
    prepare = ["pretrain", "--objective", "beats", "--data", str(audio), "--cache-dir", str(cache), "--prepare-only",
               "--no-progress"]  # fmt: skip
    assert cli.main(prepare) == 0
    clips = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 16000)).astype(np.float32) * 0.1)

    iteration1 = killed_and_resumed_checkpoint(["--objective", "beats", *TINY_BEATS], tmp_path / "iter1", audio, cache)
    model1 = tmp_path / "beats-iter1.pt"
    assert cli.main(["export", str(iteration1), "--out", str(model1)]) == 0
    embedder = hear_ssl.beats.load_model(str(model1))
    assert embedder.scene_embedding_size == 192
    trained = torch.load(iteration1, weights_only=True)["model"]
    for key, value in embedder.model.state_dict().items():
        assert torch.equal(value, trained["model." + key]), key
    assert torch.isfinite(hear_ssl.beats.get_scene_embeddings(clips, embedder)).all()

    tokenizer_run = killed_and_resumed_checkpoint(
        ["--objective", "beats_tokenizer", "--teacher", str(model1), *TINY_TOKENIZER], tmp_path / "tok", audio, cache
    )
    tokenizer_file = tmp_path / "Tokenizer_iter2.pt"
    assert cli.main(["export", str(tokenizer_run), "--out", str(tokenizer_file)]) == 0
    tokenizer = load_tokenizer(tokenizer_file)
    assert tokenizer.quant_n == 32 and tokenizer.quantize.embedding.initted.item() == 1.0

    iteration2 = killed_and_resumed_checkpoint(
        ["--objective", "beats", "--tokenizer", str(tokenizer_file), *TINY_BEATS], tmp_path / "iter2", audio, cache
    )
    state2 = torch.load(iteration2, weights_only=True)["model"]
    assert state2["label_head.weight"].shape[0] == 32  # predicts the trained tokenizer's codes
    assert torch.equal(state2["tokenizer.quantize.embedding.weight"], tokenizer.quantize.embedding.weight)
    model2 = tmp_path / "beats-iter2.pt"
    assert cli.main(["export", str(iteration2), "--out", str(model2)]) == 0

    assert_hearvalidator_passes("hear_ssl.beats", "--model", str(model2), cwd=tmp_path)


def test_fbank_cache_front_end_is_the_inference_fbank_in_exact_chunks():
    from hear_ssl.frontends.kaldi_fbank import KaldiFbank, fbank_of_waveform

    waveform = (0.1 * torch.randn(16000, generator=torch.Generator().manual_seed(0))).numpy()
    whole = KaldiFbank()(torch.from_numpy(waveform)[None])[0].T.numpy()
    chunked = fbank_of_waveform(waveform, chunk_frames=17)
    assert chunked.shape == (128, 98) and (chunked == whole).all()


def test_bad_beats_settings_are_named(tmp_path):
    from hear_ssl.pretrain.config import PretrainConfig
    from hear_ssl.pretrain.objectives import build_objective

    with pytest.raises(ValueError, match="pass --teacher FILE.pt"):
        build_objective(PretrainConfig(objective="beats_tokenizer", crop_frames=32))
    with pytest.raises(ValueError, match="at least 16 frames"):
        build_objective(PretrainConfig(objective="beats", crop_frames=8, options={"layers": 1, "dim": 64, "heads": 4}))
    with pytest.raises(ValueError, match="divisible by its 5 heads"):
        build_objective(PretrainConfig(objective="beats", options={"dim": 64, "heads": 5}))
    with pytest.raises(ValueError, match="mask_ratio"):
        PretrainConfig(objective="beats", options={"mask_ratio": 1.0})
    assert cli.main(["pretrain", "--objective", "byol", "--tokenizer", "x.pt", "--out-dir", str(tmp_path)]) == 2
