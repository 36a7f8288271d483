import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers import plots

PROVENANCE = "profile=smoke | model=random:tiny | SYNTHETIC stand-in data: not a Hephaestus result"


def _assert_png(path):
    assert path.stat().st_size > 5_000
    with Image.open(path) as image:
        assert image.format == "PNG"
        pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 5  # something was drawn, not a blank canvas


def _texts(fig):
    text = " ".join(t.get_text() for t in fig.texts) + " " + fig._suptitle.get_text()
    return " ".join(text.split())  # the provenance footer wraps on narrow figures


def test_loss_curves_from_history_csv(tmp_path):
    history = tmp_path / "history.csv"
    pd.DataFrame(
        {"epoch": [1, 2, 3], "train_loss": [3.0, 2.0, 1.5], "val_loss": [2.8, 2.1, 2.2]}
    ).to_csv(history, index=False)
    out = tmp_path / "assets" / "loss_vs_epoch.png"
    fig = plots.plot_loss_curves(history, out, PROVENANCE)
    _assert_png(out)
    assert PROVENANCE in _texts(fig)
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()[:2]] == ["train loss", "validation loss"]
    assert "best: epoch 2" in " ".join(t.get_text() for t in ax.texts)


def test_loss_curves_reject_a_history_without_losses(tmp_path):
    with pytest.raises(ValueError, match="val_loss"):
        plots.plot_loss_curves(pd.DataFrame({"epoch": [1]}), tmp_path / "x.png", PROVENANCE)


def test_bertscore_before_after(tmp_path):
    rng = np.random.default_rng(0)
    before = pd.DataFrame({"bertscore_f1": rng.uniform(0.2, 0.5, 30)})
    after = pd.DataFrame({"bertscore_f1": rng.uniform(0.6, 0.9, 30)})
    out = tmp_path / "bertscore.png"
    fig = plots.plot_bertscore(before, after, out, PROVENANCE, scorer="MiniLM-L6")
    _assert_png(out)
    assert "MiniLM-L6" in _texts(fig)
    bar_labels = [t.get_text() for t in fig.axes[1].texts]
    assert bar_labels == [f"{before.bertscore_f1.mean():.3f}", f"{after.bertscore_f1.mean():.3f}"]
    with pytest.raises(ValueError, match="bertscore_f1"):
        plots.plot_bertscore(before.iloc[:0], after, out, PROVENANCE, scorer="x")


def test_metric_comparison_leaves_out_unavailable_metrics(tmp_path):
    before = {"BLEU-4": 0.01, "CIDEr-D": 0.1, "METEOR": None}
    after = {"BLEU-4": 0.2, "CIDEr-D": 1.3, "METEOR": None}
    fig = plots.plot_metric_comparison(before, after, tmp_path / "m.png", PROVENANCE)
    _assert_png(tmp_path / "m.png")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["BLEU-4", "CIDEr-D"]
    with pytest.raises(ValueError, match="no metric"):
        plots.plot_metric_comparison({"METEOR": None}, {"METEOR": None}, tmp_path / "n.png", "")


def test_examples_figure(tmp_path):
    path = tmp_path / "img.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (32, 32, 3), np.uint8)).save(path)
    out = tmp_path / "examples.png"
    fig = plots.plot_examples(
        [path, Image.open(path)],
        ["ref a", "ref b"],
        ["old a", ""],
        ["new a", "new b"],
        out,
        PROVENANCE,
    )
    _assert_png(out)
    text = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert "old a" in text and "(empty)" in text and "new b" in text
    with pytest.raises(ValueError, match="same non-zero number"):
        plots.plot_examples([path], ["a", "b"], ["a"], ["a"], out, PROVENANCE)
