"""Each way a model load can fail has its own message (no network: fake Hugging Face cache
folders, damaged files, mocked OS errors); the same for the BERTScore model of ``full``."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import huggingface_hub.constants
import pytest
import torch
from safetensors import SafetensorError

from helpers.config import load_config
from helpers.eval import bertscore, metrics
from helpers.model import loading as modeling
from helpers.model.load_errors import ModelLoadError, cached_model_folder, safetensors_problem
from helpers.model.loading import (
    ModelUnavailableError,
    build_offline_processor,
    build_stand_in,
    load_captioner,
)

REPO = "org/tiny-blip"
SNAPSHOT = "0123456789abcdef"


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    build_stand_in("random:tiny", 32).save_pretrained(folder)
    build_offline_processor(32).save_pretrained(folder)
    return folder


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def fake_cache(root: Path, saved: Path, repo: str = REPO) -> Path:
    """A Hugging Face cache holding ``saved`` as the main revision of ``repo``; returns the
    snapshot folder."""
    folder = cached_model_folder(repo, root)
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(SNAPSHOT)
    (folder / "blobs").mkdir()
    shutil.copytree(saved, folder / "snapshots" / SNAPSHOT)
    return folder / "snapshots" / SNAPSHOT


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def load_failure(name: str, **kwargs) -> ModelLoadError:
    with pytest.raises(ModelLoadError) as caught:
        load_captioner(load_config("smoke", model_name=name), **kwargs)
    return caught.value


def test_a_whole_cached_copy_loads_offline(tmp_path, saved_model, offline):
    fake_cache(tmp_path, saved_model)
    captioner = load_captioner(load_config("smoke", model_name=REPO), cache_dir=tmp_path)
    assert "local cache" in captioner.source


def test_offline_and_not_cached_names_the_demo_profile(tmp_path, offline):
    err = load_failure(REPO, cache_dir=tmp_path)
    assert isinstance(err, ModelUnavailableError) and err.kind == "unavailable"
    assert "CAPTION_PROFILE=demo" in str(err)


def test_a_truncated_cached_weights_file_is_named_with_the_folder_to_delete(
    tmp_path, saved_model, offline
):
    weights = fake_cache(tmp_path, saved_model) / "model.safetensors"
    truncate(weights)
    err = load_failure(REPO, cache_dir=tmp_path)
    message = str(err)
    assert err.kind == "corrupt" and str(weights) in message and "truncated" in message
    assert f"Delete the folder {cached_model_folder(REPO, tmp_path)}" in message
    assert "demo" not in message  # not the offline advice


def test_a_damaged_cached_config_is_named(tmp_path, saved_model, offline):
    config = fake_cache(tmp_path, saved_model) / "config.json"
    config.write_text('{"model_type": "bl')
    err = load_failure(REPO, cache_dir=tmp_path)
    assert err.kind == "corrupt" and str(config) in str(err) and "not valid JSON" in str(err)


def test_cached_config_without_weights_is_an_interrupted_download(tmp_path, saved_model, offline):
    snapshot = fake_cache(tmp_path, saved_model)
    (snapshot / "model.safetensors").unlink()
    (snapshot.parent.parent / "blobs" / "a1b2c3.incomplete").write_bytes(b"\0" * 10)
    err = load_failure(REPO, cache_dir=tmp_path)
    message = str(err)
    assert err.kind == "incomplete" and "no model.safetensors" in message
    assert "1 unfinished download(s)" in message and "Delete the folder" in message


def test_a_local_folder_without_safetensors_says_so(tmp_path, saved_model):
    folder = tmp_path / "exported"
    shutil.copytree(saved_model, folder)
    (folder / "model.safetensors").unlink()
    torch.save({}, folder / "pytorch_model.bin")
    err = load_failure(str(folder))
    assert err.kind == "no_safetensors" and "pytorch_model.bin" in str(err)
    assert "save_pretrained" in str(err)


def test_a_truncated_local_weights_file_is_named(tmp_path, saved_model):
    folder = tmp_path / "copied"
    shutil.copytree(saved_model, folder)
    truncate(folder / "model.safetensors")
    err = load_failure(str(folder))
    assert err.kind == "corrupt" and str(folder / "model.safetensors") in str(err)


def test_a_folder_without_config_is_not_a_model_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_captioner(load_config("smoke", model_name=str(tmp_path)))


@pytest.mark.parametrize(
    ("error", "kind", "expected"),
    [
        (OSError(errno.ENOSPC, "No space left on device", "blobs/x"), "disk_full", "HF_HOME"),
        (PermissionError(errno.EACCES, "Permission denied", "blobs/x"), "permission", "blobs/x"),
    ],
    ids=["disk_full", "permission"],
)
def test_disk_and_permission_errors_say_so(tmp_path, monkeypatch, error, kind, expected):
    def fail(*args, **kwargs):
        try:
            raise error
        except OSError as inner:  # as libraries do: wrapped in another error
            raise OSError(f"Can't load the model: {inner}") from inner

    monkeypatch.setattr(modeling, "_hub_problem", lambda repo_id: None)  # the Hub answers
    monkeypatch.setattr(modeling, "_load_pretrained", fail)
    err = load_failure(REPO, cache_dir=tmp_path)
    assert err.kind == kind and expected in str(err) and "demo" not in str(err)


def test_safetensors_check_reads_only_whole_files(tmp_path, saved_model):
    assert safetensors_problem(saved_model / "model.safetensors") is None
    short = tmp_path / "short.safetensors"
    short.write_bytes(b"\x10\x00")
    assert "too short" in safetensors_problem(short)
    claims = tmp_path / "claims.safetensors"
    claims.write_bytes((10**6).to_bytes(8, "little") + b"{}")
    assert "header claims" in safetensors_problem(claims)


# --- the BERTScore model of the full profile ---


def bertscore_failure(monkeypatch, error: BaseException) -> ModelLoadError:
    def fail(**kwargs):
        raise error

    monkeypatch.setattr(bertscore, "BERTScorer", fail)
    with pytest.raises(ModelLoadError) as caught:
        metrics.load_bertscorer(load_config("full"), device="cpu")
    return caught.value


def test_bertscore_model_damaged_in_the_cache_is_named(tmp_path, saved_model, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    weights = fake_cache(tmp_path, saved_model, repo=metrics.FULL_BERTSCORE) / "model.safetensors"
    truncate(weights)
    err = bertscore_failure(monkeypatch, SafetensorError("incomplete metadata"))
    message = str(err)
    assert err.kind == "corrupt" and message.startswith("BERTScore model: ")
    assert str(weights) in message and "minilm" not in message


def test_bertscore_model_on_a_full_disk_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    err = bertscore_failure(monkeypatch, OSError(errno.ENOSPC, "No space left on device"))
    assert err.kind == "disk_full" and "Out of disk space" in str(err)


def test_bertscore_model_offline_and_not_cached_names_the_packaged_scorer(tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    err = bertscore_failure(monkeypatch, OSError("We couldn't connect to the Hub"))
    assert err.kind == "unavailable" and "minilm" in str(err)
