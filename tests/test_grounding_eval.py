"""Pointing tables, summaries, grounding.json and the examples figure on known answers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from grounding_fixtures import (
    BOTTOM_RIGHT_QUARTER,
    FRAME,
    TOP_LEFT_PATCH,
    explanation,
    one_hot,
    record,
)
from PIL import Image
from test_plots import assert_png_of

from helpers.config import load_config
from helpers.device import choose_device
from helpers.eval.grounding_eval import (
    GroundingRun,
    eligible,
    frame_polygons,
    ground_records,
    grounding_table,
    pointing_table,
    save_grounding,
    summarize_grounding,
)
from helpers.eval.inference import caption_images
from helpers.model.loading import build_offline_processor, build_stand_in
from helpers.viz.grounding import plot_grounding_examples

ELSEWHERE, TOP = one_hot(3, 0), one_hot(0, 0)


@pytest.fixture()
def records(tmp_path):
    return [
        record(tmp_path, "1", [TOP_LEFT_PATCH]),
        record(tmp_path, "2", [BOTTOM_RIGHT_QUARTER]),
        record(tmp_path, "3", [BOTTOM_RIGHT_QUARTER]),
        record(tmp_path, "4", [], deformation=False),
        record(tmp_path, "5", []),  # deformation without a polygon
    ]


@pytest.fixture()
def run(records):
    chosen = eligible(records)
    explanations = [
        # the deformation phrase looks at the top-left patch: inside the polygon
        explanation(
            "a dyke deformation pattern is visible", {"dyke": TOP, "deformation": TOP}, ELSEWHERE
        ),
        # ... and here too, but the polygon is the bottom-right quarter: a miss
        explanation("deformation can be detected", {"deformation": one_hot(0, 0)}, ELSEWHERE),
        # no deformation stated: not scored, whatever the map
        explanation("no deformation can be detected", {}, one_hot(3, 3)),
    ]
    table = pointing_table(chosen, explanations)
    return GroundingRun(
        "after_training", chosen, explanations, table, summarize_grounding(table, 200, 0)
    )


def test_raw_polygons_land_in_the_frame(records):
    (vertices,) = frame_polygons(records[0], FRAME)  # 64 x 48 raw -> 32 x 32
    np.testing.assert_allclose(vertices, [[0, 0], [8, 0], [8, 8], [0, 8]])


def test_only_deformation_with_polygons_is_eligible(records):
    assert [r.unique_id for r in eligible(records)] == ["1", "2", "3"]


def test_pointing_table_scores_what_is_known(run):
    table = run.table.set_index("image_id")
    assert list(table["scored"]) == [True, True, False]
    assert (table.loc["1", "model_hit"], table.loc["1", "model_mass"]) == (1.0, 1.0)
    assert (table.loc["2", "model_hit"], table.loc["2", "model_mass"]) == (0.0, 0.0)
    assert np.isnan(table.loc["3", "model_hit"])
    # centre peak window (12..20 px) misses the top-left patch, reaches the bottom-right quarter
    assert list(table["centre_hit"]) == [0.0, 1.0, 1.0]
    assert table.loc["1", "uniform_mass"] == pytest.approx(1 / 16)
    assert table.loc["2", "uniform_mass"] == pytest.approx(1 / 4)
    assert table.loc["2", "uniform_hit"] == pytest.approx(4 / 16)


def test_summary_counts_means_and_paired_difference(run):
    summary = run.summary
    assert (summary["images_with_polygons"], summary["captions_stating_deformation"]) == (3, 2)
    assert summary["scored"] == 2
    assert summary["pointing_accuracy"]["model"]["value"] == 0.5
    assert summary["pointing_accuracy"]["centre"]["value"] == 0.5
    assert summary["inside_mass"]["model"]["value"] == 0.5
    assert summary["inside_mass"]["uniform"]["value"] == pytest.approx((1 / 16 + 1 / 4) / 2)
    difference = summary["model_minus_centre"]["pointing_accuracy"]
    assert difference["value"] == 0.0 and difference["low"] == -1.0 and difference["high"] == 1.0
    for key in ("pointing_accuracy", "inside_mass"):
        for interval in summary[key].values():
            assert interval["low"] <= interval["value"] <= interval["high"]


def test_nothing_scored_gives_no_values(run):
    table = run.table.assign(scored=False, states_deformation=False)
    summary = summarize_grounding(table, 100, 0)
    assert summary["scored"] == 0 and summary["pointing_accuracy"]["model"]["value"] is None
    assert (
        grounding_table({"before_training": summary}).loc[("before_training", "model")][
            "pointing accuracy"
        ]
        == "n/a"
    )


def test_grounding_json_and_table(run, tmp_path):
    cfg = load_config("smoke", output_dir=tmp_path)
    path = save_grounding([run], cfg, data_synthetic=True, models={"after_training": "runs/x"})
    saved = json.loads(path.read_text())
    assert path.name == "grounding.json" and "not a Hephaestus result" in saved["provenance"]
    block = saved["grounding"]["after_training"]
    assert block["model"] == "runs/x" and block["scored"] == 2
    assert block["inside_mass"]["model"] == run.summary["inside_mass"]["model"]
    assert "rollout" in saved["method"]["aggregation"]
    csv = pd.read_csv(tmp_path / "grounding_after_training.csv", dtype={"image_id": str})
    assert list(csv["image_id"]) == ["1", "2", "3"]
    table = grounding_table(saved["grounding"])
    assert table.loc[("after_training", "model"), "pointing accuracy"].startswith("0.50 [")
    assert table.loc[("after_training", "centre"), "images scored"] == 2


def test_figure_draws_the_data_it_reports(run, tmp_path):
    drawn = plot_grounding_examples(run, tmp_path / "grounding_examples.png", "profile=smoke", 3)
    assert_png_of(drawn.figure, tmp_path / "grounding_examples.png")
    panels, axes = drawn.panels, np.asarray(drawn.figure.axes).reshape(-1, 3)
    assert [p.image_id for p in panels] == ["1", "2", "3"]  # scored ones first
    table = run.table.set_index("image_id")
    for panel, (image_ax, map_ax, text_ax) in zip(panels, axes, strict=True):
        index = [r.unique_id for r in run.records].index(panel.image_id)
        expected = run.explanations[index]
        if table.loc[panel.image_id, "scored"]:
            np.testing.assert_array_equal(panel.grid_map, expected.phrase_map("deformation"))
            assert panel.hit == table.loc[panel.image_id, "model_hit"]
            assert panel.inside_mass == table.loc[panel.image_id, "model_mass"]
        else:
            np.testing.assert_array_equal(panel.grid_map, expected.caption_map())
        side = panel.overlay.shape[0]
        with Image.open(run.records[index].image_path) as opened:
            picture = opened.convert("RGB").resize((side, side))  # the processor's frame
        np.testing.assert_array_equal(image_ax.images[0].get_array(), np.asarray(picture))
        grey = np.asarray(picture.convert("L"))  # under the map
        np.testing.assert_array_equal(map_ax.images[0].get_array(), grey)
        np.testing.assert_array_equal(map_ax.images[-1].get_array(), panel.overlay)
        for ax in (image_ax, map_ax):
            outlines = [patch.get_xy()[:-1] for patch in ax.patches]
            assert len(outlines) == len(panel.polygons)
            for outline, vertices in zip(outlines, panel.polygons, strict=True):
                np.testing.assert_allclose(outline, vertices)
        np.testing.assert_allclose(map_ax.lines[0].get_xydata()[0], panel.peak)
        boxed = [t.get_text() for t in text_ax.texts if t.get_bbox_patch() is not None]
        assert boxed == [panel.caption[s:e] for s, e, _ in panel.highlights]
    first = panels[0]
    assert first.peak == (4.0, 4.0) and first.hit  # the top-left patch's centre
    assert [first.caption[s:e] for s, e, _ in first.highlights] == ["dyke", "deformation"]
    assert panels[2].highlights[0][2] == "negated"


def test_smoke_run_with_a_tiny_model(records, tmp_path):
    cfg = load_config("smoke", output_dir=tmp_path)
    model = build_stand_in("random:tiny", cfg.image_size, seed=0)
    processor, device = build_offline_processor(cfg.image_size), choose_device("cpu", "fp32")
    run = ground_records(model, processor, records, cfg, device, stage="smoke", progress=False)
    chosen = eligible(records)
    captions = caption_images(model, processor, [r.image_path for r in chosen], cfg, device)
    assert [e.caption for e in run.explanations] == captions
    assert list(run.table["image_id"]) == ["1", "2", "3"]
    drawn = plot_grounding_examples(run, tmp_path / "g.png", cfg.provenance(True), 2)
    for panel in drawn.panels:
        index = [r.unique_id for r in chosen].index(panel.image_id)
        np.testing.assert_allclose(panel.grid_map.sum(), 1.0)
        if not run.table["scored"].iloc[index]:
            np.testing.assert_array_equal(panel.grid_map, run.explanations[index].caption_map())
