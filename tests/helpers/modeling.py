"""Small synthetic feature tables with known signal, shared by the modelling tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from radiomix.modeling.config import ExperimentConfig


def synthetic_table(
    n_patients: int = 60,
    lesions: int = 2,
    n_noise: int = 20,
    signal: float = 1.5,
    sites: int = 2,
    seed: int = 0,
) -> pd.DataFrame:
    """A feature table in the project's layout; the label depends on `pet_TWMmax` and
    `mri_ADC_ratio` (lower ADC = recurrence), the other features are noise, and each site
    shifts every feature by a site-specific offset."""
    rng = np.random.default_rng(seed)
    n = n_patients * lesions
    patient = np.repeat(np.arange(n_patients), lesions)
    label = rng.integers(0, 2, n_patients)[patient]
    site = patient % sites
    offset = rng.normal(0, 1.0, sites)[site]
    table = pd.DataFrame(
        {
            "case_id": [f"case{i:03d}" for i in range(n)],
            "patient_id": [f"pat{p:03d}" for p in patient],
            "label": label,
            "site": [f"site{s}" for s in site],
            "tracer": "FET",
            "primary": "glioma",
            "age": rng.normal(55, 10, n).round(),
            "pet_TWMmax": 2.0 + signal * 0.5 * label + rng.normal(0, 0.5, n) + 0.3 * offset,
            "mri_ADC_ratio": 1.8 - signal * 0.2 * label + rng.normal(0, 0.2, n) + 0.1 * offset,
        }
    )
    noise = rng.normal(0, 1, (n, n_noise)) + offset[:, None]
    texture = pd.DataFrame(noise, columns=[f"pet_original_glcm_Noise{j}" for j in range(n_noise)])
    return pd.concat([table, texture], axis=1)


def tiny_config(table: Path, **overrides) -> ExperimentConfig:
    """An experiment on `table` with a small budget (seconds, not minutes)."""
    raw = {
        "name": "tiny",
        "seed": 3,
        "input": {"table": str(table)},
        "models": [
            {"name": "l2_lr"},
            {"name": "rf", "params": {"n_estimators": {"type": "int", "low": 20, "high": 40}}},
        ],
        "search": {"n_trials": 4, "k_features": {"type": "int", "low": 2, "high": 8}},
        "outer_cv": {"folds": 3, "repeats": 2},
        "inner_cv": {"folds": 2},
        "rules": [],
    }
    for key, value in overrides.items():
        raw[key] = raw[key] | value if isinstance(value, dict) and key in raw else value
    return ExperimentConfig.model_validate(raw)
