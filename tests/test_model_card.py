"""Model cards beside every export: the Hub's YAML header, the stand-in label, the metrics."""

from __future__ import annotations

import json

import pytest
from huggingface_hub import ModelCard
from run_fixtures import REAL_BASE, evaluated_run, fake_evaluation, tiny_run

from helpers.eval.record import record_evaluation
from helpers.training.model_card import (
    CARD_FILE,
    card_facts,
    export_architecture,
    markdown_table,
    render_card,
)


def body_first_line(card: ModelCard) -> str:
    return next(line for line in card.text.splitlines() if line.strip())


def cards_of(run_dir) -> list:
    return sorted(run_dir.rglob(CARD_FILE))


@pytest.mark.parametrize("lora", [False, True])
def test_every_export_of_a_stand_in_run_has_a_card_that_says_so(tmp_path, capsys, lora):
    cfg = tiny_run(tmp_path, "smoke", lora=lora)
    expected = {"best", "final"} | ({"best/adapter", "final/adapter"} if lora else set())
    found = {p.parent.relative_to(cfg.run_dir).as_posix() for p in cards_of(cfg.run_dir)}
    assert found == expected

    for path in cards_of(cfg.run_dir):
        card = ModelCard.load(path)  # the YAML header parses
        adapter = path.parent.name == "adapter"
        assert card.data.pipeline_tag == "image-to-text"
        assert card.data.library_name == ("peft" if adapter else "transformers")
        assert body_first_line(card).startswith("# STAND-IN, not a Hephaestus model")
        assert {"stand-in", "synthetic-data", "random-init"} <= set(card.data.tags)
        assert "hephaestus" not in card.data.tags
        assert card.data.base_model is None  # a random-init model has no base on the Hub
        assert "random:tiny" in body_first_line(card)
        assert card.data.eval_results is None  # not evaluated yet
        assert "Not evaluated yet" in card.text
        assert ("lora" in card.data.tags) == lora


def test_a_real_profile_card_names_its_base_model_and_carries_the_metrics(tmp_path, capsys):
    cfg = evaluated_run(tmp_path, "full")
    card = ModelCard.load(cfg.run_dir / "final" / CARD_FILE)
    assert card.data.base_model == REAL_BASE
    assert not body_first_line(card).startswith("# STAND-IN")
    assert "stand-in" not in card.data.tags and "hephaestus" in card.data.tags
    assert card.data.datasets == ["Hephaestus"]

    summary = json.loads((cfg.run_dir / "evaluation" / "metrics_fine_tuned.json").read_text())
    results = {r.metric_type: r for r in card.data.eval_results}
    # the fake scorer gives 1.0 to the 4 exact matches and 0.5 to the other 2
    assert results["bertscore_f1"].metric_value == pytest.approx(5 / 6, abs=1e-4)
    assert results["bertscore_f1"].metric_value == pytest.approx(
        summary["metrics"]["bertscore_f1"], abs=1e-4
    )
    assert results["bertscore_f1"].dataset_split == "test"
    assert "6 images" in results["bertscore_f1"].dataset_name
    # the before/after table with intervals, as compare() made it
    table = (cfg.run_dir / "evaluation" / "comparison.md").read_text()
    assert table.strip() in card.text
    assert "| BERTScore F1 | 0.500 [0.500, 0.500] | 0.833 [" in card.text
    assert "fine-tuned - zero-shot" in card.text
    # best/ is rewritten too, and the loading code loads the class of the export
    assert ModelCard.load(cfg.run_dir / "best" / CARD_FILE).data.eval_results
    assert "BlipForConditionalGeneration.from_pretrained(" in card.text


def test_the_cards_loading_code_loads_the_export(tmp_path, capsys):
    cfg = tiny_run(tmp_path, "full")
    final = cfg.run_dir / "final"
    facts = card_facts(cfg.run_dir)
    text = render_card(facts, export_architecture(final), adapter=False, repo_id=str(final))
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict = {}
    exec(code, scope)  # the three lines a user copies, pointed at the folder
    assert type(scope["model"]).__name__ == "BlipForConditionalGeneration"
    assert scope["processor"].image_processor.size["height"] == cfg.image_size


def test_lora_adapter_card_names_the_base_model_and_loads_with_peft(tmp_path, capsys):
    cfg = evaluated_run(tmp_path, "full", lora=True)
    card = ModelCard.load(cfg.run_dir / "final" / "adapter" / CARD_FILE)
    assert card.data.base_model == REAL_BASE
    assert card.data.library_name == "peft"
    assert body_first_line(card).startswith("# LoRA adapters for")
    loading = 'PeftModel.from_pretrained(base, "path/to/this/folder", subfolder="adapter")'
    assert loading in card.text
    assert card.data.eval_results  # the adapters' scores are the merged model's


def test_record_evaluation_writes_the_files_and_refuses_a_missing_run(tmp_path, capsys):
    cfg = evaluated_run(tmp_path, "smoke")
    folder = cfg.run_dir / "evaluation"
    assert {p.name for p in folder.iterdir()} == {
        "comparison.csv",
        "comparison.md",
        "model_index.json",
        "metrics_zero_shot.json",
        "metrics_fine_tuned.json",
    }
    index = json.loads((folder / "model_index.json").read_text())
    assert index["run"] == "fine-tuned" and index["test_images"] == 6
    # a stand-in evaluated run keeps its label, and gets its scores too
    card = ModelCard.load(cfg.run_dir / "final" / CARD_FILE)
    assert body_first_line(card).startswith("# STAND-IN")
    assert card.data.eval_results

    missing = cfg.with_overrides(run_dir=tmp_path / "never-trained")
    runs = fake_evaluation(cfg)
    with pytest.raises(FileNotFoundError, match="summary.json is missing"):
        record_evaluation(missing, runs, None, target="fine-tuned")
    with pytest.raises(KeyError, match="target='LoRA'"):
        record_evaluation(cfg, runs, None, target="LoRA")


def test_card_facts_read_back_what_training_recorded(tmp_path, capsys):
    cfg = tiny_run(tmp_path, "smoke")
    facts = card_facts(cfg.run_dir)
    summary = json.loads((cfg.run_dir / "summary.json").read_text())
    assert (facts.train_samples, facts.val_samples) == (8, 4)
    assert facts.training["best_val_loss"] == summary["best_val_loss"]
    assert facts.stand_in and facts.data_synthetic and facts.random_init
    with pytest.raises(FileNotFoundError, match="run folder is incomplete"):
        card_facts(tmp_path / "empty")


def test_markdown_table_escapes_pipes():
    assert markdown_table(["a", "b"], [("x|y", "1")]).splitlines() == [
        "| a | b |",
        "| --- | --- |",
        "| x\\|y | 1 |",
    ]
