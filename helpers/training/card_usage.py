"""The "How to use" section of a model card: the code that loads the exported model."""

from __future__ import annotations

import transformers

from helpers.training.checkpoints import ADAPTER_DIR

NATIVE_CLASSES = {  # the transformers class of each family (config.model_type)
    "blip": "BlipForConditionalGeneration",
    "git": "GitForCausalLM",
    "florence2": "Florence2ForConditionalGeneration",
}


def how_to_use(
    family: str,
    architecture: str,
    base_name: str,
    repo_id: str,
    *,
    adapter: bool,
    task: str,
    max_new_tokens: int,
) -> str:
    """Loading code for an export whose ``config.json`` names ``architecture``. A class of this
    collection (BLIP with attribute heads) is loaded by its transformers family class, and the
    card says what that leaves out. Florence-2 is called with its caption ``task`` prompt."""
    native = architecture if hasattr(transformers, architecture) else NATIVE_CLASSES[family]
    load = f"from transformers import AutoProcessor, {native}\n"
    if adapter:
        code = (
            f"from peft import PeftModel\n{load}"
            f'base = {native}.from_pretrained("{base_name}")\n'
            f'model = PeftModel.from_pretrained(base, "{repo_id}", subfolder="{ADAPTER_DIR}")\n'
            f'processor = AutoProcessor.from_pretrained("{repo_id}")'
        )
    else:
        code = (
            f'{load}processor = AutoProcessor.from_pretrained("{repo_id}")\n'
            f'model = {native}.from_pretrained("{repo_id}")'
        )
    text = f'text="{task}", ' if family == "florence2" else ""
    usage = (
        f"```python\n{code}\n```\n\nThen "
        f'`inputs = processor({text}images=image, return_tensors="pt")` and '
        f"`model.generate(**inputs, max_new_tokens={max_new_tokens})`."
    )
    if native != architecture:
        usage += (
            f" `{native}` loads the captioner without its attribute heads, so it captions "
            "without the attribute prompt it was evaluated with; to caption as evaluated, load "
            "the folder with this collection's `helpers.load_captioner`."
        )
    return usage


__all__ = ["NATIVE_CLASSES", "how_to_use"]
