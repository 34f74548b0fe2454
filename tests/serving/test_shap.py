"""Per-case SHAP contributions of every model family obey SHAP's local accuracy:
contributions plus the base value give the model output for that case (Lundberg & Lee 2017)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import logit
from sklearn.model_selection import StratifiedKFold

from radiomix.modeling.config import PreprocessingConfig
from radiomix.modeling.pipeline import Calibration, Choice, build_pipeline
from radiomix.serving.model import RadiomixModel, shap_reference
from radiomix.serving.novelty import NoveltyDetector

FEATURES = ["pet_TBRmax", "pet_TBRmean", "mri_ADC_mean", "dyn_TTP_min", "age"]


@pytest.fixture(scope="module")
def table() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(5)
    y = np.tile([0, 1], 30)
    X = pd.DataFrame(rng.normal(size=(60, len(FEATURES))), columns=FEATURES)
    X["pet_TBRmax"] += 1.5 * y
    X["mri_ADC_mean"] -= 1.0 * y
    X.loc[4, "age"] = np.nan
    return X, y


@pytest.mark.parametrize(
    ("name", "params", "to_output"),
    [
        (
            "rf",
            {"n_estimators": 25, "max_depth": 3, "min_samples_leaf": 2, "max_features": "sqrt"},
            lambda p: p,
        ),
        (
            "xgb",
            {
                "n_estimators": 30,
                "max_depth": 2,
                "learning_rate": 0.1,
                "subsample": 1.0,
                "colsample_bytree": 1.0,
                "min_child_weight": 1.0,
            },
            logit,
        ),
        pytest.param(
            "svm", {"C": 1.0, "gamma": 0.1, "kernel": "rbf"}, lambda p: p, marks=pytest.mark.slow
        ),
        ("l1_lr", {"C": 1.0}, logit),
    ],
)
def test_contributions_add_up_to_the_model_output(table, tmp_path, name, params, to_output):
    X, y = table
    folds = list(StratifiedKFold(3).split(X, y))  # only the SVM is recalibrated ("none")
    pipeline = build_pipeline(
        FEATURES,
        Choice(name, params, k=3),
        preprocessing=PreprocessingConfig(),
        harmonise=False,
        seed=0,
        calibration=Calibration("none", folds),
    ).fit(X, y)
    info = {
        "input_columns": FEATURES,
        "threshold": 0.5,
        "model": name,
        "shap_reference": shap_reference(pipeline, X),
    }
    model = RadiomixModel(pipeline, info, NoveltyDetector.fit(X), tmp_path)
    cases = X.iloc[[0, 1, 4, 7]]
    explanation = model.shap_values(cases)
    assert explanation.values.shape == (4, 3)
    expected = to_output(pipeline.predict_proba(cases)[:, 1])
    np.testing.assert_allclose(
        explanation.values.sum(axis=1) + explanation.base_values, expected, atol=1e-5
    )
    listed = model.score(cases, top=1)["top_features"]
    present = cases[explanation.feature_names].notna().to_numpy()  # imputed ones are left out
    largest = np.where(present, np.abs(explanation.values), -1).argmax(axis=1)
    assert [item.split("=")[0] for item in listed] == [
        explanation.feature_names[j] for j in largest
    ]
