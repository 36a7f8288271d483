"""The figures: what each one draws (data, labels, titles), read back from the returned Figure,
and that the PNG written is that figure."""

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image

from helpers.viz import figures as plots

PROVENANCE = "profile=smoke | model=random:tiny | SYNTHETIC stand-in data: not a Hephaestus result"


def assert_png_of(fig: Figure, path: Path) -> None:
    """``path`` is a PNG of ``fig`` as returned: rendering the figure again, at the PNG's own
    resolution, gives the same pixels."""
    with Image.open(path) as image:
        assert image.format == "PNG"
        saved = np.asarray(image)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=saved.shape[1] / fig.get_figwidth())
    np.testing.assert_array_equal(np.asarray(Image.open(buffer)), saved)


def _texts(fig: Figure) -> str:
    text = " ".join(t.get_text() for t in fig.texts) + " " + fig.get_suptitle()
    return " ".join(text.split())  # the provenance footer wraps on narrow figures


def test_loss_curves_from_history_csv(tmp_path):
    history = tmp_path / "history.csv"
    pd.DataFrame(
        {"epoch": [1, 2, 3], "train_loss": [3.0, 2.0, 1.5], "val_loss": [2.8, 2.1, 2.2]}
    ).to_csv(history, index=False)
    out = tmp_path / "assets" / "loss_vs_epoch.png"
    fig = plots.plot_loss_curves(history, out, PROVENANCE)
    assert_png_of(fig, out)
    assert PROVENANCE in _texts(fig) and fig.get_suptitle() == "Training and validation loss"
    ax = fig.axes[0]
    train, val, best = ax.get_lines()
    frame = pd.read_csv(history)
    for line, column, label in (
        (train, "train_loss", "train loss"),
        (val, "val_loss", "validation loss"),
    ):
        assert line.get_label() == label
        assert list(line.get_xdata()) == list(frame["epoch"])
        assert list(line.get_ydata()) == list(frame[column])
    assert list(best.get_xdata()) == [2, 2]  # the vertical line at the lowest validation loss
    assert [t.get_text() for t in ax.texts] == ["best: epoch 2\nval 2.100"]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("epoch", "cross-entropy loss")


def test_loss_curves_reject_a_history_without_losses(tmp_path):
    with pytest.raises(ValueError, match="val_loss"):
        plots.plot_loss_curves(pd.DataFrame({"epoch": [1]}), tmp_path / "x.png", PROVENANCE)


def test_bertscore_before_after(tmp_path):
    rng = np.random.default_rng(0)
    before = pd.DataFrame({"bertscore_f1": rng.uniform(0.2, 0.5, 30)})
    after = pd.DataFrame({"bertscore_f1": rng.uniform(0.6, 0.9, 30)})
    out = tmp_path / "bertscore.png"
    fig = plots.plot_bertscore(before, after, out, PROVENANCE, scorer="MiniLM-L6")
    assert_png_of(fig, out)
    assert "BERTScore before vs after fine-tuning (scorer: MiniLM-L6)" in _texts(fig)
    hist_ax, bar_ax = fig.axes
    means = [before.bertscore_f1.mean(), after.bertscore_f1.mean()]
    legend = [t.get_text() for t in hist_ax.get_legend().get_texts()]
    assert legend == [f"before (mean {means[0]:.3f})", f"after (mean {means[1]:.3f})"]
    everything = np.concatenate([before.bertscore_f1, after.bertscore_f1])
    for histogram, frame in zip(hist_ax.containers, (before, after), strict=True):
        heights = [p.get_height() for p in histogram.patches]
        edges = [p.get_x() for p in histogram.patches] + [histogram.patches[-1].get_x()]
        edges[-1] += histogram.patches[-1].get_width()
        assert (edges[0], edges[-1]) == pytest.approx((everything.min(), everything.max()))
        assert heights == np.histogram(frame.bertscore_f1, edges)[0].tolist()  # every image
    (bars,) = bar_ax.containers
    assert [p.get_height() for p in bars.patches] == pytest.approx(means)
    assert [t.get_text() for t in bar_ax.get_xticklabels()] == ["before", "after"]
    assert [t.get_text() for t in bar_ax.texts] == [f"{m:.3f}" for m in means]
    with pytest.raises(ValueError, match="bertscore_f1"):
        plots.plot_bertscore(before.iloc[:0], after, out, PROVENANCE, scorer="x")


def _comparison():
    rows = [
        ("zero-shot", "run", "bleu_4", 0.01, 0.0, 0.03),
        ("zero-shot", "run", "cider", 0.1, 0.05, 0.2),
        ("zero-shot", "run", "meteor", None, None, None),
        ("zero-shot", "run", "distinct_captions", 3, None, None),
        ("nearest", "run", "bleu_4", 0.15, 0.1, 0.2),
        ("nearest", "run", "cider", 1.0, 0.7, 1.4),
        ("nearest", "run", "meteor", None, None, None),
        ("nearest", "run", "distinct_captions", 8, None, None),
        ("fine-tuned", "run", "bleu_4", 0.2, 0.12, 0.3),
        ("fine-tuned", "run", "cider", 1.3, None, None),
        ("fine-tuned", "run", "meteor", 0.3, 0.2, 0.4),
        ("fine-tuned", "run", "distinct_captions", 9, None, None),
        ("fine-tuned - zero-shot", "difference", "bleu_4", 0.19, 0.1, 0.28),
        ("fine-tuned - zero-shot", "difference", "cider", 1.2, 0.9, 1.5),
    ]
    columns = ["run", "kind", "metric", "value", "low", "high"]
    return pd.DataFrame(rows, columns=columns).astype({"value": float, "low": float, "high": float})


