"""share_run with a mocked HfApi: what it uploads, what it refuses, what it says offline."""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

import httpx2
import pytest
from evaluation_fixtures import fake_scorer, make_record
from huggingface_hub import ModelCard
from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError, OfflineModeIsEnabled
from run_fixtures import evaluated_run, fake_evaluation, tiny_run

from helpers.eval.comparison import compare
from helpers.eval.record import record_evaluation
from helpers.eval.results import build_results
from helpers.sharing import HubUploadError, LocalPathRefused, StandInRefused, share_run
from helpers.training.runs import load_finetuned

REPO = "someone/insar-captioner"


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    """A real-profile LoRA run with its evaluation recorded (see tests.run_fixtures)."""
    return evaluated_run(tmp_path_factory.mktemp("share"), "full", lora=True)


def fake_api() -> mock.MagicMock:
    api = mock.MagicMock()
    api.whoami.return_value = {"name": "someone"}
    api.create_repo.return_value = f"https://example.org/{REPO}"
    return api


def uploaded(api: mock.MagicMock) -> dict[str, object]:
    """path_in_repo -> what was uploaded (a path or bytes), from the one create_commit call."""
    (call,) = api.create_commit.call_args_list
    assert call.args == (REPO,) and call.kwargs["repo_type"] == "model"
    return {op.path_in_repo: op.path_or_fileobj for op in call.kwargs["operations"]}


def test_uploads_model_processor_cards_and_results_to_the_repo(real_run, capsys, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    api = fake_api()
    url = share_run(real_run.run_dir, REPO, api=api)

    assert url.endswith(REPO)
    api.create_repo.assert_called_once_with(REPO, private=True, repo_type="model", exist_ok=True)
    files = uploaded(api)
    final = real_run.run_dir / "final"
    model_files = {p.relative_to(final).as_posix() for p in final.rglob("*") if p.is_file()}
    assert model_files <= set(files)  # weights, processor, adapters (and their cards, rewritten)
    assert {"model.safetensors", "config.json", "adapter/adapter_model.safetensors"} <= set(files)
    assert {"evaluation/metrics_fine_tuned.json", "evaluation/comparison.csv"} <= set(files)
    assert {"training/history.csv", "training/summary.json"} <= set(files)
    assert files["config.json"] == str(final / "config.json")  # the model's, not the run's
    # the cards name the repository in their loading code
    card = ModelCard(files["README.md"].decode())
    assert card.data.eval_results and f'from_pretrained("{REPO}")' in card.text
    assert f'"{REPO}", subfolder="adapter"' in files["adapter/README.md"].decode()
    assert "Uploaded" in capsys.readouterr().out


def test_public_upload_only_when_asked(real_run, capsys, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    api = fake_api()
    share_run(real_run.run_dir, REPO, private=False, api=api)
    assert api.create_repo.call_args.kwargs["private"] is False


def test_a_stand_in_is_refused_unless_allowed(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    cfg = tiny_run(tmp_path, "smoke")
    api = fake_api()
    with pytest.raises(StandInRefused, match="stand-in run.*allow_stand_in=True"):
        share_run(cfg.run_dir, REPO, api=api)
    api.create_repo.assert_not_called()
    api.create_commit.assert_not_called()

    share_run(cfg.run_dir, REPO, allow_stand_in=True, api=api)
    card = ModelCard(uploaded(api)["README.md"].decode())
    assert "stand-in" in card.data.tags
    assert card.text.lstrip().startswith("# STAND-IN")


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (OfflineModeIsEnabled("offline"), "HF_HUB_OFFLINE is set"),
        (LocalTokenNotFoundError("no token"), "not logged in.*hf auth login"),
        (httpx2.ConnectError("name resolution failed"), "Cannot reach the Hugging Face Hub"),
        (TimeoutError("timed out"), "Cannot reach the Hugging Face Hub"),
    ],
)
def test_offline_or_logged_out_says_which(real_run, monkeypatch, error, message):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    api = fake_api()
    api.whoami.side_effect = error
    with pytest.raises(HubUploadError, match=message):
        share_run(real_run.run_dir, REPO, api=api)
    api.create_commit.assert_not_called()


def test_a_rejected_token_is_named(real_run, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    response = httpx2.Response(401, request=httpx2.Request("GET", "https://example.org"))
    api = fake_api()
    api.create_repo.side_effect = HfHubHTTPError("401 Unauthorized", response=response)
    with pytest.raises(HubUploadError, match=r"refused the request \(401\)"):
        share_run(real_run.run_dir, REPO, api=api)


def test_offline_setting_stops_before_any_request(real_run, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    api = fake_api()
    with pytest.raises(HubUploadError, match="HF_HUB_OFFLINE is set"):
        share_run(real_run.run_dir, REPO, api=api)
    api.whoami.assert_not_called()


def test_a_run_without_a_final_model_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no model"):
        share_run(tmp_path / "nothing", REPO, api=fake_api())


@pytest.fixture(scope="module")
def workspace_run(tmp_path_factory):
    """A real-profile run made under a temporary workspace, evaluated as notebook 04 names the
    fine-tuned model (the label ``load_finetuned`` gives it)."""
    root = tmp_path_factory.mktemp("workspace")
    with mock.patch.dict(os.environ, {"CAPTION_WORKSPACE": str(root)}):
        cfg = evaluated_run(root, "full")
        tuned = load_finetuned(cfg, "best")
        runs = fake_evaluation(cfg)
        table = runs["fine-tuned"].table
        pairs = zip(table.image_id, table.reference, strict=True)
        runs["fine-tuned"] = build_results(
            [make_record(i, caption=reference) for i, reference in pairs],
            list(table["generated"]),
            cfg,
            scorer=fake_scorer(),
            model=tuned.source,
        )
        record_evaluation(cfg, runs, compare(runs), target="fine-tuned")
        yield root, cfg, tuned.source


def test_no_uploaded_file_names_a_folder_of_this_machine(workspace_run, monkeypatch):
    root, cfg, source = workspace_run
    monkeypatch.setenv("CAPTION_WORKSPACE", str(root))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert source == f"local folder {Path(cfg.run_dir, 'best').relative_to(root).as_posix()}"
    api = fake_api()
    share_run(cfg.run_dir, REPO, api=api)
    files = uploaded(api)
    assert "evaluation/metrics_fine_tuned.json" in files
    for name, content in files.items():
        data = content if isinstance(content, bytes) else Path(content).read_bytes()
        assert str(root).encode() not in data, name
        assert str(Path.home()).encode() not in data, name
    assert source.encode() in Path(files["evaluation/metrics_fine_tuned.json"]).read_bytes()


def test_a_file_naming_a_local_folder_is_refused_by_name(workspace_run, monkeypatch):
    root, cfg, _ = workspace_run
    monkeypatch.setenv("CAPTION_WORKSPACE", str(root))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    planted = Path(cfg.run_dir) / "evaluation" / "notes.md"
    api = fake_api()
    for text, what in (
        (f"made from {Path(cfg.run_dir, 'best')}", "the workspace's absolute path"),
        (f"copied to {Path.home() / 'Desktop'}", "your home folder"),
    ):
        planted.write_text(text)
        try:
            with pytest.raises(LocalPathRefused, match=rf"evaluation/notes\.md \({what}"):
                share_run(cfg.run_dir, REPO, api=api)
        finally:
            planted.unlink()
    api.create_commit.assert_not_called()
