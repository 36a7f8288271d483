import io
from datetime import datetime, timezone

import numpy as np
import pytest
from PIL import Image

from helpers.config import load_config
from helpers.device import DeviceChoice
from helpers.model.loading import build_offline_processor, build_stand_in
from helpers.viz.widgets import caption_upload_widget, caption_uploads

CPU = DeviceChoice("cpu", "fp32", "test", "test")


@pytest.fixture(scope="module")
def setup():
    cfg = load_config("smoke", max_new_tokens=5)
    model = build_stand_in("random:tiny", cfg.image_size, seed=0)
    return model, build_offline_processor(cfg.image_size), cfg


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_uploads_are_captioned_and_bad_files_reported(setup):
    model, processor, cfg = setup
    uploads = [
        {"name": "good.png", "content": memoryview(_png())},
        {"name": "notes.txt", "content": memoryview(b"hello")},
    ]
    (good_name, caption), (bad_name, message) = caption_uploads(uploads, model, processor, cfg, CPU)
    assert good_name == "good.png" and caption and "cannot read" not in caption
    assert bad_name == "notes.txt" and message.startswith("cannot read this file as an image")


def test_widget_captions_on_upload(setup):
    model, processor, cfg = setup
    box = caption_upload_widget(model, processor, cfg, CPU)
    upload, output = box.children
    upload.value = (
        {
            "name": "x.png",
            "type": "image/png",
            "size": 1,
            "content": memoryview(_png()),
            "last_modified": datetime.now(timezone.utc),
        },
    )
    printed = "".join(item.get("text", "") for item in output.outputs)
    assert printed.startswith("x.png: ")
