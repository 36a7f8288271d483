"""Pick the device and the numeric precision, and say why.

Order: the ``CAPTION_DEVICE`` environment variable (or an explicit argument), else Intel GPU
(``xpu``, native in PyTorch >= 2.5) > NVIDIA GPU (``cuda``) > Apple GPU (``mps``) > ``cpu``.
Precision: bf16 only where the device computes it natively (an Intel GPU or an NVIDIA GPU that
says so when torch asks without counting emulation, a CPU with AVX512-BF16 or AMX), fp16 with a
loss scaler on NVIDIA GPUs without native bf16 (T4, V100: their emulated bf16 is slow), else fp32.

Intel Extension for PyTorch is retired upstream; it is used only if a user already has it. Nothing
here is POSIX-only: peak memory comes from the device APIs and ``psutil``, so Windows works too.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import psutil
import torch

DEVICE_ENV_VAR = "CAPTION_DEVICE"
DEVICE_ORDER = ("xpu", "cuda", "mps", "cpu")
PRECISIONS = ("bf16", "fp16", "fp32")
# accelerate's name for each precision
ACCELERATE_MIXED_PRECISION = {"bf16": "bf16", "fp16": "fp16", "fp32": "no"}
TORCH_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
XPU_INDEX_URL = "https://download.pytorch.org/whl/xpu"
XPU_DRIVER_DOCS = "https://docs.pytorch.org/docs/stable/notes/get_start_xpu.html"


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


def requested_device(requested: str | None = None) -> tuple[str | None, str]:
    """``(device asked for or None for automatic, where it came from)``: the argument unless it
    is "auto", else ``$CAPTION_DEVICE``."""
    if requested not in (None, "", "auto"):
        return requested, "argument"
    return os.environ.get(DEVICE_ENV_VAR, "").strip().lower() or None, f"${DEVICE_ENV_VAR}"


def xpu_advice(requested: str | None = None) -> str | None:
    """One line of advice when an Intel GPU (``xpu``) was asked for and PyTorch cannot use one
    here; None otherwise. Says whether the PyTorch build or the driver is missing."""
    if requested_device(requested)[0] != "xpu" or is_available("xpu"):
        return None
    if getattr(torch.version, "xpu", None) is None:
        return (
            f"device='xpu' was asked for, but this PyTorch ({torch.__version__}) was built "
            f"without Intel GPU support: get PyTorch's XPU build with `UV_INDEX={XPU_INDEX_URL} "
            "uv run jupyter-lab` (docs/hardware.md, section Intel GPUs)."
        )
    return (
        "device='xpu' was asked for and this PyTorch has Intel GPU support, but it sees no Intel "
        f"GPU: install or update the Intel GPU driver ({XPU_DRIVER_DOCS})."
    )


def pick_device(requested: str | None = None) -> tuple[str, str]:
    """Return ``(device, reason)``. ``requested`` may be "auto" or a device type."""
    requested, source = requested_device(requested)
    if requested:
        if requested not in DEVICE_ORDER:
            raise ValueError(
                f"Unknown device {requested!r} (from {source}); "
                f"choose one of {', '.join(DEVICE_ORDER)}."
            )
        if not is_available(requested):
            advice = xpu_advice(requested)
            raise RuntimeError(
                f"Device {requested!r} was requested (from {source}) but PyTorch cannot use it "
                f"here (torch {torch.__version__}). Unset {DEVICE_ENV_VAR} or set device='auto'."
                + (f" {advice}" if advice else "")
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
        query = getattr(torch.xpu, "is_bf16_supported", None)
        if query is None:
            return "fp32", "this PyTorch cannot say whether the Intel GPU computes bf16"
        if native_bf16(query):
            return "bf16", "this Intel GPU computes bf16 natively"
        return "fp32", "this Intel GPU has no native bf16"
    if device == "cuda":
        if native_bf16(torch.cuda.is_bf16_supported):
            return "bf16", "this CUDA GPU computes bf16 natively"
        return (
            "fp16",
            "this CUDA GPU has no native bf16 (only slow emulation); fp16 with loss scaling",
        )
    if device == "cpu" and cpu_supports_bf16():
        return "bf16", "this CPU has AVX512-BF16/AMX"
    return "fp32", f"no fast half precision on {device} here"


def native_bf16(query: Callable[..., bool]) -> bool:
    """Ask a ``torch.<device>.is_bf16_supported`` whether bf16 is native, not emulated (torch
    versions without the ``including_emulation`` argument answer for native support)."""
    try:
        return bool(query(including_emulation=False))
    except TypeError:
        return bool(query())


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


def gpu_module(device: str) -> ModuleType | None:
    """``torch.cuda`` or ``torch.xpu`` for a GPU device ("cuda", "xpu:0"), else None: the one
    place that knows both share the same memory-statistics and synchronisation API."""
    name = device.split(":")[0]
    return getattr(torch, name) if name in ("cuda", "xpu") else None


def synchronize(device: str) -> None:
    """Wait until the GPU has finished its queued work (nothing to wait for elsewhere)."""
    gpu = gpu_module(device)
    if gpu is not None:
        gpu.synchronize()


def reset_peak_memory(device: str) -> None:
    """Start a new peak-memory measurement on a GPU (the CPU's peak cannot be reset)."""
    gpu = gpu_module(device)
    if gpu is not None:
        gpu.reset_peak_memory_stats()


def peak_memory_mb(device: str) -> float:
    """Peak memory in MiB: allocated device memory since the last reset on CUDA/XPU, the current
    allocation on MPS, and on the CPU the process's peak resident memory since it started
    (``process_peak_memory_bytes``). ``device`` may carry an index ("cuda:0")."""
    gpu = gpu_module(device)
    if gpu is not None:
        return gpu.max_memory_allocated() / 2**20
    if device.split(":")[0] == "mps":
        return torch.mps.current_allocated_memory() / 2**20
    return process_peak_memory_bytes() / 2**20


def peak_reserved_memory_mb(device: str) -> float | None:
    """Peak memory the caching allocator reserved from a GPU since the last reset, in MiB (what
    the card must hold); None where there is no such counter (CPU, MPS)."""
    gpu = gpu_module(device)
    return None if gpu is None else gpu.max_memory_reserved() / 2**20


def cap_process_memory(device: str, fraction: float) -> bool:
    """Let this process allocate at most ``fraction`` of the GPU's memory (larger allocations
    raise ``torch.OutOfMemoryError``); False where the device or this PyTorch has no such cap."""
    setter = getattr(gpu_module(device), "set_per_process_memory_fraction", None)
    if setter is None:
        return False
    setter(fraction)
    return True


def process_peak_memory_bytes(status: Path = Path("/proc/self/status")) -> int:
    """This process's peak resident memory in bytes, through ``psutil``: the peak working set on
    Windows, ``VmHWM`` on Linux; where neither exists (macOS), the current resident size."""
    info = psutil.Process().memory_info()
    peak = getattr(info, "peak_wset", None)  # Windows
    if peak is None:
        peak = _linux_peak_rss(status)
    return max(peak or 0, info.rss)


def _linux_peak_rss(status: Path) -> int | None:
    try:
        lines = status.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024  # kB
    return None
