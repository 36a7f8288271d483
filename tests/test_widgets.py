"""The upload widget captions each uploaded image with the model: a tiny captioner trained to
say a known caption for each of two known images must say it for the uploaded files too."""

import io
from datetime import datetime, timezone

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.config import load_config
from helpers.device import DeviceChoice
from helpers.eval.inference import caption_images
from helpers.model.loading import build_offline_processor, build_stand_in
from helpers.viz.widgets import caption_upload_widget, caption_uploads

CPU = DeviceChoice("cpu", "fp32", "test", "test")
# two images the model cannot confuse, and the caption it learns for each
KNOWN = {
    "dark.png": (np.zeros((20, 20, 3), np.uint8), "no deformation is visible"),
    "bright.png": (np.full((20, 20, 3), 255, np.uint8), "strong fringes near the volcano"),
}
MAX_STEPS = 300


@pytest.fixture(scope="module")
def setup():
    """The tiny stand-in, trained (seeded) until it captions each known image as ``KNOWN``."""
    cfg = load_config("smoke", max_new_tokens=8)
    model = build_stand_in("random:tiny", cfg.image_size, seed=0)
    processor = build_offline_processor(cfg.image_size)
    images = [Image.fromarray(pixels) for pixels, _ in KNOWN.values()]
    captions = [caption for _, caption in KNOWN.values()]
    batch = processor(images=images, text=captions, padding=True, return_tensors="pt")
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    torch.manual_seed(0)
    for step in range(MAX_STEPS):
        model.train()
        model(**batch, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if (
            step % 10 == 9
            and caption_images(model, processor, images, cfg, CPU, progress=False) == captions
        ):
            return model, processor, cfg
    pytest.fail(f"the tiny model did not learn the two known captions in {MAX_STEPS} steps")


def _png(name: str, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(KNOWN[name][0]).convert(mode).save(buffer, format="PNG")
    return buffer.getvalue()


def test_uploads_are_captioned_in_order_and_bad_files_reported(setup):
    model, processor, cfg = setup
    uploads = [
        {"name": "b.png", "content": memoryview(_png("bright.png"))},
        {"name": "notes.txt", "content": memoryview(b"hello")},
        {"name": "d.png", "content": memoryview(_png("dark.png", mode="L"))},  # greyscale file
    ]
    captions = caption_uploads(uploads, model, processor, cfg, CPU)
    assert [name for name, _ in captions] == ["b.png", "notes.txt", "d.png"]
    assert captions[0][1] == KNOWN["bright.png"][1]
    assert captions[1][1].startswith("cannot read this file as an image")
    assert captions[2][1] == KNOWN["dark.png"][1]


def test_widget_prints_the_caption_of_the_uploaded_image(setup):
    model, processor, cfg = setup
    box = caption_upload_widget(model, processor, cfg, CPU)
    upload, output = box.children

    def send(name: str) -> str:
        upload.value = (
            {
                "name": name,
                "type": "image/png",
                "size": 1,
                "content": memoryview(_png(name)),
                "last_modified": datetime.now(timezone.utc),
            },
        )
        return "".join(item.get("text", "") for item in output.outputs)

    assert send("dark.png") == f"dark.png: {KNOWN['dark.png'][1]}\n"
    # a second upload replaces what was printed
    assert send("bright.png") == f"bright.png: {KNOWN['bright.png'][1]}\n"
