"""Every data layout users arrive with, loaded under ``full``; what ``full`` refuses."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from helpers.config import CaptionConfig
from helpers.data import prepare as data
from helpers.data.archives import ArchiveError
from helpers.data.layouts import LayoutError, find_layout
from helpers.data.prepare import DatasetError, prepare_dataset
from helpers.data.synthetic import SYNTHETIC_MARKER, generate_samples, png_bytes

N = 24


@pytest.fixture(scope="module")
def samples() -> list[tuple[str, bytes, str]]:
    """(id, PNG, annotation JSON) from the synthetic writer, stripped of its synthetic flag so
    they stand for real data."""
    found = []
    for sample in generate_samples(N, seed=3, image_size=16):
        ann = {k: v for k, v in sample.annotation.items() if k != "synthetic"}
        found.append((str(ann["uniqueID"]), png_bytes(sample.image), json.dumps(ann)))
    return found


def write_zip(path: Path, entries: dict[str, bytes | str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)


def write_annotations_zip(folder: Path, samples, prefix: str = "annotations/") -> None:
    write_zip(folder / "annotations.zip", {f"{prefix}{uid}.json": ann for uid, _, ann in samples})


def one_images_zip(folder: Path, samples) -> None:
    write_zip(folder / "images.zip", {f"images/{uid}.png": png for uid, png, _ in samples})
    write_annotations_zip(folder, samples)


def four_flat_zips(folder: Path, samples) -> None:
    for part in range(4):
        chosen = samples[part::4]
        write_zip(folder / f"images_set{part + 1}.zip", {f"{u}.png": png for u, png, _ in chosen})
    write_annotations_zip(folder, samples, prefix="")


def nested_folders_in_zips(folder: Path, samples) -> None:
    for part in range(2):
        chosen = samples[part::2]
        write_zip(
            folder / f"images_set{part + 1}.zip",
            {f"Hephaestus/set{part + 1}/png/{u}.png": png for u, png, _ in chosen},
        )
    write_annotations_zip(folder, samples, prefix="Hephaestus/annotations/json/")


def extracted_folders(folder: Path, samples) -> None:
    for uid, png, ann in samples:
        (folder / "images").mkdir(parents=True, exist_ok=True)
        (folder / "annotations").mkdir(parents=True, exist_ok=True)
        (folder / "images" / f"{uid}.png").write_bytes(png)
        (folder / "annotations" / f"{uid}.json").write_text(ann)


def full_config(tmp_path: Path, **overrides) -> CaptionConfig:
    return CaptionConfig(
        data_dir=tmp_path / "Hephaestus_dataset", unique_captions=False, **overrides
    )


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    ("writer", "kind"),
    [
        (one_images_zip, "zips"),
        (four_flat_zips, "zips"),
        (nested_folders_in_zips, "zips"),
        (extracted_folders, "folders"),
    ],
)
def test_each_layout_loads_every_record_under_full(
    tmp_path: Path, samples, writer, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = full_config(tmp_path)
    writer(cfg.data_dir, samples)
    before = tree(cfg.data_dir)
    monkeypatch.setattr(data, "write_synthetic_dataset", pytest.fail)

    prepared = prepare_dataset(cfg, progress=False)

    assert prepared.layout is not None and prepared.layout.kind == kind
    assert not prepared.synthetic
    assert sorted(prepared.records_by_id) == sorted(uid for uid, _, _ in samples)
    assert prepared.report.skipped == []
    captions = {uid: json.loads(ann)["caption"] for uid, _, ann in samples}
    for uid, record in prepared.records_by_id.items():
        assert record.caption == " ".join(captions[uid].split())
        assert record.image_path.read_bytes() == dict((u, p) for u, p, _ in samples)[uid]
    after = tree(cfg.data_dir)
    assert {name: after[name] for name in before} == before  # user files untouched
    if kind == "folders":  # read in place: nothing extracted, the records point into images/
        assert not (cfg.data_dir / "extracted").exists()
        assert all(r.image_path.parent == cfg.data_dir / "images" for r in prepared.train)


def test_image_zips_are_read_in_name_order_and_cross_zip_duplicates_reported(
    tmp_path: Path, samples
) -> None:
    cfg = full_config(tmp_path)
    four_flat_zips(cfg.data_dir, samples)
    uid, png, _ = samples[0]  # in images_set1.zip; a different copy in images_set3.zip too
    with zipfile.ZipFile(cfg.data_dir / "images_set3.zip", "a") as archive:
        archive.writestr(f"{uid}.png", samples[1][1])

    layout = find_layout(cfg.data_dir)
    assert [p.name for p in layout.sources] == [
        *(f"images_set{i}.zip" for i in range(1, 5)),
        "annotations.zip",
    ]
    prepared = prepare_dataset(cfg, progress=False)
    duplicates = [s for s in prepared.report.skipped if s.reason == "duplicate id"]
    assert len(duplicates) == 1 and "images_set3" in str(duplicates[0].path)
    assert "images_set1" in duplicates[0].detail
    assert prepared.records_by_id[uid].image_path.read_bytes() == png  # the first zip's copy


def test_zips_win_over_extracted_folders(tmp_path: Path, samples) -> None:
    cfg = full_config(tmp_path)
    one_images_zip(cfg.data_dir, samples[:12])
    extracted_folders(cfg.data_dir, samples)
    prepared = prepare_dataset(cfg, progress=False)
    assert prepared.layout.kind == "zips" and len(prepared.records_by_id) == 12


@pytest.mark.parametrize(
    ("setup", "hint"),
    [
        ("image zips, no annotations.zip", r"annotations\.zip is missing \(found images_set1"),
        ("annotations.zip, images folder", r"no images\*\.zip beside annotations\.zip"),
        ("images folder only", r"images/ has no annotations/ folder beside it"),
        ("stray files", r"no layout that can be read\. Found"),
    ],
)
def test_incomplete_or_ambiguous_mixes_fail_with_a_listing(
    tmp_path: Path, samples, setup: str, hint: str
) -> None:
    cfg = full_config(tmp_path)
    folder = cfg.data_dir
    if setup == "image zips, no annotations.zip":
        four_flat_zips(folder, samples)
        (folder / "annotations.zip").unlink()
    elif setup == "annotations.zip, images folder":
        write_annotations_zip(folder, samples)
        extracted_folders(folder, samples)
        for path in (folder / "annotations").iterdir():
            path.unlink()
    elif setup == "images folder only":
        extracted_folders(folder, samples)
        for path in (folder / "annotations").iterdir():
            path.unlink()
    else:
        folder.mkdir(parents=True)
        (folder / "hephaestus.tar.gz").write_bytes(b"\x1f\x8b")
        (folder / "notes.txt").write_text("my notes")
    before = tree(folder)

    with pytest.raises(LayoutError, match=hint) as caught:
        prepare_dataset(cfg, progress=False)

    message = str(caught.value)
    assert str(folder) in message and "Layouts that work" in message
    assert "images_set1.zip ... images_setN.zip" in message
    assert tree(folder) == before  # nothing extracted, generated or split


@pytest.mark.parametrize("state", ["missing", "empty", "only readme and stand-in folders"])
def test_full_without_data_says_where_to_get_it_and_writes_nothing(
    tmp_path: Path, state: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = full_config(tmp_path)
    if state != "missing":
        cfg.data_dir.mkdir()
    if state == "only readme and stand-in folders":
        (cfg.data_dir / "README.md").write_text("where to get the data")
        (cfg.data_dir / "synthetic-demo").mkdir()
    before = tree(cfg.data_dir) if cfg.data_dir.exists() else None
    monkeypatch.setattr(data, "write_synthetic_dataset", pytest.fail)

    with pytest.raises(DatasetError) as caught:
        prepare_dataset(cfg, progress=False)

    message = str(caught.value)
    for needed in (
        "intel/AI-PC-Samples",
        "Finetune_Image_Captioning/Hephaestus_dataset",
        "git-lfs",
        "images_set1.zip ... images_set4.zip",
        "python -m helpers.data.release",
        "CAPTION_PROFILE=demo",
    ):
        assert needed in message
    if before is None:
        assert not cfg.data_dir.exists()
    else:
        assert tree(cfg.data_dir) == before
        assert not (cfg.data_dir / "split.json").exists()


def test_full_refuses_synthetic_zips_left_in_the_real_folder(tmp_path: Path, samples) -> None:
    cfg = full_config(tmp_path)
    one_images_zip(cfg.data_dir, samples)
    with zipfile.ZipFile(cfg.data_dir / "images.zip", "a") as archive:
        archive.writestr(SYNTHETIC_MARKER, "made by helpers.data.synthetic")
    with pytest.raises(DatasetError, match=r"images\.zip is synthetic.*older version.*delete"):
        prepare_dataset(cfg, progress=False)
    assert not (cfg.data_dir / "extracted").exists()


def test_full_refuses_synthetic_extracted_folders(tmp_path: Path, samples) -> None:
    cfg = full_config(tmp_path)
    extracted_folders(cfg.data_dir, samples)
    (cfg.data_dir / "annotations" / SYNTHETIC_MARKER).write_text("made by helpers.data.synthetic")
    with pytest.raises(DatasetError, match="synthetic stand-in data"):
        prepare_dataset(cfg, progress=False)


def test_stand_in_profiles_never_generate_into_the_real_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAPTION_WORKSPACE", str(tmp_path))
    cfg = CaptionConfig(profile="demo", data_dir=tmp_path / "Hephaestus_dataset")
    monkeypatch.setattr(data, "write_synthetic_dataset", pytest.fail)
    with pytest.raises(DatasetError, match="Not writing synthetic stand-in data into the real"):
        prepare_dataset(cfg, progress=False)
    assert not (tmp_path / "Hephaestus_dataset").exists()


@pytest.mark.parametrize("doc", ["docs/data.md", "Hephaestus_dataset/README.md"])
def test_docs_name_the_real_files_their_home_and_both_raw_namings(doc: str) -> None:
    text = " ".join((Path(__file__).resolve().parent.parent / doc).read_text().split())
    for needed in (
        "images_set1.zip",
        "images_set4.zip",
        "annotations.zip",
        "intel/AI-PC-Samples",
        "Finetune_Image_Captioning/Hephaestus_dataset",
        "git-lfs",
        "`images/` + `annotations/`",
        ".geo.diff.png",
        "InSAR.png",
        "hephaestus-test-frames",
    ):
        assert needed in text, f"{doc} does not mention {needed}"


LFS_POINTER = (
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    "size 187654321\n"
)


def test_a_git_lfs_pointer_instead_of_a_zip_is_named_as_such(tmp_path: Path, samples) -> None:
    cfg = full_config(tmp_path)
    four_flat_zips(cfg.data_dir, samples)
    pointer = cfg.data_dir / "images_set2.zip"
    pointer.write_text(LFS_POINTER)  # what a clone without `git lfs pull` leaves
    with pytest.raises(ArchiveError, match=r"images_set2\.zip is a git-lfs pointer file") as err:
        prepare_dataset(cfg, progress=False)
    message = str(err.value)
    assert f"({len(LFS_POINTER)} bytes of text)" in message and "git lfs pull" in message


def test_a_truncated_zip_is_named_with_its_size_and_the_usual_cause(
    tmp_path: Path, samples
) -> None:
    cfg = full_config(tmp_path)
    four_flat_zips(cfg.data_dir, samples)
    broken = cfg.data_dir / "images_set2.zip"
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 2])  # an interrupted copy
    with pytest.raises(ArchiveError, match=r"images_set2\.zip is not a readable zip") as err:
        prepare_dataset(cfg, progress=False)
    message = str(err.value)
    assert f"{broken.stat().st_size:,} bytes" in message
    assert "download was interrupted" in message and "git lfs pull" in message
