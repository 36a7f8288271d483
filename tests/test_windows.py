"""``helpers`` runs on Windows: no POSIX-only module or call, and file and folder replacement
that keeps its crash safety where a folder cannot be renamed over another and another program
may hold a file for a moment (simulated here with a Windows-style ``os.replace``)."""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from test_structure import module_name

from helpers import files
from helpers.data.archives import extract_zip
from helpers.files import backup_of, replaced_together, write_text_atomic
from helpers.training.checkpoints import STATE_FILE, find_checkpoint, publish

HELPERS = Path(__file__).resolve().parent.parent / "helpers"
POSIX_ONLY_MODULES = ("resource", "fcntl", "termios", "pwd", "grp", "pty", "tty", "syslog")
POSIX_ONLY_CALLS = {
    "os": ("fork", "forkpty", "getuid", "geteuid", "getgid", "killpg", "setsid", "mkfifo"),
    "signal": ("SIGALRM", "SIGKILL", "SIGHUP", "SIGUSR1", "SIGCHLD", "alarm", "setitimer"),
}
POSIX_ONLY = re.compile(
    rf"^\s*(?:import|from)\s+(?:{'|'.join(POSIX_ONLY_MODULES)})\b"
    + "".join(
        rf"|\b{module}\.(?:{'|'.join(names)})\b" for module, names in POSIX_ONLY_CALLS.items()
    )
    + r"|\bos\.(?:system|popen)\(|\bshell\s*=\s*True",
    re.MULTILINE,
)


# Loads the third-party libraries first (they may use POSIX modules themselves, which is their
# business), then makes the POSIX-only modules and calls unavailable, then imports every module
# of helpers and reads the CPU's peak memory.
IMPORT_EVERYTHING = """
import importlib, os, pkgutil, signal, sys
import accelerate, bert_score, huggingface_hub, matplotlib.pyplot, numpy, pandas, peft, PIL
import psutil, pycocoevalcap, safetensors, torch, tqdm, transformers
for name in {modules!r}:
    sys.modules[name] = None  # `import name` raises ImportError from now on
for module, names in {calls!r}.items():
    for name in names:
        if hasattr(sys.modules[module], name):
            delattr(sys.modules[module], name)
import helpers
names = sorted(
    info.name
    for info in pkgutil.walk_packages(helpers.__path__, "helpers.")
    if not info.name.endswith("__main__")  # the command lines: importing one runs it
)
for name in names:
    importlib.import_module(name)
from helpers.device import peak_memory_mb
assert peak_memory_mb("cpu") > 0
print("imported", " ".join(names))
"""


def test_every_helpers_module_imports_without_posix_only_modules():
    script = IMPORT_EVERYTHING.format(modules=POSIX_ONLY_MODULES, calls=POSIX_ONLY_CALLS)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    imported = done.stdout.split("imported", 1)[1].split()
    expected = [module_name(p) for p in HELPERS.rglob("*.py") if p.stem != "__main__"]
    assert sorted(imported) == sorted(name for name in expected if name != "helpers")


def test_the_scan_recognises_posix_only_code():
    for bad in ("import resource", "from fcntl import flock", "os.fork()", "signal.alarm(3)"):
        assert POSIX_ONLY.search(f"x = 1\n    {bad}\n"), bad
    for fine in (
        "import os",
        "signal.SIGINT",
        "from helpers.resources import x",
        "os.replace(a, b)",
    ):
        assert not POSIX_ONLY.search(fine), fine


