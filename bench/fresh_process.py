"""Shared by the benchmarks: run one measurement in a new forked process, with a time limit.

Each row of a benchmark runs in its own process, so its peak memory (device memory on GPUs, the
process's peak resident memory on the CPU), its compiled kernels and an out-of-memory error stay
its own. The parent must run no torch ops before forking: a forked child must inherit neither a
started thread pool nor an initialised CUDA or XPU context.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable
from typing import Any

TIMEOUT_KEY = "timed_out_after_s"


def _child(connection: Any, fn: Callable[..., dict], fn_args: tuple) -> None:
    try:
        connection.send(fn(*fn_args))
    except BaseException as error:  # e.g. out of memory: report the row, keep the others
        traceback.print_exc()
        connection.send({"error": f"{type(error).__name__}: {error}"})
    finally:
        connection.close()


def in_fresh_process(
    fn: Callable[..., dict], *fn_args: Any, timeout_s: float | None = None
) -> dict:
    """``fn(*fn_args)`` in a new forked process. An exception becomes ``{"error": ...}``; a
    child still running after ``timeout_s`` seconds is killed and reported as
    ``{"error": ..., "timed_out_after_s": timeout_s}``."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(sender, fn, fn_args), daemon=True)
    child.start()
    sender.close()
    try:
        if receiver.poll(timeout_s):
            try:
                return receiver.recv()
            except EOFError:
                pass  # the child died without a word (killed, e.g. by the kernel's OOM killer)
        else:
            return {"error": f"stopped after {timeout_s:.0f} s", TIMEOUT_KEY: timeout_s}
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receiver.close()
    return {"error": f"the row's process died (exit code {child.exitcode})"}
