"""METEOR's Java scorer, started once per Python process and reused.

pycocoevalcap's ``Meteor()`` starts a Java program that loads its paraphrase tables before it
scores anything: about 9 s on a 2-core AMD EPYC, while scoring a test split then takes
milliseconds. Notebook 04 scores five sets of captions and the test suite hundreds, so one
process, started on first use, serves them all (``bench/results/ci_clock_*.md`` shows what it
saved). A scorer that fails or exits is dropped and the next call starts a new one; a forked
child starts its own rather than write into its parent's pipe.
"""

from __future__ import annotations

import atexit
import os
import threading

from pycocoevalcap.meteor.meteor import Meteor

_lock = threading.Lock()
_scorer: Meteor | None = None
_owner_pid = 0
# a forked child keeps its parent's scorer referenced and never closes it (that would stop the
# parent's Java process)
_inherited: list[Meteor] = []


def meteor_score(gts: dict, res: dict) -> tuple[float, list[float]]:
    """``Meteor().compute_score(gts, res)`` on this process's running scorer: (corpus value,
    per-sample values). Raises what the scorer raises, after dropping it."""
    global _scorer
    with _lock:
        scorer = _running_scorer()
        try:
            return scorer.compute_score(gts, res)
        except BaseException:
            _scorer = None
            _stop(scorer)
            raise


def _running_scorer() -> Meteor:
    global _scorer, _owner_pid
    if _scorer is not None and _owner_pid != os.getpid():
        _inherited.append(_scorer)
        _scorer = None
    if _scorer is not None and _scorer.meteor_p.poll() is not None:
        _scorer = None  # its Java process exited
    if _scorer is None:
        _scorer, _owner_pid = Meteor(), os.getpid()
    return _scorer


def _stop(scorer: Meteor) -> None:
    """End a scorer's Java process. pycocoevalcap keeps its lock held when scoring fails, and
    its ``__del__`` waits for that lock: release it first."""
    if scorer.lock.locked():
        scorer.lock.release()
    scorer.meteor_p.kill()
    scorer.meteor_p.wait()


@atexit.register
def _close() -> None:
    global _scorer
    with _lock:
        if _scorer is not None and _owner_pid == os.getpid():
            _stop(_scorer)
        _scorer = None


__all__ = ["meteor_score"]