def test_no_helpers_module_uses_posix_only_code():
    found = [
        f"{path.relative_to(HELPERS)}: {match.group(0).strip()}"
        for path in sorted(HELPERS.rglob("*.py"))
        for match in POSIX_ONLY.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not found


# --- a Windows-style os.replace ---


class WindowsReplace:
    """``os.replace`` as Windows does it: a folder cannot replace an existing folder (Access is
    denied), and a path another program holds fails for a while. ``crash_at`` makes the n-th
    rename die like a power cut (KeyboardInterrupt) before it happens."""

    def __init__(self, real) -> None:
        self.real, self.calls, self.held, self.crash_at = real, [], {}, None

    def hold(self, path: Path, times: int) -> None:
        self.held[Path(path)] = times

    def __call__(self, src, dst) -> None:
        src, dst = Path(src), Path(dst)
        self.calls.append((src.name, dst.name))
        if self.crash_at == len(self.calls):
            raise KeyboardInterrupt("power cut")
        for path in (src, dst):
            if self.held.get(path, 0) > 0:
                self.held[path] -= 1
                raise PermissionError(errno.EACCES, "The process cannot access the file", str(path))
        if dst.is_dir():
            raise PermissionError(errno.EACCES, "Access is denied", str(dst))
        self.real(src, dst)


@pytest.fixture
def windows(monkeypatch) -> WindowsReplace:
    fake = WindowsReplace(os.replace)
    monkeypatch.setattr(os, "replace", fake)
    monkeypatch.setattr(files, "RETRY_DELAYS", (0.0,) * len(files.RETRY_DELAYS))
    return fake


def make_checkpoint(folder: Path, epoch: int) -> Path:
    folder.mkdir()
    (folder / "weights.bin").write_text(f"weights {epoch}")
    (folder / STATE_FILE).write_text(json.dumps({"epochs_done": epoch}))
    return folder


def epochs_found(run_dir: Path) -> int | None:
    found = find_checkpoint(run_dir)
    return None if found is None else json.loads((found / STATE_FILE).read_text())["epochs_done"]


def test_publish_replaces_a_checkpoint_folder_the_windows_way(tmp_path, windows):
    last = tmp_path / "last"
    for epoch in (1, 2, 3):
        publish(make_checkpoint(tmp_path / ".last.tmp", epoch), last)
    assert epochs_found(tmp_path) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]
    with pytest.raises(PermissionError, match="Access is denied"):  # what a plain rename meets
        os.replace(make_checkpoint(tmp_path / ".last.tmp", 4), tmp_path / "last")


@pytest.mark.parametrize("crash_at", [1, 2])
def test_a_crash_during_publish_always_leaves_a_complete_checkpoint(tmp_path, windows, crash_at):
    publish(make_checkpoint(tmp_path / ".last.tmp", 1), tmp_path / "last")
    windows.calls.clear()
    windows.crash_at = (
        crash_at  # 1: before the old folder moves aside; 2: before the new one moves in
    )
    with pytest.raises(KeyboardInterrupt):
        publish(make_checkpoint(tmp_path / ".last.tmp", 2), tmp_path / "last")
    assert epochs_found(tmp_path) == 1
    windows.crash_at = None  # the rerun publishes over whatever the crash left
    publish(make_checkpoint(tmp_path / ".last.tmp2", 2), tmp_path / "last")
    assert epochs_found(tmp_path) == 2 and not backup_of(tmp_path / "last").exists()


def test_the_backup_a_crash_left_stays_until_the_new_checkpoint_is_in(tmp_path, windows):
    # a crash left only the backup (between "old aside" and "new in"); the next publish dies
    # before its rename: the backup must still be there to resume from
    make_checkpoint(backup_of(tmp_path / "last"), 1)
    windows.crash_at = 1
    with pytest.raises(KeyboardInterrupt):
        publish(make_checkpoint(tmp_path / ".last.tmp", 2), tmp_path / "last")
    assert epochs_found(tmp_path) == 1


def test_a_briefly_held_checkpoint_is_waited_for(tmp_path, windows):
    publish(make_checkpoint(tmp_path / ".last.tmp", 1), tmp_path / "last")
    windows.hold(tmp_path / "last", times=3)  # an antivirus scan of the old checkpoint
    publish(make_checkpoint(tmp_path / ".last.tmp", 2), tmp_path / "last")
    assert epochs_found(tmp_path) == 2


def test_a_held_file_is_waited_for_then_named(tmp_path, windows):
    path = write_text_atomic(tmp_path / "results.csv", "old")
    windows.hold(path, times=2)
    write_text_atomic(path, "new")
    assert path.read_text() == "new"
    windows.hold(path, times=100)  # open in Excel: never let go
    with pytest.raises(PermissionError, match=r"results\.csv.*another program"):
        write_text_atomic(path, "newer")
    assert path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"]  # no temporary file left


def test_files_replaced_together_wait_for_a_held_one(tmp_path, windows):
    targets = [tmp_path / "images.zip", tmp_path / "annotations.zip"]
    windows.hold(targets[1], times=1)
    with replaced_together(targets) as temps:
        for temp, text in zip(temps, ("images", "annotations"), strict=True):
            temp.write_text(text)
    assert [t.read_text() for t in targets] == ["images", "annotations"]


def test_extraction_replaces_its_folder_the_windows_way(tmp_path, windows):
    archive = tmp_path / "images.zip"
    for content in (b"first", b"second"):
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("a.png", content)
        windows.hold(tmp_path / "images", times=1)
        extract_zip(archive, tmp_path / "images")
        assert (tmp_path / "images" / "a.png").read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "images.zip"]
