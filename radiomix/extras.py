"""Optional dependencies: which extra of `pip install "radiomix[...]"` brings each one.

The core (read, simulate, extract, evaluate the rules) imports none of them; the modules of
the modelling, report and serving stages import them at the top, so a missing one surfaces as a
``ModuleNotFoundError`` that ``missing_extra`` turns into an error naming the extra.
"""

from __future__ import annotations

from radiomix.errors import MissingExtraError

EXTRA_OF_MODULE = {
    "sklearn": "ml",
    "joblib": "ml",
    "xgboost": "ml",
    "optuna": "ml",
    "mlflow": "ml",
    "shap": "ml",
    "dask": "dask",
    "distributed": "dask",
}


def missing_extra(error: ModuleNotFoundError) -> MissingExtraError | None:
    """The error naming the extra that brings the missing module, or None for other modules."""
    top = (error.name or "").partition(".")[0]
    extra = EXTRA_OF_MODULE.get(top)
    if extra is None:
        return None
    return MissingExtraError(
        f"{top} is not installed: it comes with the {extra!r} extra "
        f'(pip install "radiomix[{extra}]")'
    )
