from pathlib import Path

import pytest

from helpers.config import (
    PROFILES,
    PROJECT_ROOT,
    CaptionConfig,
    get_profile_name,
    load_config,
    shareable_name,
)


def test_full_is_the_default(monkeypatch):
    monkeypatch.delenv("CAPTION_PROFILE", raising=False)
    cfg = load_config()
    assert cfg.profile == "full"
    assert cfg.model_name == "Salesforce/blip-image-captioning-large"
    assert cfg.image_size == 384
    assert cfg.data_dir.name == "Hephaestus_dataset"
    assert not cfg.is_stand_in


def test_profile_from_environment(monkeypatch):
    monkeypatch.setenv("CAPTION_PROFILE", "Smoke ")
    cfg = load_config()
    assert cfg.profile == "smoke"
    assert cfg.model_name == "random:tiny"
    assert cfg.is_stand_in


def test_argument_beats_environment(monkeypatch):
    monkeypatch.setenv("CAPTION_PROFILE", "smoke")
    assert load_config("demo").profile == "demo"


def test_unknown_profile_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("CAPTION_PROFILE", "fulll")
    with pytest.raises(ValueError, match="fulll.*full, demo, smoke"):
        get_profile_name()


@pytest.mark.parametrize("name", ["demo", "smoke"])
def test_stand_in_profiles_keep_data_and_outputs_apart(name):
    cfg = load_config(name)
    full = load_config("full")
    assert cfg.model_name.startswith("random:")
    assert cfg.data_dir != full.data_dir and cfg.data_dir.parent == full.data_dir
    assert cfg.output_dir == full.output_dir / name
    assert cfg.run_dir != full.run_dir


def test_overrides_convert_types_and_reject_unknown_fields():
    cfg = load_config("smoke", epochs=7, data_dir="/tmp/somewhere", lora_target_modules=["q"])
    assert cfg.epochs == 7
    assert isinstance(cfg.data_dir, Path)
    assert cfg.lora_target_modules == ("q",)
    with pytest.raises(TypeError, match="epochz"):
        load_config("smoke", epochz=3)


def test_model_override_marks_stand_in_even_in_full():
    assert load_config("full", model_name="random:blip-large").is_stand_in


def test_printing_shows_every_field():
    cfg = load_config("demo")
    text = str(cfg)
    for name in CaptionConfig.__dataclass_fields__:
        assert f"  {name} " in text
    assert "profile='demo'" in text


def test_to_dict_is_json_friendly():
    import json

    data = load_config("smoke").to_dict()
    assert json.loads(json.dumps(data)) == data
    assert set(data) == set(CaptionConfig.__dataclass_fields__)


def test_every_listed_profile_loads_with_its_own_folders():
    configs = [load_config(name) for name in PROFILES]
    assert [cfg.profile for cfg in configs] == list(PROFILES)
    for folder in ("data_dir", "output_dir", "run_dir"):  # no profile overwrites another's files
        assert len({getattr(cfg, folder) for cfg in configs}) == len(PROFILES), folder


def test_provenance_labels_stand_ins():
    demo = load_config("demo").provenance(data_synthetic=True)
    assert "profile=demo" in demo and "random:small" in demo
    assert "SYNTHETIC stand-in data" in demo and "not a Hephaestus result" in demo
    real = load_config("full").provenance(data_synthetic=False)
    assert "not a Hephaestus result" not in real
    assert real.endswith("| Hephaestus data")
    assert "SYNTHETIC" in load_config("full").provenance(data_synthetic=True)
    tuned = load_config("demo", model_name="runs/demo/best").provenance(data_synthetic=False)
    assert "stand-in profile 'demo': not a Hephaestus result" in tuned


def test_workspace_moves_data_outputs_and_runs(monkeypatch, tmp_path):
    monkeypatch.setenv("CAPTION_WORKSPACE", str(tmp_path))
    cfg = load_config("smoke")
    assert cfg.data_dir == tmp_path / "Hephaestus_dataset" / "synthetic-smoke"
    assert cfg.output_dir == tmp_path / "assets" / "smoke"
    assert cfg.run_dir == tmp_path / "runs" / "smoke"
    monkeypatch.delenv("CAPTION_WORKSPACE")
    assert load_config("full").data_dir == PROJECT_ROOT / "Hephaestus_dataset"


def test_a_local_model_is_named_relative_to_the_workspace(tmp_path, monkeypatch):
    workspace, elsewhere = tmp_path / "workspace", tmp_path / "models" / "my-blip"
    (workspace / "runs" / "full" / "best").mkdir(parents=True)
    elsewhere.mkdir(parents=True)
    monkeypatch.setenv("CAPTION_WORKSPACE", str(workspace))
    assert shareable_name(workspace / "runs" / "full" / "best") == "runs/full/best"
    assert shareable_name(str(elsewhere)) == "my-blip"  # outside the workspace: its name only
    for name in ("Salesforce/blip-image-captioning-large", "random:tiny"):
        assert shareable_name(name) == name
    cfg = load_config("full", model_name=str(workspace / "runs" / "full" / "best"))
    assert cfg.provenance(False).startswith("profile=full | model=runs/full/best |")


def test_speed_defaults_and_their_settings():
    for profile in PROFILES:
        cfg = load_config(profile)
        assert (cfg.attn_implementation, cfg.compile) == ("sdpa", "auto")
    assert load_config("smoke", compile="false").compile is False  # as a command line writes it
    assert load_config("smoke", compile="True").compile is True
    with pytest.raises(ValueError, match="compile='yes'"):
        load_config("smoke", compile="yes")
    from helpers.training import cli

    flags = ["--profile", "smoke", "--compile", "false", "--attn-implementation", "eager"]
    cfg = cli.config_from_args(cli.parse_args(flags))
    assert (cfg.compile, cfg.attn_implementation) == (False, "eager")
