"""hear-ssl: self-supervised audio embeddings behind the HEAR API, and a HEAR benchmark harness."""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "hear_ssl" / "version.py").read_text()).group(1)

# heareval / hearvalidator pin Python < 3.9 in their metadata, so they are installed with
# `--no-deps --ignore-requires-python` by `make install-eval`; these are their real runtime needs.
EVAL_REQUIRES = [
    "click",
    "intervaltree",
    "more-itertools",
    "pandas",
    "python-slugify",
    "scikit-learn",
    "torchinfo",
    "sed-eval",
    "dcase-util",
    "pytorch-lightning>=1.8,<2",
    "setuptools<81",
    "matplotlib",
    # heareval's GPU profiler imports `pynvml` on CUDA machines (module provided by nvidia-ml-py).
    "nvidia-ml-py",
]

setup(
    name="hear-ssl",
    version=VERSION,
    description="Self-supervised audio embeddings (BYOL-A, BYOL-S, hybrid CvT, Audio Barlow Twins) behind the HEAR API",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    # The repository keeps evaluation/ and weights/ at the top (the layout users asked for), but they are
    # installed inside the package's own namespace, so `pip install hear-ssl` never adds a top-level
    # `evaluation` package that would shadow a user's own module of that name.
    packages=find_packages(include=["hear_ssl", "hear_ssl.*"])
    + ["hear_ssl.evaluation" + name[len("evaluation") :] for name in find_packages(include=["evaluation*"])]
    + ["hear_ssl.weights_bundle"],
    package_dir={"hear_ssl.evaluation": "evaluation", "hear_ssl.weights_bundle": "weights"},
    package_data={"hear_ssl": ["py.typed"], "hear_ssl.weights_bundle": ["*.safetensors", "*.md"]},
    install_requires=[
        "torch>=2.1",
        "numpy",
        "scipy",
        "soundfile",
        "tqdm",
        "huggingface-hub",
        "safetensors",
    ],
    extras_require={
        "torchaudio": ["torchaudio"],
        "resample": ["soxr"],
        "eval": EVAL_REQUIRES,
        "dev": ["pytest", "ruff"],
        # openSMILE regression targets for the hybrid pretraining objective (`--features compare_2016`);
        # faiss k-means for DECAR's clustering (scikit-learn's is the fallback).
        "train": ["opensmile", "faiss-cpu"],
        # `hear-ssl evaluate --cluster ray`: tested with Ray 2.60 (tests/test_eval_cluster.py).
        "cluster": ["ray>=2.60,<2.61"],
    },
    entry_points={"console_scripts": ["hear-ssl = hear_ssl.cli:main"]},
)
