import os

import pytest

from helpers.files import replaced_together, write_text_atomic


def test_writes_creates_parents_and_replaces(tmp_path):
    path = write_text_atomic(tmp_path / "a" / "b.json", "one")
    assert path.read_text() == "one"
    write_text_atomic(path, "two")
    assert path.read_text() == "two"
    assert sorted(p.name for p in path.parent.iterdir()) == ["b.json"]  # no temp file left


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    path = write_text_atomic(tmp_path / "x.csv", "old")
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        write_text_atomic(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.csv"]


def test_files_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        path = write_text_atomic(tmp_path / "shared.txt", "x")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640


def test_replaced_together_renames_all_or_nothing(tmp_path):
    targets = [tmp_path / "a.zip", tmp_path / "b.zip"]
    targets[0].write_text("old a")
    with pytest.raises(RuntimeError, match="crash"), replaced_together(targets) as temps:
        temps[0].write_text("new a")
        temps[1].write_text("new b")
        raise RuntimeError("crash")
    assert targets[0].read_text() == "old a" and not targets[1].exists()
    with replaced_together(targets) as temps:
        temps[0].write_text("new a")
        temps[1].write_text("new b")
    assert [t.read_text() for t in targets] == ["new a", "new b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip", "b.zip"]  # no temps left
