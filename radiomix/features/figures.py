"""The figure `radiomix extract` draws beside the feature table.

Made with ``matplotlib.figure.Figure``, not pyplot: no GUI backend, no global matplotlib state.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure


def curves_plot(curves: pd.DataFrame, labels: pd.DataFrame, path: Path) -> Path:
    """Mean lesion and background time-activity curves (± SD) per class, one panel per tracer.

    ``curves`` is the long table of `radiomix extract` (case_id, region, frame, mid_min, suv);
    ``labels`` has case_id, label and tracer.
    """
    data = curves[curves["region"].isin(["lesion_mask", "ref_background"])].merge(
        labels[["case_id", "label", "tracer"]], on="case_id"
    )
    tracers = sorted(data["tracer"].dropna().unique()) or ["(none)"]
    figure = Figure(figsize=(5.5 * len(tracers), 4.2))
    axes = figure.subplots(1, len(tracers), squeeze=False)
    names = {1: "recurrence", 0: "radionecrosis"}
    for axis, tracer in zip(axes[0], tracers, strict=True):
        for (region, label), group in data[data["tracer"] == tracer].groupby(["region", "label"]):
            stats = group.groupby("mid_min")["suv"].agg(["mean", "std"]).reset_index()
            style = "-" if region == "lesion_mask" else ":"
            colour = "tab:red" if label == 1 else "tab:blue"
            n = group["case_id"].nunique()
            axis.plot(
                stats["mid_min"],
                stats["mean"],
                style,
                color=colour,
                marker="o",
                ms=3,
                label=f"{'lesion' if style == '-' else 'background'}, "
                f"{names.get(label, label)} (n={n})",
            )
            if region == "lesion_mask":
                axis.fill_between(
                    stats["mid_min"],
                    stats["mean"] - stats["std"],
                    stats["mean"] + stats["std"],
                    color=colour,
                    alpha=0.15,
                )
        axis.set(
            xlabel="time after injection (min, frame mid-time)",
            ylabel="SUV",
            title=f"{tracer}: mean time-activity curves (± SD)",
        )
        axis.legend()
    figure.savefig(path, dpi=110, bbox_inches="tight")
    return Path(path)
