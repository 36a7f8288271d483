from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from test_plots import assert_png_of

from helpers.data.prepare import PreparedData, Record, Split
from helpers.viz.figures import plot_dataset_overview, plot_image_grid
from helpers.viz.tour import records_table, sample_image_folder


def _data(tmp_path: Path) -> PreparedData:
    records = {}
    for index in range(6):
        path = tmp_path / f"{index}.png"
        Image.fromarray(np.full((16, 16, 3), index * 40, np.uint8)).save(path)
        deformed = index % 2 == 0
        records[str(index)] = Record(
            unique_id=str(index),
            frame_id=f"F{index // 2}",
            image_path=path,
            caption=("Deformation due to a Mogi source." if deformed else "No deformation.")
            * (index + 1),
            label=("Deformation",) if deformed else ("Non_Deformation",),
            activity_type=("Mogi",) if deformed else (),
        )
    split = Split(train=["0", "1"], val=["2", "3"], test=["4", "5"])
    return PreparedData(records, split, report=None, synthetic=True)


def test_records_table_has_one_row_per_record_with_its_split(tmp_path):
    table = records_table(_data(tmp_path))
    assert list(table["split"]) == ["train", "train", "val", "val", "test", "test"]
    assert list(table["deformation"]) == [True, False] * 3
    assert list(table["activity_type"]) == ["Mogi", "none"] * 3
    assert table.loc[0, "caption_words"] == 6


def test_overview_draws_lengths_balance_and_activities(tmp_path):
    rows = [  # split, words, deformation, activity type
        ("train", 4, True, "Mogi"),
        ("train", 6, True, "Mogi"),
        ("train", 8, True, "Dyke"),
        ("train", 5, False, "none"),
        ("val", 10, True, "Sill"),
        ("val", 3, False, "none"),
        ("test", 7, False, "none"),
        ("test", 9, False, "none"),
    ]
    table = pd.DataFrame(rows, columns=["split", "caption_words", "deformation", "activity_type"])
    out = tmp_path / "out" / "overview.png"
    fig = plot_dataset_overview(table, out, "provenance")
    assert_png_of(fig, out)
    words_ax, label_ax, activity_ax = fig.axes
    assert [ax.get_title() for ax in fig.axes] == [
        "Caption length",
        "Deformation vs none, per split",
        "Activity type (deformation records)",
    ]
    lengths = [p.get_height() for p in words_ax.patches]
    assert sum(lengths) == len(table)  # every record in the length histogram
    assert words_ax.patches[0].get_x() == 3  # from the shortest caption ...
    last = words_ax.patches[-1]
    assert last.get_x() + last.get_width() == pytest.approx(10)  # ... to the longest
    assert [t.get_text() for t in label_ax.get_xticklabels()] == ["train", "val", "test"]
    balance = {c.get_label(): [p.get_height() for p in c.patches] for c in label_ax.containers}
    assert balance == {"no deformation": [1, 1, 2], "deformation": [3, 1, 0]}
    drawn = [t.get_text() for t in activity_ax.get_yticklabels()]
    widths = dict(zip(drawn, (p.get_width() for p in activity_ax.patches), strict=True))
    assert widths == {"Mogi": 2, "Dyke": 1, "Sill": 1}  # deformation records only


def test_grid_draws_each_image_above_its_caption(tmp_path):
    table = records_table(_data(tmp_path))
    out = tmp_path / "out" / "grid.png"
    fig = plot_image_grid(list(table.image_path[:4]), list(table.caption[:4]), out, "p")
    assert_png_of(fig, out)
    assert fig.get_suptitle() == "Example interferograms and their captions"
    assert len(fig.axes) == 6  # 3 columns, 2 rows: the last two cells stay empty
    shown = table.head(4)
    for ax, path, caption in zip(fig.axes, shown.image_path, shown.caption, strict=False):
        with Image.open(path) as image:
            np.testing.assert_array_equal(ax.images[0].get_array(), np.asarray(image))
        (text,) = ax.texts
        assert text.get_text().split() == caption.split()  # wrapped, not cut
    assert [(len(ax.images), len(ax.texts)) for ax in fig.axes[4:]] == [(0, 0), (0, 0)]


def test_sample_image_folder_copies_test_images(tmp_path):
    data = _data(tmp_path)
    folder = sample_image_folder(data, tmp_path / "mine", count=1)
    assert [p.name for p in folder.iterdir()] == ["4.png"]
    assert (tmp_path / "4.png").exists()  # copied, not moved
