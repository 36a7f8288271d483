"""Building the captioning zips from a synthetic tree in the official Hephaestus release layout."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers.config import load_config
from helpers.data.prepare import DatasetError, load_records, normalize_caption, prepare_dataset
from helpers.data.release import (
    DUPLICATE_CAPTION,
    RawFiles,
    build_release_zips,
    crop_box,
    deformation_polygons,
    find_raw_files,
)
from helpers.data.release.__main__ import main
from helpers.data.synthetic import generate_samples, png_bytes

REPO_ROOT = Path(__file__).resolve().parent.parent
RAW_SIZE = 96  # the "raw" InSARs are bigger than the output
SIZE = 32
N = 24  # three synthetic frames


NAMINGS = {  # InSAR and coherence file names: the release's README, and LiCSAR's (its code)
    "readme": ("InSAR.png", "Coherence.png"),
    "licsar": ("{dates}.geo.diff.png", "{dates}.geo.cc.png"),
}


class Release:
    """A release tree in ``tmp_path``: ``annotations/<id>.json`` and the raw InSAR tree."""

    def __init__(self, root: Path, naming: str = "readme") -> None:
        self.naming = NAMINGS[naming]
        self.annotations, self.raw = root / "annotations", root / "Hephaestus_Raw"
        self.annotations.mkdir(parents=True)
        self.by_id = {}
        for sample in generate_samples(N, seed=5, image_size=RAW_SIZE):
            ann = sample.annotation
            self.by_id[str(ann["uniqueID"])] = ann
            self.write_json(ann)
            folder = self.insar(ann).parent
            folder.mkdir(parents=True)
            self.insar(ann).write_bytes(png_bytes(sample.image))
            coherence = folder / self.naming[1].format(dates=folder.name)
            coherence.write_bytes(png_bytes(sample.image[..., :1].repeat(3, -1)))

    def json_path(self, uid: str) -> Path:
        return self.annotations / f"{uid}.json"

    def write_json(self, ann: dict) -> None:
        self.json_path(str(ann["uniqueID"])).write_text(json.dumps(ann, indent=2))

    def insar(self, ann: dict) -> Path:
        dates = f"{ann['primary_date']}_{ann['secondary_date']}"
        name = self.naming[0].format(dates=dates)
        return self.raw / ann["frameID"] / "interferograms" / dates / name

    def edit(self, uid: str, **fields) -> None:
        self.by_id[uid] = {**self.by_id[uid], **fields}
        self.write_json(self.by_id[uid])

    def build(self, out: Path, **options) -> dict:
        build_release_zips(self.annotations, self.raw, out, size=SIZE, progress=False, **options)
        return json.loads((out / "manifest.json").read_text())


@pytest.fixture
def release(tmp_path: Path) -> Release:
    return Release(tmp_path / "release")


def extracted(out: Path, dest: Path) -> tuple[Path, Path]:
    folders = dest / "images", dest / "annotations"
    for name, folder in zip(("images.zip", "annotations.zip"), folders, strict=True):
        with zipfile.ZipFile(out / name) as archive:
            archive.extractall(folder)
    return folders


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_both_raw_namings_build_byte_identical_zips(tmp_path: Path) -> None:
    built = {}
    for naming in NAMINGS:
        release = Release(tmp_path / naming, naming)
        assert release.insar(next(iter(release.by_id.values()))).name.endswith(
            "InSAR.png" if naming == "readme" else ".geo.diff.png"
        )
        manifest = release.build(tmp_path / f"out-{naming}")
        assert manifest["kept"] == N
        built[naming] = [
            (tmp_path / f"out-{naming}" / name).read_bytes()
            for name in ("images.zip", "annotations.zip")
        ]
    assert built["readme"] == built["licsar"]


def test_find_raw_files_prefers_the_licsar_name_and_finds_coherence(tmp_path: Path) -> None:
    folder = tmp_path / "20200101_20200113"
    folder.mkdir()
    assert find_raw_files(folder) == RawFiles(None, None)
    (folder / "InSAR.png").write_bytes(b"readme")
    (folder / "Coherence.png").write_bytes(b"readme")
    assert find_raw_files(folder) == RawFiles(folder / "InSAR.png", folder / "Coherence.png")
    (folder / "20200101_20200113.geo.diff.png").write_bytes(b"licsar")
    (folder / "20200101_20200113.geo.cc.png").write_bytes(b"licsar")
    found = find_raw_files(folder)
    assert found.insar.name == "20200101_20200113.geo.diff.png"
    assert found.coherence.name == "20200101_20200113.geo.cc.png"


def test_zips_load_through_load_records(release: Release, tmp_path: Path) -> None:
    manifest = release.build(tmp_path / "out")
    report = load_records(*extracted(tmp_path / "out", tmp_path / "x"))
    assert report.skipped == [] and report.warnings == []
    ids = sorted(release.by_id, key=int)
    assert [r.unique_id for r in report.records] == ids
    assert {r.unique_id: r.caption for r in report.records} == {
        uid: normalize_caption(ann["caption"]) for uid, ann in release.by_id.items()
    }
    assert {r.frame_id for r in report.records} == {a["frameID"] for a in release.by_id.values()}
    for record in report.records:
        with Image.open(record.image_path) as image:
            assert (image.size, image.mode) == ((SIZE, SIZE), "RGB")
        source = release.json_path(record.unique_id).read_bytes()
        assert (
            tmp_path / "x" / "annotations" / "annotations" / f"{record.unique_id}.json"
        ).read_bytes() == source  # the original JSON, byte for byte
    assert manifest["kept"] == N and manifest["skipped"] == 0
    assert manifest["kept_ids"] == ids


def test_prepare_dataset_uses_the_built_zips(release: Release, tmp_path: Path) -> None:
    release.build(tmp_path / "data")
    cfg = load_config("smoke", data_dir=tmp_path / "data")  # unique captions, split by frame
    with pytest.warns(UserWarning, match="SYNTHETIC"):  # the generator marks its annotations
        prepared = prepare_dataset(cfg, progress=False)
    captions = {normalize_caption(a["caption"]).casefold() for a in release.by_id.values()}
    assert len(prepared.records_by_id) == len(captions)
    assert set(prepared.records_by_id) <= set(release.by_id)
    assert sorted(prepared.split.train + prepared.split.val + prepared.split.test, key=int) == (
        sorted(prepared.records_by_id, key=int)
    )


def test_bad_records_are_reported_and_the_rest_kept(release: Release, tmp_path: Path) -> None:
    uids = sorted(release.by_id, key=int)
    release.insar(release.by_id[uids[0]]).unlink()
    release.json_path(uids[1]).write_text('{"caption": "unterminated')
    release.edit(uids[2], caption=None)
    release.edit(uids[3], caption="   ")
    truncated = release.insar(release.by_id[uids[4]])
    truncated.write_bytes(truncated.read_bytes()[:200])
    release.edit(uids[5], frameID="../../elsewhere")
    manifest = release.build(tmp_path / "out")

    reasons = {Path(item["file"]).name: item["reason"] for item in manifest["skipped_files"]}
    assert reasons == {
        f"{uids[0]}.json": "missing InSAR image",
        f"{uids[1]}.json": "invalid JSON",
        f"{uids[2]}.json": "missing caption",
        f"{uids[3]}.json": "empty caption",
        f"{uids[4]}.json": "unreadable image",
        f"{uids[5]}.json": "cannot locate the InSAR",
    }
    details = {Path(item["file"]).name: item["detail"] for item in manifest["skipped_files"]}
    assert "InSAR.png" in details[f"{uids[0]}.json"]
    assert ".geo.diff.png" in details[f"{uids[0]}.json"]  # both names it looked for
    assert str(truncated) in details[f"{uids[4]}.json"]
    assert manifest["kept"] == N - 6 and manifest["annotation_files"] == N
    report = load_records(*extracted(tmp_path / "out", tmp_path / "x"))
    assert [r.unique_id for r in report.records] == uids[6:]


def test_unique_captions_keep_one_record_per_caption(release: Release, tmp_path: Path) -> None:
    uids = sorted(release.by_id, key=int)
    caption = release.by_id[uids[1]]["caption"]
    release.edit(uids[4], caption=f"  {caption.upper()}\n")
    release.edit(uids[7], caption=caption.lower().replace(" ", "   "))
    release.edit(uids[2], caption="Same words.")
    release.edit(uids[3], caption="same   WORDS.")
    release.insar(release.by_id[uids[2]]).unlink()  # the lower id is unusable: 3 is kept
    manifest = release.build(tmp_path / "out", unique_captions=True)

    first_by_caption: dict[str, str] = {}  # the rule, written out: lowest usable id wins
    for uid in uids:
        key = " ".join(release.by_id[uid]["caption"].split()).casefold()
        if uid != uids[2]:
            first_by_caption.setdefault(key, uid)
    expected = sorted(first_by_caption.values(), key=int)
    assert manifest["kept_ids"] == expected
    assert uids[1] in expected and uids[3] in expected and uids[4] not in expected
    dropped = [
        Path(i["file"]).stem for i in manifest["skipped_files"] if i["reason"] == DUPLICATE_CAPTION
    ]
    assert sorted(dropped, key=int) == sorted(set(uids) - {uids[2], *expected}, key=int)
    records = load_records(*extracted(tmp_path / "out", tmp_path / "x")).records
    keys = [normalize_caption(r.caption).casefold() for r in records]
    assert len(keys) == len(set(keys)) == len(first_by_caption)


def test_exclusion_flags(release: Release, tmp_path: Path) -> None:
    uids = sorted(release.by_id, key=int)
    release.edit(uids[0], corrupted=1)
    release.edit(uids[1], no_info=1)
    assert release.build(tmp_path / "all")["kept"] == N
    manifest = release.build(tmp_path / "clean", exclude_corrupted=True)
    assert {(Path(i["file"]).stem, i["reason"]) for i in manifest["skipped_files"]} == {
        (uids[0], "corrupted excluded"),
        (uids[1], "no_info excluded"),
    }
    assert manifest["kept_ids"] == uids[2:]


def test_crop_box_rules() -> None:
    # a 20 x 10 box at (60..80, 30..40): side 20 * 1.2 = 24, centred on (70, 35)
    assert crop_box([[60, 30, 80, 30, 80, 40, 60, 40]], 200, 100, min_side=16) == (58, 23, 82, 47)
    assert crop_box([[60, 30, 62, 31]], 200, 100, min_side=16) == (53, 22, 69, 38)  # min side
    assert crop_box([[190, 95, 199, 99]], 200, 100, min_side=16) == (184, 84, 200, 100)  # clipped
    assert crop_box([[0, 0, 300, 300]], 200, 100, min_side=16) == (50, 0, 150, 100)  # short side
    assert crop_box([], 200, 100, min_side=32) == (84, 34, 116, 66)  # centre crop
    assert deformation_polygons({"segmentation_mask": [1, 2, 3, 4]}) == [[1, 2, 3, 4]]
    assert deformation_polygons({"segmentation_mask": [[1, 2], []]}) == [[1, 2]]
    assert deformation_polygons({}) == []
    with pytest.raises(ValueError, match="segmentation"):
        deformation_polygons({"segmentation_mask": [[1, 2, 3]]})


def test_crop_to_deformation_crops_around_the_polygon(release: Release, tmp_path: Path) -> None:
    def bbox_side(ann: dict) -> float:
        polygon = ann["segmentation_mask"][0]
        return max(max(polygon[0::2]) - min(polygon[0::2]), max(polygon[1::2]) - min(polygon[1::2]))

    uid, ann = min(
        ((u, a) for u, a in release.by_id.items() if a["segmentation_mask"]),
        key=lambda item: bbox_side(item[1]),
    )
    # a black InSAR with the polygon's bounding box painted white
    xs, ys = ann["segmentation_mask"][0][0::2], ann["segmentation_mask"][0][1::2]
    pixels = np.zeros((RAW_SIZE, RAW_SIZE, 3), np.uint8)
    pixels[int(min(ys)) : int(max(ys)), int(min(xs)) : int(max(xs))] = 255
    release.insar(ann).write_bytes(png_bytes(pixels))
    release.edit(uid, segmentation_mask=ann["segmentation_mask"][0])  # the flat form, also valid

    def white_fraction(out: Path) -> float:
        with zipfile.ZipFile(out / "images.zip") as archive:
            image = Image.open(io.BytesIO(archive.read(f"images/{uid}.png")))
            return float((np.asarray(image) > 127).mean())

    release.build(tmp_path / "plain")
    release.build(tmp_path / "crop", crop_to_deformation=True)
    box = crop_box(deformation_polygons(ann), RAW_SIZE, RAW_SIZE, SIZE)
    assert box[0] <= min(xs) and box[1] <= min(ys) and box[2] >= max(xs) and box[3] >= max(ys)
    assert white_fraction(tmp_path / "crop") > white_fraction(tmp_path / "plain") + 0.1
    with zipfile.ZipFile(tmp_path / "crop" / "images.zip") as archive:
        cropped = np.asarray(Image.open(io.BytesIO(archive.read(f"images/{uid}.png"))))
    border = np.concatenate([cropped[0], cropped[-1], cropped[:, 0], cropped[:, -1]])
    assert (border < 128).mean() > 0.5  # the margin around the box is black: box fully inside


def test_source_tree_is_never_modified(release: Release, tmp_path: Path) -> None:
    root = release.annotations.parent
    before = tree_hashes(root)
    release.build(tmp_path / "out", unique_captions=True, crop_to_deformation=True)
    assert tree_hashes(root) == before


@pytest.mark.parametrize("inside", ["annotations", "raw"])
def test_output_inside_the_source_is_refused(release: Release, inside: str) -> None:
    source = getattr(release, inside)
    before = tree_hashes(source)
    with pytest.raises(DatasetError, match="inside the source folder"):
        build_release_zips(release.annotations, release.raw, source / "out", progress=False)
    assert tree_hashes(source) == before and not (source / "out").exists()


def test_existing_outputs_are_kept_unless_overwrite(release: Release, tmp_path: Path) -> None:
    out = tmp_path / "out"
    release.build(out)
    before = tree_hashes(out)
    with pytest.raises(FileExistsError, match="overwrite"):
        release.build(out, unique_captions=True)
    assert tree_hashes(out) == before
    release.edit(sorted(release.by_id, key=int)[0], corrupted=1)
    assert release.build(out, exclude_corrupted=True, overwrite=True)["kept"] == N - 1
    assert sorted(p.name for p in out.iterdir()) == [
        "annotations.zip",
        "images.zip",
        "manifest.json",
    ]


def test_nothing_usable_is_a_clear_error(release: Release, tmp_path: Path) -> None:
    for uid in release.by_id:
        release.edit(uid, caption="")
    with pytest.raises(DatasetError, match="(?s)No usable records.*1.json: empty caption"):
        release.build(tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_command_line(release: Release, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    command = [
        sys.executable, "-m", "helpers.data.release",
        "--annotations", str(release.annotations), "--raw", str(release.raw),
        "--out", str(tmp_path / "out"), "--size", str(SIZE), "--unique-captions",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert f"Kept {manifest['kept']} of {N} annotation files." in done.stdout
    assert manifest["skipped_by_reason"] == {DUPLICATE_CAPTION: N - manifest["kept"]}
    assert manifest["options"] == {
        "unique_captions": True,
        "exclude_corrupted": False,
        "size": SIZE,
        "crop_to_deformation": False,
    }
    with pytest.raises(SystemExit) as exit_info:  # in-process: a second interpreter costs ~10 s
        main(command[3:])
    assert exit_info.value.code == 2 and "--overwrite" in capsys.readouterr().err
