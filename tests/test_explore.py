from pathlib import Path

import numpy as np
from PIL import Image

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


def test_overview_and_grid_figures(tmp_path):
    data = _data(tmp_path)
    table = records_table(data)
    out = tmp_path / "out"
    plot_dataset_overview(table, out / "overview.png", "provenance")
    plot_image_grid(list(table.image_path[:4]), list(table.caption[:4]), out / "grid.png", "p")
    assert (out / "overview.png").stat().st_size > 5000
    assert (out / "grid.png").stat().st_size > 5000


def test_sample_image_folder_copies_test_images(tmp_path):
    data = _data(tmp_path)
    folder = sample_image_folder(data, tmp_path / "mine", count=1)
    assert [p.name for p in folder.iterdir()] == ["4.png"]
    assert (tmp_path / "4.png").exists()  # copied, not moved
