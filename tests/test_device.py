import pytest
import torch

from helpers import device as dev


def test_auto_on_a_cpu_only_machine_picks_cpu_and_says_why(monkeypatch):
    monkeypatch.delenv("CAPTION_DEVICE", raising=False)
    monkeypatch.setattr(dev, "is_available", lambda d: d == "cpu")
    choice = dev.choose_device()
    assert choice.device == "cpu"
    assert "not available: xpu, cuda, mps" in choice.device_reason
    assert choice.summary().startswith("Device: cpu (")


def test_order_prefers_xpu_then_cuda(monkeypatch):
    monkeypatch.delenv("CAPTION_DEVICE", raising=False)
    monkeypatch.setattr(dev, "is_available", lambda d: d in ("cuda", "xpu", "cpu"))
    assert dev.pick_device()[0] == "xpu"
    monkeypatch.setattr(dev, "is_available", lambda d: d in ("cuda", "mps", "cpu"))
    assert dev.pick_device()[0] == "cuda"
    monkeypatch.setattr(dev, "is_available", lambda d: d in ("mps", "cpu"))
    assert dev.pick_device()[0] == "mps"


def test_environment_override(monkeypatch):
    monkeypatch.setenv("CAPTION_DEVICE", "cpu")
    monkeypatch.setattr(dev, "is_available", lambda d: True)
    name, reason = dev.pick_device("auto")
    assert name == "cpu" and "CAPTION_DEVICE" in reason


def test_unavailable_or_unknown_device_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(dev, "is_available", lambda d: d == "cpu")
    with pytest.raises(RuntimeError, match="'xpu' was requested"):
        dev.pick_device("xpu")
    with pytest.raises(ValueError, match="Unknown device 'tpu'"):
        dev.pick_device("tpu")


def test_cpu_bf16_detection_reads_cpu_flags(tmp_path):
    with_amx = tmp_path / "amx"
    with_amx.write_text("flags\t: fpu sse avx2 amx_bf16 amx_tile\n")
    without = tmp_path / "plain"
    without.write_text("flags\t: fpu sse avx2\n")
    assert dev.cpu_supports_bf16(with_amx)
    assert not dev.cpu_supports_bf16(without)
    assert not dev.cpu_supports_bf16(tmp_path / "missing")


def test_choice_maps_to_accelerate_and_torch():
    choice = dev.DeviceChoice("cpu", "bf16", "r", "r")
    assert choice.mixed_precision == "bf16"
    assert choice.dtype is torch.bfloat16
    assert dev.DeviceChoice("cpu", "fp32", "r", "r").mixed_precision == "no"
    assert choice.torch_device == torch.device("cpu")


def test_xpu_advice_says_which_part_is_missing(monkeypatch):
    monkeypatch.delenv("CAPTION_DEVICE", raising=False)
    monkeypatch.setattr(dev, "is_available", lambda d: d == "cpu")
    assert dev.xpu_advice("auto") is None and dev.xpu_advice("cuda") is None
    monkeypatch.setattr(torch.version, "xpu", None, raising=False)
    build = dev.xpu_advice("xpu")
    assert "built without Intel GPU support" in build and dev.XPU_INDEX_URL in build
    assert "\n" not in build
    monkeypatch.setenv("CAPTION_DEVICE", "xpu")  # asked for through the environment
    assert dev.xpu_advice("auto") == build
    with pytest.raises(RuntimeError, match="built without Intel GPU support"):
        dev.pick_device("auto")
    monkeypatch.setattr(torch.version, "xpu", "20250101", raising=False)
    assert dev.XPU_DRIVER_DOCS in dev.xpu_advice("xpu")
    monkeypatch.setattr(dev, "is_available", lambda d: True)
    assert dev.xpu_advice("xpu") is None


def test_cpu_peak_memory_comes_from_psutil_on_windows(monkeypatch, tmp_path):
    class WindowsMemory:  # psutil's pmem on Windows carries the peak working set
        rss = 100 * 2**20
        peak_wset = 300 * 2**20

    class Process:
        def memory_info(self):
            return WindowsMemory()

    monkeypatch.setattr(dev.psutil, "Process", Process)
    assert dev.peak_memory_mb("cpu") == 300.0
    del WindowsMemory.peak_wset  # Linux: VmHWM from /proc; elsewhere the current size
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nVmHWM:\t  409600 kB\nVmRSS:\t 1024 kB\n")
    assert dev.process_peak_memory_bytes(status) == 400 * 2**20
    assert dev.process_peak_memory_bytes(tmp_path / "missing") == 100 * 2**20


def test_peak_memory_accepts_an_indexed_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda: 2**30)
    assert dev.peak_memory_mb("cuda:0") == 1024.0
