"""Which frame notebook 09 screens: the user's LiCSAR file, or, in the offline profiles only, a
synthetic LiCSAR-shaped frame written into the output folder."""

from __future__ import annotations

from pathlib import Path

from helpers.config import CaptionConfig
from helpers.geo.licsar import COHERENCE_SUFFIX, PHASE_SUFFIX, find_phase_file
from helpers.geo.screening import OUTPUT_FOLDER
from helpers.geo.synthetic_frame import SMOKE, write_synthetic_frame

STAND_IN_FOLDER = "synthetic_frame"  # under <cfg.output_dir>/licsar


def no_frame_message() -> str:
    """What the ``full`` profile says without a frame: which files, from where, and the demo."""
    return (
        "No LiCSAR frame given. The full profile screens a real interferogram: set PHASE_FILE to "
        f"a <primary>_<secondary>{PHASE_SUFFIX} (wrapped phase) with its "
        f"<primary>_<secondary>{COHERENCE_SUFFIX} (coherence) beside it, or to the folder of "
        "that pair. LiCSAR publishes them per Sentinel-1 frame on the COMET-LiCS portal (search "
        "the frame ID covering your volcano, e.g. 124D_05291_081406, then its interferograms). "
        'Or run offline on a synthetic frame: CAPTION_PROFILE=demo (or load_config("demo")).'
    )


def frame_to_screen(cfg: CaptionConfig, phase_file: str | Path | None, seed: int = 0) -> Path:
    """The wrapped-phase file to screen: ``phase_file`` (a file or its pair's folder); without
    one, a synthetic frame in ``demo``/``smoke`` (small in ``smoke``), or a clear error in
    ``full``, which never makes up data."""
    if phase_file:
        return find_phase_file(phase_file)
    if not cfg.synthetic_data:
        raise FileNotFoundError(no_frame_message())
    size = SMOKE if cfg.profile == "smoke" else {}
    folder = Path(cfg.output_dir) / OUTPUT_FOLDER / STAND_IN_FOLDER
    return write_synthetic_frame(folder, seed, **size).phase


__all__ = ["STAND_IN_FOLDER", "frame_to_screen", "no_frame_message"]
