"""Screen a LiCSAR interferogram: from the GeoTIFFs of a frame to captioned, located patches.

The stage after ``eval``: it reads LiCSAR's geocoded products and hands rendered patches to any
captioner of the collection; nothing earlier imports it::

    licsar.py           read <pair>.geo.diff_pha.tif (+ .geo.cc.tif): phase, coherence, grid
    render.py           the training images' colour scale, low coherence grey, no data black
    tiles.py            224 px patches with overlap, each with its window and centre lon/lat
    screening.py        screen_frame: caption every patch, read the facts, write the outputs
    figure.py           the frame with the patches that state deformation outlined, numbered
    geojson.py          those patches as GeoJSON polygons
    synthetic_frame.py  a LiCSAR-shaped stand-in frame (python -m helpers.geo.synthetic_frame)
    stand_in.py         the frame notebook 09 screens: yours, or the stand-in in demo/smoke
"""
