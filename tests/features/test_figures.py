"""The time-activity curve figure of `radiomix extract`."""

from __future__ import annotations

import matplotlib.image
import pandas as pd

from radiomix.features.figures import curves_plot


def test_curves_plot_has_one_panel_per_tracer(tmp_path):
    rows = [
        {
            "case_id": f"{tracer}{label}",
            "region": region,
            "frame": frame,
            "mid_min": 5.0 * frame,
            "suv": 1.0 + label + frame * (region == "lesion_mask"),
        }
        for tracer in ("FET", "FDOPA")
        for label in (0, 1)
        for region in ("lesion_mask", "ref_background")
        for frame in range(4)
    ]
    curves = pd.DataFrame(rows)
    labels = pd.DataFrame({"case_id": curves["case_id"].unique()}).assign(
        tracer=lambda t: t["case_id"].str[:-1], label=lambda t: t["case_id"].str[-1].astype(int)
    )
    widths = []
    for chosen in (["FET"], ["FET", "FDOPA"]):
        path = curves_plot(curves, labels[labels["tracer"].isin(chosen)], tmp_path / "c.png")
        widths.append(matplotlib.image.imread(path).shape[1])
    assert 1.8 < widths[1] / widths[0] < 2.2