def test_metric_comparison_draws_every_run_with_its_interval(tmp_path):
    out = tmp_path / "m.png"
    fig = plots.plot_metric_comparison(_comparison(), out, PROVENANCE, {"cider": "CIDEr-D"})
    assert_png_of(fig, out)
    drawn = pd.read_csv(tmp_path / "m.csv")  # the rows drawn, saved next to the figure
    assert set(drawn["metric"]) == {"bleu_4", "cider"}  # METEOR missing in two runs, no counts
    assert list(dict.fromkeys(drawn["run"])) == [
        "zero-shot",
        "nearest",
        "fine-tuned",
        "fine-tuned - zero-shot",
    ]
    ax, diff_ax = fig.axes[:2]
    assert [t.get_text() for t in diff_ax.get_xticklabels()] == ["bleu_4", "CIDEr-D"]
    bars = [c for c in ax.containers if hasattr(c, "errorbar")]
    assert [b.get_label() for b in bars] == ["zero-shot", "nearest", "fine-tuned"]
    for container in bars:
        run = drawn[drawn["run"] == container.get_label()].set_index("metric")
        heights = [patch.get_height() for patch in container.patches]
        assert heights == pytest.approx(run.loc[["bleu_4", "cider"], "value"].tolist())
        segments = container.errorbar.lines[2][0].get_segments()  # one vertical line per bar
        spans = [end for seg in segments for end in (seg[0][1], seg[1][1])]
        expected = run.loc[["bleu_4", "cider"]]
        lows = expected["low"].fillna(expected["value"])  # no interval: a zero-length bar
        highs = expected["high"].fillna(expected["value"])
        assert spans == pytest.approx([v for pair in zip(lows, highs, strict=True) for v in pair])
    (changes,) = [c for c in diff_ax.containers if hasattr(c, "errorbar")]
    assert [patch.get_height() for patch in changes.patches] == pytest.approx([0.19, 1.2])
    segments = changes.errorbar.lines[2][0].get_segments()
    assert [(s[0][1], s[1][1]) for s in segments] == [
        pytest.approx((0.1, 0.28)),
        pytest.approx((0.9, 1.5)),
    ]
    with pytest.raises(ValueError, match="no metric"):
        only_meteor = _comparison().query("metric == 'meteor'")
        plots.plot_metric_comparison(only_meteor, tmp_path / "n.png", PROVENANCE)


def test_domain_confusion_draws_the_counts(tmp_path):
    table = pd.DataFrame(
        {
            "deformation_annotated": ["present", "present", "absent"],
            "deformation_read": ["present", "not stated", "present"],
            "activity_annotated": ["Dyke", "Sill", ""],
            "activity_read": ["Dyke+Sill", "", ""],
        }
    )
    out = tmp_path / "domain_confusion.png"
    fig = plots.plot_domain_confusion(table, out, PROVENANCE)
    assert_png_of(fig, out)
    deformation = fig.axes[0].images[0].get_array()
    assert deformation.tolist() == [[1, 0, 1, 0], [1, 0, 0, 0]]
    activity = fig.axes[1].images[0].get_array()
    assert activity.sum() == 4  # Dyke->Dyke, Dyke->Sill, Sill->none named, no deformation->none
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == [
        "present",
        "absent",
        "not stated",
        "contradictory",
    ]
    assert PROVENANCE in _texts(fig)


def test_examples_figure(tmp_path):
    rng = np.random.default_rng(1)
    pixels = [rng.integers(0, 255, (32, 32, 3), np.uint8) for _ in range(2)]
    path = tmp_path / "img.png"
    Image.fromarray(pixels[0]).save(path)
    out = tmp_path / "examples.png"
    fig = plots.plot_examples(
        [path, Image.fromarray(pixels[1])],
        ["ref a", "ref b"],
        ["old a", ""],
        ["new a", "a long caption " * 40],
        out,
        PROVENANCE,
        max_lines=2,
    )
    assert_png_of(fig, out)
    assert fig.get_suptitle() == "Captions before and after fine-tuning"
    rows = np.asarray(fig.axes).reshape(2, 2)
    for (image_ax, text_ax), expected in zip(rows, pixels, strict=True):
        np.testing.assert_array_equal(image_ax.images[0].get_array(), expected)  # in its row
        assert len(text_ax.texts) == 1
    first = rows[0, 1].texts[0].get_text()
    assert first == "Reference:\nref a\nBefore:\nold a\nAfter:\nnew a"
    second = rows[1, 1].texts[0].get_text().split("\n")
    assert second[:4] == ["Reference:", "ref b", "Before:", "(empty)"]  # "" is shown as (empty)
    after = second[second.index("After:") + 1 :]
    assert len(after) == 2 and after[-1].endswith(" ...")  # cut after max_lines, marked
    with pytest.raises(ValueError, match="same non-zero number"):
        plots.plot_examples([path], ["a", "b"], ["a"], ["a"], out, PROVENANCE)
