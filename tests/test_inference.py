import numpy as np
import pytest
import torch
from PIL import Image

from helpers.config import load_config
from helpers.device import DeviceChoice
from helpers.eval.inference import caption_folder, caption_image, caption_images, generation_kwargs
from helpers.model.loading import build_offline_processor, build_stand_in
from helpers.model.lora import apply_lora

CPU = DeviceChoice("cpu", "fp32", "test", "test")


@pytest.fixture(scope="module")
def cfg():
    return load_config("smoke", max_new_tokens=8)


def image_sensitive_stand_in(image_size: int):
    """A tiny random BLIP whose captions depend on the image: the default init (std 0.02) makes
    every caption the same, which would let a batched-vs-single mix-up go unnoticed."""
    model = build_stand_in("random:tiny", image_size, seed=3)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() > 1:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.3)
    return model


@pytest.fixture(scope="module")
def captioner(cfg):
    return image_sensitive_stand_in(cfg.image_size), build_offline_processor(cfg.image_size)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (40, 40, 3), np.uint8)) for _ in range(7)]


def test_batched_and_one_at_a_time_give_the_same_captions(captioner, images, cfg):
    model, processor = captioner
    batched = caption_images(model, processor, images, cfg, CPU, batch_size=4, progress=False)
    single = [caption_image(model, processor, image, cfg, CPU) for image in images]
    assert batched == single
    assert len(batched) == len(images)
    assert len(set(batched)) > 1  # random weights, different images: not one constant caption


def test_decoding_knobs_reach_generate(captioner, images, cfg, monkeypatch):
    model, processor = captioner
    seen = {}
    original = model.generate

    def spy(**kwargs):
        seen.update(kwargs)
        return original(**kwargs)

    monkeypatch.setattr(model, "generate", spy)
    beams = cfg.with_overrides(num_beams=2, length_penalty=0.5, repetition_penalty=1.3)
    caption_images(model, processor, images[:2], beams, CPU, progress=False)
    assert seen["num_beams"] == 2 and seen["length_penalty"] == 0.5
    assert seen["repetition_penalty"] == 1.3 and seen["max_new_tokens"] == 8
    assert "length_penalty" not in generation_kwargs(cfg)  # greedy: beam-only knobs left out


def test_lora_wrapped_model_captions_like_its_base(cfg, images):
    processor = build_offline_processor(cfg.image_size)
    base = image_sensitive_stand_in(cfg.image_size)
    expected = caption_images(base, processor, images, cfg, CPU, progress=False)
    assert len(set(expected)) > 1
    lora = apply_lora(image_sensitive_stand_in(cfg.image_size), cfg)
    # fresh LoRA adapters start as a no-op (B = 0), so the captions must not change
    assert caption_images(lora, processor, images, cfg, CPU, progress=False) == expected


def test_folder_captioning_reports_unreadable_files(captioner, images, cfg, tmp_path, capsys):
    model, processor = captioner
    for index, image in enumerate(images[:3]):
        image.save(tmp_path / f"img_{index}.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    (tmp_path / "notes.txt").write_text("ignored")
    out_csv = tmp_path / "out" / "captions.csv"
    result = caption_folder(tmp_path, model, processor, cfg, CPU, out_csv=out_csv)
    assert list(result.table["image"]) == ["img_0.png", "img_1.png", "img_2.png"]
    assert [path.name for path, _ in result.unreadable] == ["broken.png"]
    assert "skipped broken.png" in capsys.readouterr().out
    assert out_csv.read_text().splitlines()[0] == "image,caption"
    assert list(result.table["caption"]) == caption_images(
        model, processor, images[:3], cfg, CPU, progress=False
    )


def test_bad_inputs_are_clear(captioner, cfg, tmp_path):
    model, processor = captioner
    with pytest.raises(FileNotFoundError, match="no images"):
        caption_images(model, processor, tmp_path, cfg, CPU)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"junk")
    with pytest.raises(ValueError, match="bad.png"):
        caption_images(model, processor, [bad], cfg, CPU, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        caption_images(model, processor, [bad], cfg, CPU, batch_size=0)


@pytest.mark.parametrize(
    "oom",
    [
        lambda: torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB"),
        lambda: RuntimeError("MPS backend out of memory (MPS allocated: 7.9 GiB)"),
    ],
)
def test_captioning_halves_its_batch_on_out_of_memory_with_the_same_captions(
    cfg, captioner, images, oom, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    model, processor = captioner
    expected = caption_images(model, processor, images, cfg, CPU, batch_size=4, progress=False)
    assert len(set(expected)) > 1  # the captions depend on the image
    generate, sizes = model.generate, []

    def limited_generate(pixel_values, **kwargs):
        sizes.append(pixel_values.shape[0])
        if pixel_values.shape[0] > 2:
            raise oom()
        return generate(pixel_values=pixel_values, **kwargs)

    monkeypatch.setattr(model, "generate", limited_generate)
    got = caption_images(model, processor, images, cfg, CPU, batch_size=4, progress=False)
    assert got == expected
    assert sizes == [4, 2, 2, 2, 1]  # 7 images: one failed batch of 4, then 2 + 2 + 2 + 1
    assert "captioning: out of cpu memory; continuing with batches of 2." in capsys.readouterr().out
