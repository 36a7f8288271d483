"""Benchmark: the test suite's clock from a fresh clone, as CI runs it.

    python3 bench/ci_clock.py                      # clone HEAD, run .ci/run, report
    python3 bench/ci_clock.py --ref 4f161f9 --label before
    python3 bench/ci_clock.py --junit run.xml --wall-s 1740 --label before   # an earlier run

Clones the repository at ``--ref`` into a scratch folder with ``shared/`` linked beside the clone
(as CI has it), runs ``bash .ci/run`` there with pytest's JUnit report switched on, and writes
``results/ci_clock_<label>.{json,md}`` next to this script: the whole command's wall time (uv's
install included: fast when uv's download cache is warm, as on a machine that ran it before), the
time pytest reports, how many tests passed, the CPU (its model and whether it has AVX512 and
native bf16, the two things that set CPU training speed), the slowest files (the sum of their
tests' setup, call and teardown) and the slowest tests. With ``pytest-xdist --dist loadfile`` a
file runs whole on one worker, so the slowest file bounds the suite from below.

The clone is deleted afterwards; nothing is written into the repository but the report.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

RESULTS_DIR = Path(__file__).parent / "results"
REPO = Path(__file__).resolve().parent.parent
SLOWEST_FILES = 10
SLOWEST_TESTS = 25


def cpu_kind(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, object]:
    """The CPU's model, cores and the vector features that decide CPU training speed."""
    try:
        text = cpuinfo.read_text(errors="ignore")
    except OSError:
        text = ""
    model = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    flag_line = re.search(r"^flags\s*:(.*)$", text, re.MULTILINE)
    flags = set(flag_line[1].split()) if flag_line else set()
    return {
        "model": model[1].strip() if model else platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "avx512": "avx512f" in flags,
        "native_bf16": bool({"avx512_bf16", "amx_bf16"} & flags),
    }


def test_times(junit: Path) -> dict[str, float]:
    """Seconds per test (setup + call + teardown, as pytest's JUnit report counts them), keyed
    ``tests/<file>.py::<name>``."""
    times: dict[str, float] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        module = case.get("classname", "").split(".")
        # classname is "tests.test_x" or "tests.test_x.TestClass"
        file_parts = [p for p in module if not p[:1].isupper()]
        key = "/".join(file_parts) + ".py::" + case.get("name", "")
        times[key] = times.get(key, 0.0) + float(case.get("time", 0.0))
    return times


def suite_counts(junit: Path) -> dict[str, float]:
    """Tests, failures, errors, skips and pytest's own time from the JUnit report."""
    root = ET.parse(junit).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    keys = ("tests", "failures", "errors", "skipped")
    counts: dict[str, float] = {k: int(suite.get(k, 0)) for k in keys}
    counts["pytest_s"] = round(float(suite.get("time", 0.0)), 1)
    return counts


def by_file(times: dict[str, float]) -> dict[str, float]:
    files: dict[str, float] = defaultdict(float)
    for key, seconds in times.items():
        files[key.split("::")[0]] += seconds
    return dict(files)


def run_fresh_clone(ref: str, junit: Path) -> tuple[float, int, str]:
    """Clone ``ref`` into a scratch folder (``shared/`` linked beside it), run ``.ci/run``;
    return (wall seconds, exit code, the output's last lines)."""
    with tempfile.TemporaryDirectory(prefix="ci-clock-") as scratch:
        clone = Path(scratch) / "repo"
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
        subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", ref], check=True)
        shared = REPO.parent / "shared"
        if shared.is_dir():
            os.symlink(shared, Path(scratch) / "shared")
        env = dict(os.environ, PYTEST_ADDOPTS=f"--junitxml={junit}")
        start = time.perf_counter()
        done = subprocess.run(
            ["bash", ".ci/run"], cwd=clone, env=env, capture_output=True, text=True
        )
        wall = time.perf_counter() - start
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
        shutil.rmtree(clone, ignore_errors=True)
    return wall, done.returncode, tail


def report(label: str, ref: str, wall_s: float, junit: Path, note: str) -> dict:
    times = test_times(junit)
    files = sorted(by_file(times).items(), key=lambda kv: -kv[1])
    tests = sorted(times.items(), key=lambda kv: -kv[1])
    return {
        "label": label,
        "ref": ref,
        "command": "git clone, then bash .ci/run (pytest with --junitxml)",
        "note": note,
        "cpu": cpu_kind(),
        "wall_s": round(wall_s, 1),
        **suite_counts(junit),
        "test_seconds_total": round(sum(times.values()), 1),
        "slowest_files": [{"file": f, "s": round(s, 1)} for f, s in files[:SLOWEST_FILES]],
        "slowest_tests": [{"test": t, "s": round(s, 1)} for t, s in tests[:SLOWEST_TESTS]],
    }


def markdown(result: dict) -> str:
    cpu = result["cpu"]
    lines = [
        f"# The suite's clock: {result['label']} ({result['ref']})",
        "",
        f"`{result['command']}` on {cpu['cores']} cores of an {cpu['model']} "
        f"(AVX512: {'yes' if cpu['avx512'] else 'no'}, native bf16: "
        f"{'yes' if cpu['native_bf16'] else 'no'}). {result['note']}".rstrip(),
        "",
        f"- whole command: **{result['wall_s'] / 60:.1f} min** ({result['wall_s']:.0f} s)",
        f"- pytest: {result['pytest_s']:.0f} s; {result['tests']} tests, "
        f"{result['failures']} failed, {result['errors']} errors, {result['skipped']} skipped",
        f"- the tests' own seconds added up: {result['test_seconds_total']:.0f} s (2 workers)",
        "",
        "| slowest files | s |",
        "| --- | ---: |",
        *(f"| {row['file']} | {row['s']:.0f} |" for row in result["slowest_files"]),
        "",
        "| slowest tests | s |",
        "| --- | ---: |",
        *(f"| `{row['test']}` | {row['s']:.0f} |" for row in result["slowest_tests"]),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", default="HEAD", help="commit to clone and run")
    parser.add_argument("--label", default="after", help="names the report file")
    parser.add_argument("--junit", type=Path, help="report an earlier run's JUnit file instead")
    parser.add_argument("--wall-s", type=float, help="that earlier run's wall seconds")
    parser.add_argument("--note", default="", help="a sentence for the report")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()
    ref = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", args.ref],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if args.junit:
        if args.wall_s is None:
            parser.error("--junit needs --wall-s (the run's wall-clock seconds)")
        result = report(args.label, ref, args.wall_s, args.junit, args.note)
    else:
        with tempfile.TemporaryDirectory(prefix="ci-clock-junit-") as folder:
            junit = Path(folder) / "junit.xml"
            wall, code, tail = run_fresh_clone(ref, junit)
            print(tail)
            if not junit.is_file():
                raise SystemExit(f".ci/run exited with {code} before pytest wrote its report")
            result = report(args.label, ref, wall, junit, args.note)
            result["exit_code"] = code
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"ci_clock_{args.label}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
