"""Figures of an experiment: ROC with rule operating points, calibration, SHAP, optuna history.

Each function draws one figure, saves it as PNG at `path` and returns the path.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_curve


def _save(figure, path: Path) -> Path:
    path = Path(path)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path


def roc_plot(y_true, y_score, rule_points: dict[str, tuple[float, float]], path: Path,
             auc: float | None = None) -> Path:
    """ROC curve of the model with each rule's operating point (1 − specificity, sensitivity)."""
    fpr, tpr, _ = roc_curve(y_true, y_score)
    figure, axis = plt.subplots(figsize=(5.5, 5))
    label = "model" if auc is None else f"model (AUC {auc:.3f})"
    axis.plot(fpr, tpr, lw=2, label=label)
    axis.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    for name, (sensitivity, specificity) in rule_points.items():
        if np.isfinite(sensitivity) and np.isfinite(specificity):
            axis.scatter(1 - specificity, sensitivity, marker="D", s=40, label=f"rule {name}",
                         zorder=3)
    axis.set(xlabel="1 − specificity", ylabel="sensitivity", xlim=(0, 1), ylim=(0, 1.02),
             title="ROC (pooled out-of-fold, repeat 0)")
    axis.legend(loc="lower right", fontsize=8)
    return _save(figure, path)


def calibration_plot(y_true, y_prob, path: Path, n_bins: int = 5) -> Path:
    """Reliability diagram: observed frequency against mean predicted probability per bin."""
    observed, predicted = calibration_curve(y_true, y_prob, n_bins=n_bins, strategy="quantile")
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect")
    axis.plot(predicted, observed, marker="o", label="model")
    axis.set(xlabel="predicted probability", ylabel="observed frequency", xlim=(0, 1),
             ylim=(0, 1), title="Calibration (out-of-fold)")
    axis.legend(loc="upper left")
    return _save(figure, path)


def shap_beeswarm(explanation, path: Path, max_display: int = 20) -> Path:
    """SHAP summary (beeswarm) of an explanation."""
    import shap

    shap.plots.beeswarm(explanation, max_display=max_display, show=False)
    return _save(plt.gcf(), path)


def optuna_history_plot(values: list[float], path: Path) -> Path:
    """Objective value of each completed trial and the best value so far."""
    figure, axis = plt.subplots(figsize=(6, 4))
    trials = np.arange(1, len(values) + 1)
    axis.scatter(trials, values, s=14, label="trial")
    axis.plot(trials, np.maximum.accumulate(values), color="C3", label="best so far")
    axis.set(xlabel="completed trial", ylabel="inner-CV AUC", title="Optuna search (final model)")
    axis.legend(loc="lower right")
    return _save(figure, path)


def curves_plot(curves, labels, path: Path) -> Path:
    """Mean lesion and background time-activity curves (± SD) per class, one panel per tracer.

    ``curves`` is the long table of `radiomix extract` (case_id, region, frame, mid_min, suv);
    ``labels`` has case_id, label and tracer.
    """
    data = curves[curves["region"].isin(["lesion_mask", "ref_background"])].merge(
        labels[["case_id", "label", "tracer"]], on="case_id")
    tracers = sorted(data["tracer"].dropna().unique()) or ["(none)"]
    figure, axes = plt.subplots(1, len(tracers), figsize=(5.5 * len(tracers), 4.2),
                                squeeze=False)
    names = {1: "recurrence", 0: "radionecrosis"}
    for axis, tracer in zip(axes[0], tracers, strict=True):
        for (region, label), group in data[data["tracer"] == tracer].groupby(
                ["region", "label"]):
            stats = group.groupby("mid_min")["suv"].agg(["mean", "std"]).reset_index()
            style = "-" if region == "lesion_mask" else ":"
            colour = "tab:red" if label == 1 else "tab:blue"
            n = group["case_id"].nunique()
            axis.plot(stats["mid_min"], stats["mean"], style, color=colour, marker="o", ms=3,
                      label=f"{'lesion' if style == '-' else 'background'}, "
                            f"{names.get(label, label)} (n={n})")
            if region == "lesion_mask":
                axis.fill_between(stats["mid_min"], stats["mean"] - stats["std"],
                                  stats["mean"] + stats["std"], color=colour, alpha=0.15)
        axis.set(xlabel="time after injection (min, frame mid-time)", ylabel="SUV",
                 title=f"{tracer}: mean time-activity curves (± SD)")
        axis.legend(fontsize=8)
    return _save(figure, path)
