"""METEOR's Java scorer is started once per process and reused (``helpers.eval.meteor``): a
stand-in scorer counts the starts; with Java on PATH the real one is checked too."""

from __future__ import annotations

import threading

import pytest

from helpers.eval import meteor
from helpers.eval.metrics import coco_scores, java_available


class FakeProcess:
    def __init__(self) -> None:
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode

    def kill(self) -> None:
        self.returncode = -9

    def wait(self) -> int | None:
        return self.returncode


class FakeMeteor:
    """pycocoevalcap's Meteor without Java: counts its starts, can be told to fail once."""

    started = 0
    fail_next = False

    def __init__(self) -> None:
        FakeMeteor.started += 1
        self.meteor_p = FakeProcess()
        self.lock = threading.Lock()

    def compute_score(self, gts, res):
        self.lock.acquire()  # as pycocoevalcap does, and keeps it held when the pipe breaks
        if FakeMeteor.fail_next:
            FakeMeteor.fail_next = False
            raise BrokenPipeError("java exited")
        self.lock.release()
        return 0.5, [0.5] * len(gts)


@pytest.fixture(autouse=True)
def fake_scorer(monkeypatch):
    monkeypatch.setattr(meteor, "Meteor", FakeMeteor)
    monkeypatch.setattr(meteor, "_scorer", None)
    monkeypatch.setattr(meteor, "_inherited", [])
    FakeMeteor.started, FakeMeteor.fail_next = 0, False


GTS, RES = {0: ["a dyke"]}, {0: ["a dyke"]}


def test_one_scorer_serves_every_call():
    for _ in range(3):
        assert meteor.meteor_score(GTS, RES) == (0.5, [0.5])
    assert FakeMeteor.started == 1


def test_a_failed_scorer_is_dropped_and_the_next_call_starts_a_new_one():
    meteor.meteor_score(GTS, RES)
    first = meteor._scorer
    FakeMeteor.fail_next = True
    with pytest.raises(BrokenPipeError):
        meteor.meteor_score(GTS, RES)
    assert meteor._scorer is None and first.meteor_p.poll() is not None  # stopped
    assert not first.lock.locked()  # so its __del__ does not wait forever
    assert meteor.meteor_score(GTS, RES) == (0.5, [0.5])
    assert FakeMeteor.started == 2


def test_a_scorer_whose_process_exited_is_restarted():
    meteor.meteor_score(GTS, RES)
    meteor._scorer.meteor_p.returncode = 1
    meteor.meteor_score(GTS, RES)
    assert FakeMeteor.started == 2


def test_a_forked_child_starts_its_own_and_leaves_the_parents_running(monkeypatch):
    meteor.meteor_score(GTS, RES)
    parents = meteor._scorer
    monkeypatch.setattr(meteor.os, "getpid", lambda: meteor._owner_pid + 1)
    meteor.meteor_score(GTS, RES)
    assert FakeMeteor.started == 2 and meteor._scorer is not parents
    assert parents in meteor._inherited and parents.meteor_p.poll() is None


@pytest.mark.skipif(not java_available(), reason="no java on PATH: METEOR is not computed")
def test_the_real_scorer_keeps_one_java_process(monkeypatch):
    monkeypatch.undo()  # the real pycocoevalcap Meteor
    captions = ["a dyke below the summit", "no deformation can be detected"]
    first = coco_scores(captions, captions)
    pid = meteor._scorer.meteor_p.pid
    second = coco_scores(captions[::-1], captions[::-1])
    assert meteor._scorer.meteor_p.pid == pid
    assert first.corpus["meteor"] == pytest.approx(second.corpus["meteor"])
    assert first.corpus["meteor"] > 0.9  # identical captions
