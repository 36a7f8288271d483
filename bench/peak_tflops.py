"""Peak dense throughput of known accelerators, for MFU (model FLOPs utilisation).

Figures are the vendors' dense (no 2:4 sparsity) peaks in TFLOP/s: bf16 on the tensor cores, and
fp32 without TF32 (PyTorch's default ``torch.get_float32_matmul_precision() == "highest"``
keeps fp32 matrix products off the tensor cores). Sources: NVIDIA's H100 Tensor Core GPU
datasheet (H100 SXM: bf16 989, fp32 67; H100 PCIe: bf16 756, fp32 51; its sparse figures are
twice these), NVIDIA's H200 datasheet (H200 SXM: the H100 SXM's figures), NVIDIA's A100
datasheet (bf16 312, fp32 19.5, SXM and PCIe alike). Devices not listed here (Intel GPUs among
them), or listed without figures (variants with other clocks), need ``--peak-tflops``.
"""

from __future__ import annotations

# substring of the device name (as torch.cuda/torch.xpu.get_device_name reports it) -> (bf16,
# fp32) dense TFLOP/s; the longest matching key wins; None: a known variant without figures here
PEAK_TFLOPS: dict[str, tuple[float, float] | None] = {
    "H100": (989.0, 67.0),  # "NVIDIA H100 80GB HBM3": the SXM module
    "H100 PCIe": (756.0, 51.0),
    "H100 NVL": None,
    "H200": (989.0, 67.0),  # "NVIDIA H200": the SXM module
    "H200 NVL": None,
    "A100": (312.0, 19.5),
}


def parse_peak_tflops(text: str) -> dict[str, float]:
    """``--peak-tflops``: "989" (bf16 only) or "bf16=989,fp32=67"."""
    peaks: dict[str, float] = {}
    for part in text.split(","):
        precision, _, value = part.rpartition("=")
        precision = precision.strip().lower() or "bf16"
        if precision not in ("bf16", "fp32"):
            raise ValueError(f"--peak-tflops {text!r}: {precision!r} is neither bf16 nor fp32")
        try:
            peaks[precision] = float(value)
        except ValueError:
            raise ValueError(f"--peak-tflops {text!r}: {value!r} is not a number") from None
    return peaks


def peak_tflops(device_name: str, override: str | None = None) -> dict:
    """The peaks to divide by: ``--peak-tflops`` when given, else the table's entry for
    ``device_name``; ``{"source": ...}`` says which (no figures when neither has them)."""
    if override:
        return {**parse_peak_tflops(override), "source": "--peak-tflops"}
    matches = [key for key in PEAK_TFLOPS if key.lower() in device_name.lower()]
    if not matches:
        return {"source": f"{device_name!r} is not in bench/peak_tflops.py: pass --peak-tflops"}
    key = max(matches, key=len)
    figures = PEAK_TFLOPS[key]
    if figures is None:
        return {"source": f"{device_name!r} ({key}) has no figures here: pass --peak-tflops"}
    return {"bf16": figures[0], "fp32": figures[1], "source": f"bench/peak_tflops.py: {key}"}


def model_flops_utilisation(
    flops_per_step: float, step_s: float, precision: str, peaks: dict
) -> tuple[float, float | None]:
    """(achieved TFLOP/s, MFU or None when there is no peak for ``precision``)."""
    achieved = flops_per_step / step_s / 1e12
    peak = peaks.get(precision)
    return achieved, (achieved / peak if peak else None)
