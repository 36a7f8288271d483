"""Safe zip extraction: path escapes, symlinks, bombs, corruption, atomicity, idempotency."""

from __future__ import annotations

import hashlib
import os
import stat
import zipfile
from pathlib import Path

import pytest

from helpers.data import archives as data_extract
from helpers.data.archives import STAMP_NAME, ArchiveError, extract_zip


def make_zip(
    path: Path, entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED
) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A folder holding the zip and the target, inside an outer folder to catch escapes."""
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def test_extracts_nested_entries_and_skips_junk(work: Path) -> None:
    zip_path = make_zip(
        work / "images.zip",
        {
            "images/1.png": b"one",
            "images/sub/2.png": b"two",
            "images\\3.png": b"three",  # a Windows-made name: backslash means folder
            "__MACOSX/images/._1.png": b"junk",
            "images/.DS_Store": b"junk",
            "images/._2.png": b"junk",
        },
    )
    target = extract_zip(zip_path, work / "extracted" / "images")
    assert target == work / "extracted" / "images"
    assert (target / "images/1.png").read_bytes() == b"one"
    assert (target / "images/sub/2.png").read_bytes() == b"two"
    assert (target / "images/3.png").read_bytes() == b"three"
    assert listing(target) == sorted(
        [STAMP_NAME, "images", "images/1.png", "images/3.png", "images/sub", "images/sub/2.png"]
    )
    assert listing(work / "extracted") == ["images", *(f"images/{n}" for n in listing(target))]


@pytest.mark.parametrize(
    "evil", ["../evil.txt", "/abs.txt", "C:\\x", "C:x.txt", "a/../../evil.txt", "..\\evil.txt"]
)
def test_refuses_entries_escaping_the_target(tmp_path: Path, work: Path, evil: str) -> None:
    zip_path = make_zip(work / "bad.zip", {"ok.txt": b"fine", evil: b"evil"})
    before = listing(tmp_path)
    with pytest.raises(ArchiveError, match=r"bad\.zip.*unsafe entry path"):
        extract_zip(zip_path, work / "out")
    assert listing(tmp_path) == before  # nothing written anywhere, not even the target


def test_refuses_symlink_entries(tmp_path: Path, work: Path) -> None:
    zip_path = work / "links.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr("ok.txt", b"fine")
        link = zipfile.ZipInfo("link")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    before = listing(tmp_path)
    with pytest.raises(ArchiveError, match=r"links\.zip.*symbolic link"):
        extract_zip(zip_path, work / "out")
    assert listing(tmp_path) == before


def test_refuses_high_compression_ratio(work: Path) -> None:
    zip_path = make_zip(work / "bomb.zip", {"zeros.bin": bytes(200_000)})
    with pytest.raises(ArchiveError, match=r"bomb\.zip.*compression ratio"):
        extract_zip(zip_path, work / "out", max_ratio=20)
    assert not (work / "out").exists()
    assert extract_zip(zip_path, work / "out", max_ratio=1e6).is_dir()  # limits are knobs


def test_refuses_too_large_total_and_too_many_entries(work: Path) -> None:
    entries = {f"{i}.bin": os.urandom(1000) for i in range(3)}
    zip_path = make_zip(work / "big.zip", entries, zipfile.ZIP_STORED)
    with pytest.raises(ArchiveError, match=r"big\.zip would extract to 3000 bytes \(limit 2999\)"):
        extract_zip(zip_path, work / "out", max_total_bytes=2999)
    with pytest.raises(ArchiveError, match=r"big\.zip has 3 entries \(limit 2\)"):
        extract_zip(zip_path, work / "out", max_entries=2)
    assert not (work / "out").exists()


def test_refuses_encrypted_entries(work: Path) -> None:
    zip_path = make_zip(work / "secret.zip", {"secret.txt": b"pretend this is encrypted"})
    raw = bytearray(zip_path.read_bytes())
    raw[raw.index(b"PK\x01\x02") + 8] |= 0x1  # set the "encrypted" flag in the central directory
    zip_path.write_bytes(bytes(raw))
    with pytest.raises(ArchiveError, match=r"secret\.zip.*encrypted entry: 'secret\.txt'"):
        extract_zip(zip_path, work / "out")


def test_not_a_zip_and_missing_zip_name_the_file(work: Path) -> None:
    fake = work / "images.zip"
    fake.write_text("this is not a zip")
    with pytest.raises(ArchiveError, match=r"images\.zip is not a readable zip archive"):
        extract_zip(fake, work / "out")
    with pytest.raises(ArchiveError, match=r"Zip file not found: .*nothere\.zip"):
        extract_zip(work / "nothere.zip", work / "out")


def test_a_git_lfs_pointer_is_recognised(work: Path) -> None:
    pointer = work / "images_set2.zip"
    pointer.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:ab12\nsize 99\n")
    with pytest.raises(ArchiveError, match=r"images_set2\.zip is a git-lfs pointer file") as err:
        extract_zip(pointer, work / "out")
    assert "git lfs pull" in str(err.value)
    assert not (work / "out").exists()


def test_crc_error_names_the_file_and_leaves_nothing(work: Path) -> None:
    payload = b"0123456789" * 100
    zip_path = make_zip(work / "crc.zip", {"a.txt": b"ok", "b.txt": payload}, zipfile.ZIP_STORED)
    raw = bytearray(zip_path.read_bytes())
    raw[raw.index(payload) + 5] ^= 0xFF  # damage the stored data, not the headers
    zip_path.write_bytes(bytes(raw))
    with pytest.raises(ArchiveError, match=r"crc\.zip is corrupt at entry 'b\.txt'.*CRC"):
        extract_zip(zip_path, work / "out")
    assert listing(work) == ["crc.zip"]  # no target, no temporary folder left behind


def test_a_crash_leaves_no_half_extraction(monkeypatch: pytest.MonkeyPatch, work: Path) -> None:
    zip_path = make_zip(work / "d.zip", {"a.txt": b"a", "b.txt": b"b"})
    target = extract_zip(zip_path, work / "out")
    make_zip(zip_path, {"a.txt": b"new a", "b.txt": b"new b"})
    real = data_extract._extract_member

    def crash_on_b(zip_path, archive, info, dest):
        if info.filename == "b.txt":
            raise KeyboardInterrupt
        real(zip_path, archive, info, dest)

    monkeypatch.setattr(data_extract, "_extract_member", crash_on_b)
    with pytest.raises(KeyboardInterrupt):
        extract_zip(zip_path, target)
    assert (target / "a.txt").read_bytes() == b"a"  # the old, complete extraction is intact
    assert listing(work) == ["d.zip", "out", "out/.extract_stamp.json", "out/a.txt", "out/b.txt"]
    monkeypatch.undo()
    assert (extract_zip(zip_path, target) / "a.txt").read_bytes() == b"new a"


def test_second_call_reuses_and_changed_zip_is_extracted_again(work: Path) -> None:
    zip_path = make_zip(work / "d.zip", {"a.txt": b"a", "old.txt": b"old"})
    digest = sha256(zip_path)
    target = extract_zip(zip_path, work / "out")
    stamp_mtime = (target / STAMP_NAME).stat().st_mtime_ns
    file_inode = (target / "a.txt").stat().st_ino

    extract_zip(zip_path, target)
    assert (target / STAMP_NAME).stat().st_mtime_ns == stamp_mtime
    assert (target / "a.txt").stat().st_ino == file_inode

    os.utime(zip_path, ns=(1_000_000_000, 1_000_000_000))  # touched, same bytes: still reused
    extract_zip(zip_path, target)
    assert (target / "a.txt").stat().st_ino == file_inode
    assert sha256(zip_path) == digest  # the zip itself is never modified

    make_zip(zip_path, {"a.txt": b"changed"})
    extract_zip(zip_path, target)
    assert (target / "a.txt").read_bytes() == b"changed"
    assert not (target / "old.txt").exists()
    assert listing(work) == ["d.zip", "out", "out/.extract_stamp.json", "out/a.txt"]


def test_never_replaces_a_folder_it_did_not_make(work: Path) -> None:
    zip_path = make_zip(work / "d.zip", {"a.txt": b"a"})
    (work / "out").mkdir()
    (work / "out" / "mine.txt").write_text("user data")
    with pytest.raises(ArchiveError, match=r"out exists and was not made by extract_zip"):
        extract_zip(zip_path, work / "out")
    assert listing(work / "out") == ["mine.txt"]
    with pytest.raises(ArchiveError, match="its own folder"):
        extract_zip(zip_path, work)
