"""An upload button that captions the image it is given (for notebook 06)."""

from __future__ import annotations

import io
from typing import Any

import ipywidgets as widgets
import torch
from PIL import Image, UnidentifiedImageError

from helpers.config import CaptionConfig
from helpers.device import DeviceChoice
from helpers.eval.inference import caption_image


def caption_uploads(
    uploads: Any, model: torch.nn.Module, processor: Any, cfg: CaptionConfig, device: DeviceChoice
) -> list[tuple[str, str]]:
    """``(file name, caption or error)`` for each file of a ``FileUpload`` value."""
    captions = []
    for upload in uploads:
        try:
            image = Image.open(io.BytesIO(bytes(upload["content"])))
            image.load()
        except (OSError, UnidentifiedImageError) as error:
            captions.append((upload["name"], f"cannot read this file as an image ({error})"))
            continue
        captions.append((upload["name"], caption_image(model, processor, image, cfg, device)))
    return captions


def caption_upload_widget(
    model: torch.nn.Module, processor: Any, cfg: CaptionConfig, device: DeviceChoice
) -> widgets.VBox:
    """A file-upload button; the captions of the latest upload are printed below it."""
    upload = widgets.FileUpload(accept="image/*", multiple=True, description="Upload image")
    output = widgets.Output()

    def on_upload(change: dict) -> None:
        # emptied directly: clear_output() can leave append_stdout lines (ipywidgets#2584)
        output.outputs = ()
        for name, caption in caption_uploads(change["new"], model, processor, cfg, device):
            output.append_stdout(f"{name}: {caption}\n")

    upload.observe(on_upload, names="value")
    return widgets.VBox([upload, output])
