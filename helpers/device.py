"""Pick the device and the numeric precision, and say why.

Order: the ``CAPTION_DEVICE`` environment variable (or an explicit argument), else Intel GPU
(``xpu``, native in PyTorch >= 2.5) > NVIDIA GPU (``cuda``) > Apple GPU (``mps``) > ``cpu``.
Precision: bf16 where the device computes it natively (Intel GPUs, CUDA with bf16 support,
CPUs with AVX512-BF16 or AMX), fp16 with loss scaling on older CUDA GPUs, else fp32.

Intel Extension for PyTorch is retired upstream; it is used only if a user already has it.
"""

from __future__ import annotations

import importlib.util
import os
import resource
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

DEVICE_ENV_VAR = "CAPTION_DEVICE"
DEVICE_ORDER = ("xpu", "cuda", "mps", "cpu")
PRECISIONS = ("bf16", "fp16", "fp32")
# accelerate's name for each precision
ACCELERATE_MIXED_PRECISION = {"bf16": "bf16", "fp16": "fp16", "fp32": "no"}
TORCH_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


@dataclass(frozen=True)
class DeviceChoice:
    """The device and precision a run uses, and the reasons, in words."""

    device: str
    precision: str
    device_reason: str
    precision_reason: str
    ipex_loaded: bool = False

    @property
    def torch_device(self) -> torch.device:
        return torch.device(self.device)

    @property
    def dtype(self) -> torch.dtype:
        return TORCH_DTYPES[self.precision]

    @property
    def mixed_precision(self) -> str:
        """The value for ``accelerate.Accelerator(mixed_precision=...)``."""
        return ACCELERATE_MIXED_PRECISION[self.precision]

    def summary(self) -> str:
        line = (
            f"Device: {self.device} ({self.device_reason}); "
            f"precision: {self.precision} ({self.precision_reason})"
        )
        if self.ipex_loaded:
            line += "; Intel Extension for PyTorch loaded (already installed)"
        return line


def is_available(device: str) -> bool:
    """Whether PyTorch can use this device type here."""
    if device == "cpu":
        return True
    if device == "xpu":
        return hasattr(torch, "xpu") and torch.xpu.is_available()
    if device == "cuda":
        return torch.cuda.is_available()
    if device == "mps":
        return hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    return False


def pick_device(requested: str | None = None) -> tuple[str, str]:
    """Return ``(device, reason)``. ``requested`` may be "auto" or a device type."""
    source = "argument"
    if requested in (None, "", "auto"):
        requested = os.environ.get(DEVICE_ENV_VAR, "").strip().lower() or None
        source = f"${DEVICE_ENV_VAR}"
    if requested:
        if requested not in DEVICE_ORDER:
            raise ValueError(
                f"Unknown device {requested!r} (from {source}); "
                f"choose one of {', '.join(DEVICE_ORDER)}."
            )
        if not is_available(requested):
            raise RuntimeError(
                f"Device {requested!r} was requested (from {source}) but PyTorch cannot use it "
                f"here (torch {torch.__version__}). Unset {DEVICE_ENV_VAR} or set device='auto'."
            )
        return requested, f"requested by {source}"
    for device in DEVICE_ORDER:
        if is_available(device):
            skipped = DEVICE_ORDER[: DEVICE_ORDER.index(device)]
            reason = "first available in order xpu > cuda > mps > cpu"
            if skipped:
                reason += f"; not available: {', '.join(skipped)}"
            return device, reason
    raise AssertionError("unreachable: cpu is always available")


def cpu_supports_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True when the CPU has native bf16 math (AVX512-BF16 or AMX); False when unknown."""
    try:
        flags = cpuinfo.read_text(errors="ignore").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def pick_precision(device: str, requested: str = "auto") -> tuple[str, str]:
    """Return ``(precision, reason)`` for a device; ``requested`` may force one."""
    if requested not in ("auto", *PRECISIONS):
        raise ValueError(f"Unknown precision {requested!r}; choose auto, {', '.join(PRECISIONS)}.")
    if requested != "auto":
        return requested, "requested"
    if device == "xpu":
        return "bf16", "Intel GPUs compute bf16 natively"
    if device == "cuda":
        if torch.cuda.is_bf16_supported():
            return "bf16", "this CUDA GPU supports bf16"
        return "fp16", "this CUDA GPU lacks bf16; fp16 with loss scaling"
    if device == "cpu" and cpu_supports_bf16():
        return "bf16", "this CPU has AVX512-BF16/AMX"
    return "fp32", f"no fast half precision on {device} here"


def maybe_load_ipex() -> bool:
    """Import Intel Extension for PyTorch if (and only if) the user already installed it."""
    if importlib.util.find_spec("intel_extension_for_pytorch") is None:
        return False
    try:
        import intel_extension_for_pytorch  # noqa: F401
    except Exception:  # an installed-but-mismatched IPEX must not break the run
        return False
    return True


def choose_device(device: str = "auto", precision: str = "auto") -> DeviceChoice:
    """Pick device and precision (see the module docstring) and return them with reasons."""
    name, device_reason = pick_device(device)
    ipex = maybe_load_ipex() if name == "xpu" else False
    prec, precision_reason = pick_precision(name, precision)
    return DeviceChoice(name, prec, device_reason, precision_reason, ipex)


def reset_peak_memory(device: str) -> None:
    """Start a new peak-memory measurement on a GPU (the CPU's peak cannot be reset)."""
    if device in ("cuda", "xpu"):
        getattr(torch, device).reset_peak_memory_stats()


def peak_memory_mb(device: str) -> float:
    """Peak memory in MiB: allocated device memory since the last reset on CUDA/XPU, the current
    allocation on MPS, and on the CPU the process's peak resident memory since it started."""
    if device in ("cuda", "xpu"):
        return getattr(torch, device).max_memory_allocated() / 2**20
    if device == "mps":
        return torch.mps.current_allocated_memory() / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10
