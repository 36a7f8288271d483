"""What autograd keeps per training sample for a BLIP captioning model, counted from its shapes.

The count follows BLIP's modules tensor by tensor (in the spirit of Korthikanti et al. 2022,
"Reducing Activation Recomputation in Large Transformer Models") under the rules of GPU autocast
(CUDA, Intel XPU), where memory matters most:

- matrix products run in the activation dtype (2 bytes in bf16/fp16, 4 in fp32); each
  ``nn.Linear`` casts its fp32 input to that dtype *on its own* and keeps the copy when its
  weight trains, and keeps its weight's copy when its input needs a gradient;
- ``softmax`` and ``layer_norm`` run in fp32: the attention probabilities are kept in fp32 for
  the softmax and, under autocast, once more in bf16 for the product with the values (6 bytes a
  score, not 4); the residual stream and every LayerNorm input stay fp32;
- ``torch.matmul`` on transposed heads copies them (q, k, v and the context are kept as copies);
- ``scaled_dot_product_attention`` keeps q, k, v (views of one projection), its output and a
  log-sum-exp per row, never the probabilities;
- the loss keeps fp32 log-probabilities over the vocabulary; the start of the backward pass adds
  their gradient and the logits' (``LOSS_GRADIENT_BYTES`` per score), alive with everything else.

Under LoRA (adapters on the text decoder's query and value) the frozen projections keep only what
the gradient of their input needs, and each adapter keeps its dropout mask and its bf16 input.
On the CPU, autocast keeps softmax and LayerNorm in bf16, so the count is an upper bound there.
``bench/gpu_suite.py`` measures the peaks it is tested against (tests/test_memory_h200.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FP32 = 4
LOSS_GRADIENT_BYTES = 8  # fp32 gradients of the log-probabilities and of the logits, per score
MASK_BYTES = 1  # a dropout mask (bool), per element


@dataclass(frozen=True)
class Shapes:
    """BLIP's sizes: image tokens, widths, heads, MLP widths, depths, caption tokens, vocab."""

    s_v: int
    h_v: int
    a_v: int
    m_v: int
    n_v: int
    patch: int
    s_t: int
    h_t: int
    a_t: int
    m_t: int
    n_t: int
    vocab: int

    @classmethod
    def of(cls, config: Any, caption_tokens: int) -> Shapes:
        vis, txt = config.vision_config, config.text_config
        return cls(
            s_v=(vis.image_size // vis.patch_size) ** 2 + 1,
            h_v=vis.hidden_size,
            a_v=vis.num_attention_heads,
            m_v=vis.intermediate_size,
            n_v=vis.num_hidden_layers,
            patch=vis.patch_size,
            s_t=caption_tokens,
            h_t=txt.hidden_size,
            a_t=txt.num_attention_heads,
            m_t=txt.intermediate_size,
            n_t=txt.num_hidden_layers,
            vocab=txt.vocab_size,
        )


def probability_bytes(act: int) -> int:
    """Bytes kept per attention score: fp32 for the softmax, plus the autocast copy."""
    return FP32 + (act if act < FP32 else 0)


def vision_layer_bytes(x: Shapes, act: int, sdpa: bool) -> int:
    """One pre-LN ViT layer that trains: two fp32 LayerNorm inputs, the qkv and MLP inputs (the
    LayerNorm outputs in fp32, their own copies under autocast), q, k, v, the context, the MLP's
    two inner tensors, and the attention probabilities (eager) or SDPA's output and
    log-sum-exp."""
    s, h, a, m = x.s_v, x.h_v, x.a_v, x.m_v
    common = 2 * FP32 * s * h + 2 * act * s * h + 2 * act * s * m
    if sdpa:  # q, k, v (one projection's output), the output, its reshaped copy, log-sum-exp
        return common + 5 * act * s * h + FP32 * a * s
    return common + 4 * act * s * h + probability_bytes(act) * a * s * s


def text_layer_bytes(x: Shapes, act: int) -> int:
    """One BERT-style decoder layer that trains: self-attention (q, k, v inputs, copies,
    probabilities, context), cross-attention to the image tokens (its query, k and v over the
    image tokens and their inputs, probabilities, context), the MLP, three fp32 LayerNorm
    inputs. In fp32 the three projections of one input share it."""
    s, h, a, m, s_v = x.s_t, x.h_t, x.a_t, x.m_t, x.s_v
    inputs = (3 if act < FP32 else 1) * act * s * h + act * s * h + act * s * h  # self, cross, MLP
    image_inputs = 2 * act * s_v * x.h_v if act < FP32 else 0  # k, v casts of the image tokens
    self_attention = 4 * act * s * h + probability_bytes(act) * a * s * s  # q, k, v, context
    cross = 2 * act * s * h + 2 * act * s_v * h + probability_bytes(act) * a * s * s_v
    return inputs + image_inputs + self_attention + cross + 2 * act * s * m + 3 * FP32 * s * h


def lora_text_layer_bytes(x: Shapes, act: int) -> int:
    """One decoder layer with frozen weights and LoRA adapters on query and value (self and
    cross): the adapters' dropout masks and inputs, the copies the gradient of the inputs needs
    (q and k of self-attention, k and v of cross-attention, the values), the probabilities, the
    MLP's inner input and three fp32 LayerNorm inputs."""
    s, h, a, m, s_v = x.s_t, x.h_t, x.a_t, x.m_t, x.s_v
    adapters = (MASK_BYTES + act) * (3 * s * h + s_v * x.h_v)
    copies = 3 * act * s * h + 2 * act * s_v * h
    probabilities = probability_bytes(act) * a * (s * s + s * s_v)
    return adapters + copies + probabilities + act * s * m + 3 * FP32 * s * h


def head_bytes(x: Shapes, act: int) -> int:
    """The LM head (transform, GELU, fp32 LayerNorm, decoder input) and the loss: fp32
    log-probabilities kept, plus their gradients at the start of the backward pass."""
    s = x.s_t
    return (3 * act + FP32) * s * x.h_t + (FP32 + LOSS_GRADIENT_BYTES) * s * x.vocab


def blip_activation_bytes_for(
    config: Any,
    caption_tokens: int,
    act: int,
    *,
    sdpa: bool,
    checkpointing: bool,
    vision_trains: bool,
    lora: bool,
) -> int:
    """Bytes per sample at the start of the backward pass (see the module docstring).

    With gradient checkpointing each layer keeps only its fp32 input, and one layer is recomputed
    at a time. A frozen vision encoder keeps nothing (no gradient flows through it); its fp32
    output (the image tokens) is kept for the decoder's cross-attention."""
    x = Shapes.of(config, caption_tokens)
    vision_layer = vision_layer_bytes(x, act, sdpa)
    text_layer = lora_text_layer_bytes(x, act) if lora else text_layer_bytes(x, act)
    if checkpointing:
        vision = x.n_v * FP32 * x.s_v * x.h_v + vision_layer
        text = x.n_t * FP32 * x.s_t * x.h_t + text_layer
    else:
        vision, text = x.n_v * vision_layer, x.n_t * text_layer
    image_tokens = FP32 * x.s_v * x.h_v
    return (vision if vision_trains else 0) + text + image_tokens + head_bytes(x, act)


def blip_weight_copy_parameters(config: Any, vision_trains: bool, lora: bool) -> int:
    """Parameters of the matrices whose autocast copies stay alive until the backward pass
    reaches them: every projection that trains or whose input needs a gradient (the text
    decoder's, the LM head's tied word embeddings, and the vision encoder's when it trains);
    under LoRA not the cross-attention's k and v, whose input (the frozen image tokens) needs
    none."""
    x = Shapes.of(config, 0)
    h, h_v = x.h_t, x.h_v
    text = x.n_t * (6 * h * h + 2 * h_v * h + 2 * h * x.m_t) + h * h + h * x.vocab
    if lora:
        text -= x.n_t * 2 * h_v * h
    vision = x.n_v * (4 * h_v * h_v + 2 * h_v * x.m_v) + 3 * x.patch**2 * h_v
    return text + (vision if vision_trains else 0)


__all__ = [
    "LOSS_GRADIENT_BYTES",
    "Shapes",
    "blip_activation_bytes_for",
    "blip_weight_copy_parameters",
    "head_bytes",
    "lora_text_layer_bytes",
    "text_layer_bytes",
    "vision_layer_bytes",
]
