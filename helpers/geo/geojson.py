"""The patches that state deformation as GeoJSON polygons (longitude/latitude, WGS 84), which
QGIS and most GIS tools open as a layer over the frame."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.files import write_text_atomic
from helpers.geo.licsar import LicsarProduct
from helpers.geo.tiles import Patch


def patch_polygon(product: LicsarProduct, patch: Patch) -> list[list[float]]:
    """The window's outline as a closed ring of [lon, lat] corners (counter-clockwise)."""
    rows = np.array([patch.row + patch.height, patch.row + patch.height, patch.row, patch.row])
    cols = np.array([patch.col, patch.col + patch.width, patch.col + patch.width, patch.col])
    lons, lats = product.lonlat(rows, cols)
    ring = [[round(float(x), 6), round(float(y), 6)] for x, y in zip(lons, lats, strict=True)]
    return [*ring, ring[0]]


def write_geojson(
    product: LicsarProduct,
    patches: Sequence[Patch],
    rows: pd.DataFrame,
    provenance: str,
    path: Path,
) -> Path:
    """Write one polygon Feature per patch (properties: its row of the CSV) to ``path``."""
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [patch_polygon(product, patch)]},
            "properties": json.loads(row.to_json()),
        }
        for patch, (_, row) in zip(patches, rows.iterrows(), strict=True)
    ]
    collection = {
        "type": "FeatureCollection",
        "name": f"{product.pair} patches stating deformation",
        "provenance": provenance,
        "features": features,
    }
    write_text_atomic(path, json.dumps(collection, indent=1) + "\n")
    return path


__all__ = ["patch_polygon", "write_geojson"]
