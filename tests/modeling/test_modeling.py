"""Unit tests of the modelling pieces: config, feature groups, transformers, folds, pipeline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers.modeling import synthetic_table, tiny_config
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.utils.estimator_checks import parametrize_with_checks

from radiomix.errors import ConfigError, ManifestError
from radiomix.modeling.config import load_experiment
from radiomix.modeling.data import feature_groups, load_model_data
from radiomix.modeling.nested_cv import outer_splits
from radiomix.modeling.pipeline import Choice, build_pipeline
from radiomix.modeling.search import grouped_folds
from radiomix.modeling.transformers import KBestSelector, RedundancyFilter
from radiomix.paths import EXPERIMENTS_DIR

L2_K3 = Choice("l2_lr", {"C": 1.0}, k=3)


@parametrize_with_checks([RedundancyFilter(), KBestSelector(k=2)])
def test_sklearn_conventions(estimator, check):
    check(estimator)


def test_feature_groups_follow_the_naming_convention():
    columns = [
        "pet_original_glcm_Contrast",
        "t1c_wavelet-LLH_glszm_ZoneEntropy",
        "pet_log-sigma-2-0-mm-3D_firstorder_Mean",
        "pet_ki_glcm_Contrast",
        "pet_SUVmax",
        "pet_TBRmean_1p6",
        "fdg_dual_phase_index",
        "dyn_TTP_min",
        "mri_ADC_ratio",
        "mrs_cho_naa",
        "age",
        "months_since_rt",
        "rcbv_original_firstorder_Mean",
        "adc_original_shape_Sphericity",
    ]
    groups = feature_groups(columns)
    assert groups["texture"] == columns[:4]
    # the histogram and shape of an unfiltered map are its rule parameters, not texture
    assert groups["firstorder"] == columns[-2:]
    assert groups["pet"] == ["pet_SUVmax", "pet_TBRmean_1p6"]
    assert groups["fdg"] == ["fdg_dual_phase_index"]
    assert groups["dyn"] == ["dyn_TTP_min"]
    assert groups["mri"] == ["mri_ADC_ratio"]
    assert groups["mrs"] == ["mrs_cho_naa"]
    assert groups["clinical"] == ["age", "months_since_rt"]


def _greedy_reference(frame: pd.DataFrame, threshold: float) -> list[str]:
    """Independent implementation with pandas: keep a column unless it correlates above
    `threshold` with an earlier kept one."""
    correlation = frame.corr().abs()
    kept: list[str] = []
    for column in frame.columns:
        if all(correlation.loc[column, k] <= threshold for k in kept):
            kept.append(column)
    return kept


def test_redundancy_filter_matches_a_pandas_reference():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(80, 6))
    frame = pd.DataFrame(
        np.column_stack(
            [
                base,
                base[:, 0] * 2 + rng.normal(0, 0.05, 80),
                -base[:, 3] + rng.normal(0, 0.1, 80),
                base[:, 1] + rng.normal(0, 1.0, 80),
            ]
        ),
        columns=[f"f{i}" for i in range(9)],
    )
    selected = RedundancyFilter(correlation_threshold=0.9).fit(frame).get_feature_names_out()
    assert list(selected) == _greedy_reference(frame, 0.9)
    assert "f6" not in selected and "f7" not in selected and "f8" in selected


def test_redundancy_filter_drops_near_constant_features():
    values = np.zeros((40, 3))
    values[:, 0] = np.arange(40)
    values[:2, 1] = 1.0  # 38 of 40 rows (95 %) share one value
    values[:, 2] = np.r_[np.ones(30), np.zeros(10)]  # 75 % share one value: kept
    support = RedundancyFilter(near_constant_fraction=0.95).fit(values).get_support()
    assert support.tolist() == [True, False, True]


def test_kbest_equals_sklearn_selectkbest_and_clips_k():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 12))
    y = (X[:, 3] + X[:, 7] + rng.normal(0, 0.5, 60) > 0).astype(int)
    ours = KBestSelector(k=4).fit(X, y).get_support()
    theirs = SelectKBest(f_classif, k=4).fit(X, y).get_support()
    assert ours.tolist() == theirs.tolist()
    assert KBestSelector(k=50).fit(X, y).get_support().sum() == 12


def test_outer_folds_never_split_a_patient(tmp_path):
    table = synthetic_table(n_patients=40, lesions=3)
    table.to_csv(tmp_path / "t.csv", index=False)
    config = tiny_config(tmp_path / "t.csv", outer_cv={"folds": 4, "repeats": 3})
    data = load_model_data(config, config.input.table)
    splits = outer_splits(data.y, data.groups, config)
    assert len(splits) == 12
    for split in splits:
        assert not set(data.groups[split.train]) & set(data.groups[split.test])
        inner = grouped_folds(data.y[split.train], data.groups[split.train], 3, 0)
        for train, test in inner:
            groups = data.groups[split.train]
            assert not set(groups[train]) & set(groups[test])
    for repeat in range(3):
        tested = np.concatenate([s.test for s in splits if s.repeat == repeat])
        assert sorted(tested.tolist()) == list(range(len(data.y)))


def test_model_data_drops_unlabelled_and_excludes_text_columns(tmp_path):
    table = synthetic_table(n_patients=20, lesions=1)
    table.loc[:2, "label"] = np.nan
    table.to_parquet(tmp_path / "t.parquet")
    config = tiny_config(tmp_path / "t.parquet", features={"groups": ["pet", "clinical"]})
    data = load_model_data(config, config.input.table)
    assert len(data.y) == 17 and data.n_unlabelled == 3
    assert data.features == ["age", "pet_TWMmax"]
    assert data.excluded == ["primary"]
    assert list(data.X.columns) == ["age", "pet_TWMmax", "site"]


def test_bad_labels_and_missing_columns_are_named(tmp_path):
    table = synthetic_table(n_patients=10, lesions=1)
    table["label"] = table["label"].astype(object)
    table.loc[4, "label"] = "maybe"
    table.to_csv(tmp_path / "t.csv", index=False)
    config = tiny_config(tmp_path / "t.csv")
    with pytest.raises(ManifestError, match="'maybe'"):
        load_model_data(config, config.input.table)
    synthetic_table(n_patients=10, lesions=1).to_csv(tmp_path / "good.csv", index=False)
    config = tiny_config(tmp_path / "good.csv", input={"group_column": "family"})
    with pytest.raises(ConfigError, match="'family'"):
        load_model_data(config, config.input.table)


def test_site_pattern_reads_the_site_from_the_id(tmp_path):
    table = synthetic_table(n_patients=12, lesions=1)
    table["case_id"] = [f"{'NCC' if i % 3 else 'OU'}{i:03d}" for i in range(12)]
    table.to_csv(tmp_path / "t.csv", index=False)
    config = tiny_config(
        tmp_path / "t.csv", input={"site_column": None, "site_pattern": "^([A-Za-z]+)"}
    )
    data = load_model_data(config, config.input.table)
    assert data.sites.tolist() == ["OU" if i % 3 == 0 else "NCC" for i in range(12)]


def test_experiment_file_errors_are_config_errors(tmp_path):
    path = tmp_path / "sub" / "e.yaml"
    path.parent.mkdir()
    path.write_text("name: x\ninput: {table: t.csv}\nmodels: [{name: lasso}]\n")
    with pytest.raises(ConfigError, match=r"e\.yaml"):
        load_experiment(path)
    path.write_text("name: x\ninput: {table: data/t.csv}\nmodels: [{name: rf}]\n")
    assert load_experiment(path).input.table == tmp_path / "sub" / "data" / "t.csv"


def test_shipped_experiments_load(repo_root):
    files = [*(repo_root / "experiments").glob("*.yaml"), *EXPERIMENTS_DIR.glob("*.yaml")]
    assert {
        "demo_all",
        "demo_pet_static",
        "demo_pet_dynamic",
        "demo_texture",
        "radmlbench_arita2018",
    } <= {path.stem for path in files}
    for path in files:
        config = load_experiment(path)
        assert {m.name for m in config.models} >= {"l1_lr", "l2_lr", "rf", "svm", "xgb"}


def test_pipeline_fits_only_on_training_rows_with_combat(tmp_path):
    table = synthetic_table(n_patients=60, lesions=1, sites=3)
    table.to_csv(tmp_path / "t.csv", index=False)
    config = tiny_config(tmp_path / "t.csv")
    data = load_model_data(config, config.input.table)
    train, test = np.arange(40), np.arange(40, 60)
    pipeline = build_pipeline(data.features, L2_K3, config.preprocessing, True, 0)
    pipeline.fit(data.X.iloc[train], data.y[train])
    shifted = data.X.copy()
    shifted.iloc[test, :5] += 1000.0  # changing test rows must not change the fitted steps
    refit = build_pipeline(data.features, L2_K3, config.preprocessing, True, 0).fit(
        shifted.iloc[train], data.y[train]
    )
    np.testing.assert_allclose(
        pipeline.predict_proba(data.X.iloc[test]), refit.predict_proba(data.X.iloc[test])
    )
    combat = pipeline.named_steps["combat"]
    assert sorted(combat.batches_) == ["site0", "site1", "site2"]
    assert set(pipeline[:-1].transform(data.X.iloc[test]).columns) <= set(data.features)


def test_constant_feature_is_dropped_before_combat(tmp_path):
    table = synthetic_table(n_patients=40, lesions=1, sites=2).assign(mrs_cho_cr=1.0)
    table.loc[:1, "mrs_cho_cr"] = np.nan  # imputed to the median: still constant
    table.to_csv(tmp_path / "t.csv", index=False)
    config = tiny_config(tmp_path / "t.csv")
    data = load_model_data(config, config.input.table)
    pipeline = build_pipeline(data.features, L2_K3, config.preprocessing, True, 0).fit(
        data.X, data.y
    )
    assert "mrs_cho_cr" in data.features
    assert "mrs_cho_cr" not in pipeline[:-2].transform(data.X).columns
