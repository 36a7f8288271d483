"""Screen a LiCSAR frame: render it, cut it into patches, caption every patch, read the facts.

``screen_frame`` is the one call: the rendered frame (``helpers.geo.render``) is cut into
patches (``helpers.geo.tiles``), every patch is captioned in batches with a progress bar
(``helpers.eval.inference.caption_images``, any captioner of the collection), the facts each
caption states are read (``helpers.eval.domain_facts.read_facts``) and, for a model with
attribute heads, their probabilities are added. It writes, into the output folder and never
beside the user's files (it refuses the input's own folder):

- ``<pair>_patches.csv``: one row per patch (number, pixel window, centre lon/lat, share of
  pixels with data, caption, the facts read, ``p_<attribute>`` head probabilities, provenance);
- ``<pair>_screening.png``: the frame with the patches that state deformation outlined and
  numbered;
- ``<pair>_deformation.geojson`` (``geojson=True``): those patches as polygons, for QGIS.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from helpers.config import CaptionConfig, shareable_name
from helpers.device import DeviceChoice
from helpers.eval.domain_facts import PRESENT, TYPE_SEPARATOR, read_facts
from helpers.eval.inference import caption_images, head_probabilities
from helpers.files import write_text_atomic
from helpers.geo.figure import plot_screening
from helpers.geo.geojson import write_geojson
from helpers.geo.licsar import LicsarProduct
from helpers.geo.render import COHERENCE_THRESHOLD, render_phase
from helpers.geo.tiles import MIN_VALID_SHARE, OVERLAP, PATCH_SIZE, Patch, crop, tile_frame
from helpers.model.attributes import attribute_heads

log = logging.getLogger(__name__)

OUTPUT_FOLDER = "licsar"  # under cfg.output_dir
COLUMNS = (  # then p_<attribute> for a model with heads, and provenance
    *("patch", "row", "col", "height", "width", "lon", "lat", "valid_share"),
    *("caption", "deformation", "activity_types", "atmospheric"),
)


@dataclass
class Screening:
    """What ``screen_frame`` made: the table, the patches, the rendered frame, the files."""

    table: pd.DataFrame
    patches: list[Patch]
    image: np.ndarray
    provenance: str
    csv: Path
    figure: Path
    geojson: Path | None

    @property
    def flagged(self) -> pd.DataFrame:
        """The rows of the patches whose caption states deformation."""
        return self.table[self.table["deformation"] == PRESENT]


def screening_provenance(cfg: CaptionConfig, product: LicsarProduct) -> str:
    """One line saying what made a screening; stand-ins end with "not a Hephaestus result"."""
    reasons = ["SYNTHETIC LiCSAR-shaped frame"] if product.synthetic else []
    if cfg.is_stand_in:
        reasons.append(f"stand-in model (profile {cfg.profile})")
    verdict = " + ".join(reasons) + ": not a Hephaestus result" if reasons else "LiCSAR frame"
    return f"frame={product.pair} | model={shareable_name(cfg.model_name)} | {verdict}"


def output_folder(cfg: CaptionConfig, product: LicsarProduct, out_dir: Path | None) -> Path:
    """Where the outputs go: ``out_dir`` or ``<cfg.output_dir>/licsar``; never the folder that
    holds the input files."""
    folder = Path(out_dir) if out_dir is not None else Path(cfg.output_dir) / OUTPUT_FOLDER
    inputs = [product.path, product.coherence_path]
    beside = [p for p in inputs if p is not None and p.parent.resolve() == folder.resolve()]
    if beside:
        raise ValueError(
            f"{folder} holds the input {beside[0].name}: screening never writes beside your "
            "files; choose another output folder (cfg.output_dir)."
        )
    return folder


def patch_table(
    patches: list[Patch], captions: list[str], probabilities: np.ndarray | None, names: list[str]
) -> pd.DataFrame:
    """One row per patch: its window, its caption, the facts read, the heads' probabilities."""
    rows = []
    for index, (patch, caption) in enumerate(zip(patches, captions, strict=True)):
        facts = read_facts(caption)
        row: dict[str, Any] = {
            "patch": patch.number,
            "row": patch.row,
            "col": patch.col,
            "height": patch.height,
            "width": patch.width,
            "lon": round(patch.lon, 6),
            "lat": round(patch.lat, 6),
            "valid_share": round(patch.valid_share, 3),
            "caption": caption,
            "deformation": facts.deformation,
            "activity_types": TYPE_SEPARATOR.join(facts.activity_types),
            "atmospheric": facts.atmospheric,
        }
        if probabilities is not None:
            heads = zip(names, probabilities[index], strict=True)
            row |= {f"p_{name}": round(float(p), 4) for name, p in heads}
        rows.append(row)
    return pd.DataFrame(rows, columns=[*COLUMNS, *(f"p_{name}" for name in names)])


def screen_frame(
    product: LicsarProduct,
    model: torch.nn.Module,
    processor: Any,
    cfg: CaptionConfig,
    device: DeviceChoice,
    out_dir: Path | None = None,
    *,
    patch_size: int = PATCH_SIZE,
    overlap: int = OVERLAP,
    coherence_threshold: float = COHERENCE_THRESHOLD,
    min_valid_share: float = MIN_VALID_SHARE,
    geojson: bool = True,
    progress: bool = True,
) -> Screening:
    """Caption every patch of ``product`` and write the CSV, the picture and the GeoJSON."""
    folder = output_folder(cfg, product, out_dir)
    image = render_phase(product, coherence_threshold)
    patches = tile_frame(product, patch_size, overlap, min_valid_share)
    if not patches:
        raise ValueError(f"{product.path}: no patch holds {min_valid_share:.0%} of data pixels")
    log.info(f"{product.pair}: {len(patches)} patches of {patch_size} px, overlap {overlap} px")
    crops = [Image.fromarray(crop(image, patch, patch_size)) for patch in patches]
    captions = caption_images(model, processor, crops, cfg, device, progress=progress)
    probabilities = head_probabilities(model, processor, crops, device, cfg.eval_batch_size)
    heads = attribute_heads(model)
    names = list(heads.heads["names"]) if heads is not None else []
    provenance = screening_provenance(cfg, product)
    table = patch_table(patches, captions, probabilities, names).assign(provenance=provenance)
    csv = write_text_atomic(folder / f"{product.pair}_patches.csv", table.to_csv(index=False))
    stated = (table["deformation"] == PRESENT).to_numpy()
    flagged = [patch for patch, on in zip(patches, stated, strict=True) if on]
    figure = plot_screening(
        image, product, flagged, provenance, folder / f"{product.pair}_screening.png", len(patches)
    )
    geo = None
    if geojson:
        geo = write_geojson(
            product,
            flagged,
            table[stated],
            provenance,
            folder / f"{product.pair}_deformation.geojson",
        )
    log.info(f"{len(flagged)} of {len(patches)} patches state deformation; wrote {csv.name}")
    return Screening(table, patches, image, provenance, csv, figure, geo)


__all__ = ["OUTPUT_FOLDER", "Screening", "screen_frame", "screening_provenance"]
