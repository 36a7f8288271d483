"""Fused attention (``scaled_dot_product_attention``) for BLIP's vision encoder.

transformers' ``BlipAttention`` (the ViT image encoder) is eager only and refuses
``attn_implementation="sdpa"``: it materialises every attention matrix, 16 heads x 577 x 577
per layer and image at 384 px, and keeps several copies for the backward pass.
``use_sdpa(model)`` switches each such module to a subclass whose forward calls
``torch.nn.functional.scaled_dot_product_attention``: same weights, same outputs (up to
rounding), far less memory and time. It is a runtime patch: ``save_pretrained`` writes the same
weights either way, and ``helpers.model.loading`` applies it again on load when
``cfg.attn_implementation == "sdpa"``, the default (on an H200, BLIP-large at batch 8 in bf16
reserved 12,206 MiB with it and 18,486 MiB without; ``docs/PERFORMANCE.md``). ``loadable_attn``
says what a model class loads with: "sdpa" where transformers has it (Florence-2), else eager.

Limits: the fused kernel does not return attention probabilities, so the switched modules return
``None`` in their place and ``output_attentions=True`` yields no vision attentions. The text
decoder (``BlipTextSelfAttention``) stays eager: its matrices (captions of ~64 tokens against 577
image tokens) are a few percent of the vision encoder's (see ``docs/PERFORMANCE.md``), and the
grounding maps (``helpers.eval.grounding``) read its attention probabilities (tested: the same
maps with and without SDPA in the encoder).
"""

from __future__ import annotations

import torch
from torch.nn.functional import scaled_dot_product_attention
from transformers.models.blip.modeling_blip import BlipAttention


class SdpaBlipAttention(BlipAttention):
    """``BlipAttention`` computed by ``scaled_dot_product_attention``; returns
    ``(output, None)``: the fused kernel gives no attention probabilities."""

    def forward(self, hidden_states: torch.Tensor, **kwargs) -> tuple[torch.Tensor, None]:
        batch, length, width = hidden_states.shape
        qkv = self.qkv(hidden_states).reshape(batch, length, 3, self.num_heads, self.head_dim)
        query, key, value = qkv.permute(2, 0, 3, 1, 4)
        context = scaled_dot_product_attention(
            query,
            key,
            value,
            dropout_p=self.dropout.p if self.training else 0.0,
            scale=self.scale,
        )
        return self.projection(context.transpose(1, 2).reshape(batch, length, width)), None


def loadable_attn(model_class: type, attn: str) -> str:
    """The ``attn_implementation`` to load ``model_class`` with: "sdpa" becomes "eager" where
    transformers has no SDPA for the class (BLIP, which ``use_sdpa`` then patches; GIT, whose
    text attention is eager only), anything else as asked."""
    if attn == "sdpa" and not getattr(model_class, "_supports_sdpa", False):
        return "eager"
    return attn


def use_sdpa(model: torch.nn.Module) -> int:
    """Switch every BLIP vision attention module in ``model`` (a plain or PEFT-wrapped model) to
    ``SdpaBlipAttention``, in place; return how many were switched (0 when already done)."""
    switched = 0
    for module in model.modules():
        if type(module) is BlipAttention:
            module.__class__ = SdpaBlipAttention
            switched += 1
    return switched


__all__ = ["SdpaBlipAttention", "loadable_attn", "use_sdpa"]
