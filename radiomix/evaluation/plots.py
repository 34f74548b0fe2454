"""Figures of an experiment or an evaluation: ROC, ROC per rule population, calibration,
decision curves, confusion matrix, SHAP, optuna history.

Each function draws one figure, saves it as PNG at `path` and returns the path. Text is set
at sizes readable when the figure is shown at its natural width in the HTML report. Figures are
made with ``matplotlib.figure.Figure``, not pyplot, and the sizes are applied with
``matplotlib.rc_context`` while a figure is drawn: no GUI backend, no global matplotlib state.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_curve

if TYPE_CHECKING:
    import shap
    from matplotlib.typing import RcKeyType

READABLE: dict[RcKeyType, int] = {
    "font.size": 12,
    "axes.titlesize": 13,
    "axes.labelsize": 12,
    "legend.fontsize": 10,
    "xtick.labelsize": 11,
    "ytick.labelsize": 11,
}


def _readable(draw: Callable[..., Any]) -> Callable[..., Any]:
    """Run a plotting function with the READABLE text sizes."""

    @functools.wraps(draw)
    def drawn(*args: Any, **kwargs: Any) -> Any:
        with rc_context(READABLE):
            return draw(*args, **kwargs)

    return drawn


def _subplots(*grid: int, figsize: tuple[float, float], **options: Any) -> tuple[Figure, Any]:
    """A figure and its axes (``Figure.subplots``)."""
    figure = Figure(figsize=figsize, layout="constrained")  # titles clear of the row above
    return figure, figure.subplots(*grid, **options)


def _save(figure: Figure, path: Path) -> Path:
    path = Path(path)
    figure.savefig(path, dpi=120, bbox_inches="tight")
    return path


def _roc_axes(axis: Axes, title: str) -> None:
    axis.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    axis.set(
        xlabel="1 − specificity", ylabel="sensitivity", xlim=(0, 1), ylim=(0, 1.02), title=title
    )
    axis.legend(loc="lower right")


@_readable
def roc_plot(
    y_true: ArrayLike,
    y_score: ArrayLike,
    path: Path,
    auc: float | None = None,
    title: str = "ROC (pooled out-of-fold, repeat 0)",
) -> Path:
    """ROC curve of the model on all cases (the rules are drawn per population, see
    `population_roc_plot`)."""
    fpr, tpr, _ = roc_curve(y_true, y_score)
    figure, axis = _subplots(figsize=(5.5, 5))
    axis.plot(fpr, tpr, lw=2, label="model" if auc is None else f"model (AUC {auc:.3f})")
    _roc_axes(axis, title)
    return _save(figure, path)


def _grid(count: int, width: float = 5.0) -> tuple[Figure, Any]:
    """A figure of `count` square panels, three per row; unused panels hidden."""
    columns = min(3, count)
    rows = -(-count // columns)
    figure, axes = _subplots(rows, columns, figsize=(width * columns, width * rows), squeeze=False)
    for axis in axes.flat[count:]:
        axis.set_visible(False)
    return figure, axes.flat


@_readable
def population_roc_plot(
    predictions: pd.DataFrame, rules: dict[str, dict], path: Path
) -> Path | None:
    """One panel per rule: on the cases where the rule applies, the model's ROC curve, the
    ROC curve of the rule's parameter and the rule's operating point; None without rules."""
    shown = [rule for rule, values in rules.items() if values.get("sensitivity") is not None]
    if not shown:
        return None
    figure, axes = _grid(len(shown))
    for axis, rule in zip(axes, shown, strict=False):
        values = rules[rule]
        cases = predictions[predictions[f"rule_{rule}"].notna()]
        fpr, tpr, _ = roc_curve(cases["y_true"], cases["y_score"])
        axis.plot(fpr, tpr, lw=2, label=f"model, same {len(cases)} cases")
        param = f"param_{rule}"
        if values.get("auc") is not None and param in cases:
            scored = cases[cases[param].notna()]
            sign = -1.0 if values.get("direction") == "lower" else 1.0
            fpr, tpr, _ = roc_curve(scored["y_true"], sign * scored[param])
            axis.plot(fpr, tpr, lw=1.5, ls="-.", label=f"parameter (AUC {values['auc']:.2f})")
        axis.scatter(
            1 - values["specificity"],
            values["sensitivity"],
            marker="D",
            s=60,
            color="C3",
            zorder=3,
            label="rule's cut-off",
        )
        _roc_axes(axis, f"{rule} (n={len(cases)})")
    return _save(figure, path)


@_readable
def decision_curve_plot(curves: dict[str, dict], path: Path) -> Path:
    """Net benefit against threshold probability: the model on all cases, then per rule
    population the model and the rule on the same cases; treat-all and treat-none."""
    figure, axes = _grid(len(curves))
    for axis, (name, curve) in zip(axes, curves.items(), strict=False):
        threshold = curve["threshold"]
        axis.plot(threshold, curve["model"], lw=2, label="model")
        if "rule" in curve:
            axis.plot(threshold, curve["rule"], lw=2, ls="-.", label=f"rule {name}")
        axis.plot(threshold, curve["treat_all"], color="grey", lw=1, label="treat all")
        axis.axhline(0.0, color="black", lw=1, label="treat none")
        top = max(max(v for v in curve["treat_all"] if v is not None), 0.05)
        axis.set(
            xlabel="threshold probability",
            ylabel="net benefit",
            xlim=(0, 1),
            ylim=(-0.05, 1.1 * top),
            title="all cases" if name == "all" else name,
        )
        axis.legend(loc="upper right")
    return _save(figure, path)


@_readable
def confusion_plot(cells: dict, path: Path, threshold: float | None = None) -> Path:
    """The 2×2 table of true against predicted class, counts written in the cells."""
    table = np.array([[cells["tp"], cells["fn"]], [cells["fp"], cells["tn"]]])
    figure, axis = _subplots(figsize=(4.8, 4.2))
    axis.imshow(table, cmap="Blues")
    for (row, column), count in np.ndenumerate(table):
        axis.text(
            column,
            row,
            str(count),
            ha="center",
            va="center",
            fontsize=16,
            color="white" if count > table.max() / 2 else "black",
        )
    names = ["recurrence", "radionecrosis"]
    axis.set_xticks([0, 1], [f"predicted {n}" for n in names], rotation=15)
    axis.set_yticks([0, 1], [f"true {n}" for n in names])
    suffix = "" if threshold is None else f" (threshold {threshold:.3f})"
    axis.set_title("Confusion matrix" + suffix)
    return _save(figure, path)


@_readable
def calibration_plot(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    path: Path,
    n_bins: int = 5,
    title: str = "Calibration (out-of-fold)",
) -> Path:
    """Reliability diagram: observed frequency against mean predicted probability per bin."""
    observed, predicted = calibration_curve(y_true, y_prob, n_bins=n_bins, strategy="quantile")
    figure, axis = _subplots(figsize=(5, 5))
    axis.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect")
    axis.plot(predicted, observed, marker="o", label="model")
    axis.set(
        xlabel="predicted probability",
        ylabel="observed frequency",
        xlim=(0, 1),
        ylim=(0, 1),
        title=title,
    )
    axis.legend(loc="upper left")
    return _save(figure, path)


@_readable
def shap_beeswarm(explanation: shap.Explanation, path: Path, max_display: int = 15) -> Path:
    """SHAP summary (beeswarm) of an explanation, labels at the readable size."""
    import shap

    figure = Figure(figsize=(9, 7))
    shap.plots.beeswarm(
        explanation, max_display=max_display, show=False, plot_size=None, ax=figure.subplots()
    )
    for axis in figure.axes:
        axis.tick_params(labelsize=READABLE["ytick.labelsize"])
        axis.xaxis.label.set_fontsize(READABLE["axes.labelsize"])
        axis.yaxis.label.set_fontsize(READABLE["axes.labelsize"])
    return _save(figure, path)


@_readable
def optuna_history_plot(values: list[float], path: Path) -> Path:
    """Objective value of each completed trial and the best value so far."""
    figure, axis = _subplots(figsize=(6, 4))
    trials = np.arange(1, len(values) + 1)
    axis.scatter(trials, values, s=14, label="trial")
    axis.plot(trials, np.maximum.accumulate(values), color="C3", label="best so far")
    axis.set(xlabel="completed trial", ylabel="inner-CV AUC", title="Optuna search (final model)")
    axis.legend(loc="lower right")
    return _save(figure, path)


def evaluation_figures(
    predictions: pd.DataFrame, metrics: dict, out: Path, kind: str = "out-of-fold"
) -> dict[str, Path]:
    """The figures of an experiment or an evaluation, from its predictions (`y_true`,
    `y_score`, rule columns) and `metrics.json`: ROC, ROC per rule population, calibration,
    decision curves and confusion matrix at the model's threshold."""
    model = metrics["model"]
    paths = {
        "roc": roc_plot(
            predictions["y_true"],
            predictions["y_score"],
            out / "roc.png",
            model["auc"],
            f"ROC ({kind}, all cases)",
        ),
        "calibration": calibration_plot(
            predictions["y_true"],
            predictions["y_score"],
            out / "calibration.png",
            title=f"Calibration ({kind})",
        ),
        "decision_curves": decision_curve_plot(
            metrics["decision_curves"], out / "decision_curves.png"
        ),
        "confusion": confusion_plot(model, out / "confusion.png", metrics.get("threshold")),
    }
    population = population_roc_plot(predictions, metrics["rules"], out / "roc_by_population.png")
    return paths | ({"roc_by_population": population} if population else {})
