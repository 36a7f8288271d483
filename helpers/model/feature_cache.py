"""Run a frozen image encoder once per image: reuse its features in later epochs.

With a frozen vision encoder (``cfg.freeze_vision_encoder``, or LoRA adapters only in the text
decoder, the default targets), an image's features never change during training, yet every epoch
computes them again, and they are most of a training step: 4.3 s of a 5.0 s BLIP-large LoRA step
on a 2-core CPU (``docs/PERFORMANCE.md``). Inside ``cache_image_features(model)`` the encoder
remembers its output for each image, keyed by the bytes of the image's pixel tensor, so epoch 1
pays for the encoder and later epochs (and repeated validation) skip it. Losses, gradients and
weights stay exactly those of the uncached run (tested)::

    with cache_image_features(model) as cache:
        ...                                  # train; the first epoch fills the cache
    print(cache.summary())

``train`` does this when ``cache_wanted(cfg.cache_image_features, device)``: True, or "auto" on
the CPU. It pays where the encoder's forward pass dominates a step: on a 2-core CPU a 3-epoch
BLIP-large LoRA run took 140 s instead of 315 s (``bench/results/cached_run_*.json``). On a GPU
it did not: on an H200, LoRA at batch 16 ran at 98 samples/s with the cache and 142 without (the
lookup, which copies every image to the host to hash it, costs more than the encoder's fast
forward pass there), so "auto" leaves it off on GPUs.
The cache lives in host memory:
BLIP-large at 384 px keeps 577 x 1024 values per image (2.3 MiB in fp32), so 1,000 images take
about 2.3 GiB. It refuses encoders that train or draw dropout, where reuse would change results.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from transformers.modeling_outputs import BaseModelOutputWithPooling

from helpers.model.loading import vision_encoder

log = logging.getLogger(__name__)


class ImageFeatureCache:
    """The memo behind ``cache_image_features``: encoder outputs by pixel-tensor digest."""

    def __init__(self, encoder: torch.nn.Module) -> None:
        # a weak reference: the encoder holds this cache (its patched forward), and a strong
        # one back would make a cycle that keeps a deleted model copy alive until the next
        # garbage collection (a BLIP-large vision encoder is 1.2 GB)
        self._encoder = weakref.ref(encoder)
        self.features: dict[bytes, tuple[torch.Tensor, torch.Tensor | None]] = {}
        self.images_encoded = 0
        self.images_reused = 0

    @property
    def encoder(self) -> torch.nn.Module:
        encoder = self._encoder()
        if encoder is None:
            raise RuntimeError("The image encoder of this feature cache no longer exists.")
        return encoder

    def original_forward(self, *args: Any, **kwargs: Any) -> Any:
        """The encoder's own (class) forward."""
        encoder = self.encoder
        return type(encoder).forward(encoder, *args, **kwargs)

    def forward(self, pixel_values: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        """The encoder's forward, computing only the images it has not seen yet."""
        wants_more = kwargs.get("output_attentions") or kwargs.get("output_hidden_states")
        if args or wants_more or pixel_values.requires_grad:
            return self.original_forward(pixel_values, *args, **kwargs)
        _refuse_if_trainable(self.encoder)
        keys = [_digest(image) for image in pixel_values]
        missing: dict[bytes, int] = {}  # first batch position of each image not cached yet
        for index, key in enumerate(keys):
            if key not in self.features:
                missing.setdefault(key, index)
        if missing:
            with torch.no_grad():
                out = self.original_forward(
                    pixel_values[list(missing.values())], **kwargs, return_dict=True
                )
            pooled = getattr(out, "pooler_output", None)
            for row, key in enumerate(missing):
                self.features[key] = (
                    out.last_hidden_state[row].to("cpu", copy=True),
                    None if pooled is None else pooled[row].to("cpu", copy=True),
                )
        self.images_encoded += len(missing)
        self.images_reused += len(keys) - len(missing)
        hidden = torch.stack([self.features[key][0] for key in keys])
        pooled_rows = [self.features[key][1] for key in keys]
        pooled = None if pooled_rows[0] is None else torch.stack(pooled_rows)
        device = pixel_values.device
        return BaseModelOutputWithPooling(
            last_hidden_state=hidden.to(device),
            pooler_output=None if pooled is None else pooled.to(device),
        )

    def __deepcopy__(self, memo: dict) -> ImageFeatureCache:
        """A deep copy of the model (``export_model`` merges LoRA into one) gets its own empty
        cache on its own encoder: the cached features are never copied."""
        fresh = ImageFeatureCache.__new__(ImageFeatureCache)
        memo[id(self)] = fresh
        fresh.__init__(copy.deepcopy(self.encoder, memo))
        return fresh

    @property
    def memory_mb(self) -> float:
        tensors = [t for pair in self.features.values() for t in pair if t is not None]
        return sum(t.numel() * t.element_size() for t in tensors) / 2**20

    def summary(self) -> str:
        return (
            f"image feature cache: {len(self.features)} images cached ({self.memory_mb:,.1f} MiB);"
            f" encoder ran on {self.images_encoded} images, features reused "
            f"{self.images_reused} times"
        )


def cache_wanted(setting: bool | str, device: str) -> bool:
    """Whether ``train`` caches the image features: ``setting`` True or False as given, "auto"
    (notebook 05's choice) on the CPU only, where it was measured to pay."""
    return device == "cpu" if setting == "auto" else bool(setting)


@contextmanager
def cache_image_features(model: torch.nn.Module) -> Iterator[ImageFeatureCache]:
    """Memoise ``model``'s frozen image encoder (BLIP or GIT, plain or LoRA-wrapped) inside the
    ``with`` block; the encoder is restored on exit (its weights and ``state_dict`` are never
    touched). Raises ``ValueError`` if the encoder trains or uses dropout; its stochastic depth
    (drop path), if any, is off inside the block."""
    encoder = vision_encoder(model)
    _refuse_if_trainable(encoder)
    dropouts = [
        name
        for name, module in encoder.named_modules()
        if isinstance(module, torch.nn.Dropout) and module.p > 0
    ]
    if dropouts:
        raise ValueError(
            f"cache_image_features: the image encoder draws dropout ({dropouts[0]}, "
            f"p={encoder.get_submodule(dropouts[0]).p}), so its features differ per pass and "
            "cannot be reused. Set its dropout to 0 or turn cache_image_features off."
        )
    cache = ImageFeatureCache(encoder)
    if "forward" in vars(encoder):
        raise ValueError(
            "cache_image_features: the image encoder's forward is already replaced (a cache is "
            "already active on this model?)."
        )
    # stochastic depth (Florence-2's DaViT: drop_path_rate 0.1) would make the features differ
    # per pass: it is off while they are cached, as if the frozen encoder had none
    depth_drops = {m: m.drop_prob for m in encoder.modules() if getattr(m, "drop_prob", 0) > 0}
    for module in depth_drops:
        module.drop_prob = 0.0
    if depth_drops:
        log.info(f"image feature cache: stochastic depth off in {len(depth_drops)} encoder blocks")
    encoder.forward = cache.forward  # an instance attribute: nn.Module.__call__ uses it
    try:
        yield cache
    finally:
        del encoder.forward  # back to the class's forward
        for module, rate in depth_drops.items():
            module.drop_prob = rate


def _refuse_if_trainable(encoder: torch.nn.Module) -> None:
    trainable = [name for name, p in encoder.named_parameters() if p.requires_grad]
    if trainable:
        raise ValueError(
            f"cache_image_features needs a frozen image encoder, but {len(trainable)} of its "
            f"parameters train (e.g. {trainable[0]}). Set freeze_vision_encoder=True, or keep "
            "LoRA's target modules out of the encoder, or turn cache_image_features off."
        )


def _digest(image: torch.Tensor) -> bytes:
    """Identity of one image tensor: its shape, dtype and bytes."""
    data = image.detach().to("cpu").contiguous()
    header = f"{tuple(data.shape)}{data.dtype}".encode()
    digest = hashlib.blake2b(header, digest_size=16)
    digest.update(data.view(torch.uint8).numpy().tobytes())
    return digest.digest()


__all__ = ["ImageFeatureCache", "cache_image_features", "cache_wanted"]
