"""``train`` under ``accelerate launch`` with 2 CPU processes (DDP over gloo) matches 1 process.

The file is also the launched script: ``accelerate launch ... tests/test_ddp.py RUN_DIR BATCH``.

Why the losses agree: 2 processes with batches of 2 see the same 4 samples per optimizer step
as 1 process with batches of 4 (the sampler's order depends only on seed and epoch, and the
8 samples split into whole batches, so ``even_batches`` repeats nothing). DDP averages the two
processes' gradients; every caption has the same number of tokens, so that average equals the
gradient of the 4-sample mean loss. The BLIP stand-in has no dropout (and this is a full
fine-tune, no LoRA dropout), so no random numbers differ between the runs. What remains is
floating-point summation order: the losses agree to about 1e-7 relative (tolerance 1e-5) and the
weights to about 1e-6 (tolerance 1e-4: Adam divides by the gradient's running size, which can
magnify a rounding difference in a near-zero gradient).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from helpers.messages import show_messages
from helpers.model.loading import build_offline_processor, build_stand_in
from helpers.training.checkpoints import read_history
from helpers.training.loop import train

LOSS_TOLERANCE = 1e-5
WEIGHT_TOLERANCE = 1e-4


def run(run_dir: Path, batch_size: int) -> None:
    """Train the tiny stand-in for 2 epochs on the tiny data of ``test_training``."""
    from test_training import TinyCollate, tiny_captions, tiny_config

    cfg = tiny_config(run_dir, epochs=2, batch_size=batch_size, eval_batch_size=batch_size)
    model = build_stand_in("random:tiny", cfg.image_size, seed=cfg.seed)
    processor = build_offline_processor(cfg.image_size)
    data = tiny_captions(8, seed=1), tiny_captions(4, seed=2)
    train(cfg, model, processor, *data, TinyCollate(processor))


def test_tiny_captions_all_have_the_same_token_count():
    from test_training import TinyCollate, tiny_captions

    batch = TinyCollate(build_offline_processor(32))(tiny_captions(12, seed=1))
    assert set(batch["attention_mask"].sum(dim=1).tolist()) == {6}  # [DEC] 4 words [SEP]


@pytest.mark.slow
def test_two_process_run_matches_one_process_run(tmp_path):
    # --multi_gpu starts the processes through torchrun; with no GPU (and device="cpu" in the
    # config) they talk over gloo. ("--cpu --num_processes 2" would start ONE process: accelerate
    # launches several CPU processes only through mpirun.)
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes"]
    launch += ["2", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).parent))
    done = subprocess.run(
        [*launch, __file__, str(tmp_path / "ddp"), "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Resuming" not in done.stdout
    assert done.stdout.count("processes: 2") == 1, done.stdout  # main process only prints
    run(tmp_path / "single", batch_size=4)

    ddp = read_history(tmp_path / "ddp" / "history.csv")
    single = read_history(tmp_path / "single" / "history.csv")
    assert len(ddp) == len(single) == 2
    for a, b in zip(ddp, single, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=LOSS_TOLERANCE)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=LOSS_TOLERANCE)
    ddp_weights = load_file(tmp_path / "ddp" / "final" / "model.safetensors")
    single_weights = load_file(tmp_path / "single" / "final" / "model.safetensors")
    for name, tensor in single_weights.items():
        torch.testing.assert_close(ddp_weights[name], tensor, rtol=0, atol=WEIGHT_TOLERANCE)


if __name__ == "__main__":
    show_messages()  # as the command line does: process 0 speaks, process 1 stays quiet
    run(Path(sys.argv[1]), batch_size=int(sys.argv[2]))
