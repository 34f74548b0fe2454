"""ComBat harmonisation: sklearn conventions, agreement with neuroCombat, site-effect removal."""

from __future__ import annotations

import contextlib
import importlib
import io
import warnings

import numpy as np
import pandas as pd
import pytest
from neuroCombat import neuroCombat
from sklearn.linear_model import RidgeClassifier
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from radiomix.errors import ModelError
from radiomix.modeling import combat as combat_module
from radiomix.modeling.combat import ComBat, UnseenBatchWarning

SITE_SHIFT = {"A": 0.0, "B": 1.5, "C": -1.0}
SITE_SCALE = {"A": 1.0, "B": 2.0, "C": 0.6}


def simulate(sizes: dict[str, int], n_features: int = 12, class_effect: float = 0.0, seed: int = 0):
    """Feature table with a `site` column, known site shift/scale and a label effect.

    The per-feature `spread` is kept in `table.attrs["spread"]`.

    Feature j of a case is mu_j + sigma_j * (SITE_SCALE[site] * e + SITE_SHIFT[site]
    + class_effect * label), e ~ N(0, 1); labels alternate within each site.
    """
    rng = np.random.default_rng(seed)
    site = np.repeat(list(sizes), list(sizes.values()))
    label = np.concatenate([np.arange(n) % 2 for n in sizes.values()])
    scale = np.array([SITE_SCALE[s] for s in site])[:, None]
    shift = np.array([SITE_SHIFT[s] for s in site])[:, None]
    noise = rng.normal(size=(site.size, n_features))
    centre, spread = rng.uniform(-5, 5, n_features), rng.uniform(0.5, 3, n_features)
    values = centre + spread * (scale * noise + shift + class_effect * label[:, None])
    table = pd.DataFrame(values, columns=[f"f{j}" for j in range(n_features)])
    table.insert(0, "site", site)
    table.attrs["spread"] = spread
    return table, label


@pytest.fixture
def converged_neurocombat(monkeypatch):
    """neuroCombat iterating its parametric EB to 1e-10 instead of stopping at 1e-4."""
    module = importlib.import_module("neuroCombat.neuroCombat")
    monkeypatch.setattr(module.it_sol, "__defaults__", (1e-10,))


def reference_combat(table: pd.DataFrame, **options) -> dict:
    """neuroCombat on the same data (it wants features × samples), its log silenced."""
    features = table.drop(columns="site").to_numpy().T.copy()
    with contextlib.redirect_stdout(io.StringIO()):
        return neuroCombat(features, table[["site"]], "site", **options)


def harmonise_by_hand(features, site, grand_mean, pooled_variance, gamma, delta, batches):
    """The ComBat adjustment written out: ((x - m - sqrt(v) g_b) / sqrt(d_b)) + m."""
    rows = [list(batches).index(s) for s in site]
    scale = np.sqrt(pooled_variance)
    return (features - grand_mean - scale * gamma[rows]) / np.sqrt(delta[rows]) + grand_mean


@parametrize_with_checks([ComBat(batch_column=None), ComBat(batch_column=0)])
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        check(estimator)


OPTIONS = [
    {},
    {"parametric": False},
    {"mean_only": True},
    {"parametric": False, "mean_only": True},
    {"eb": False},
    {"eb": False, "mean_only": True},
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: str(o) or "parametric-eb")
def test_matches_neurocombat(options, converged_neurocombat):
    table, _ = simulate({"A": 30, "B": 20, "C": 25})
    expected = reference_combat(table, **options)["data"].T
    harmonised = ComBat(**options).set_output(transform="pandas").fit_transform(table)
    assert list(harmonised.columns) == list(table.columns[1:])
    np.testing.assert_allclose(harmonised.to_numpy(), expected, rtol=0, atol=1e-6)


def test_nonparametric_in_feature_blocks_matches_neurocombat(monkeypatch):
    monkeypatch.setattr(combat_module, "NONPARAMETRIC_BLOCK", 5)
    table, _ = simulate({"A": 30, "B": 20, "C": 25}, seed=3)
    expected = reference_combat(table, parametric=False)["data"].T
    harmonised = ComBat(parametric=False).set_output(transform="pandas").fit_transform(table)
    np.testing.assert_allclose(harmonised.to_numpy(), expected, rtol=0, atol=1e-6)


def test_close_to_neurocombat_at_its_default_tolerance():
    table, _ = simulate({"A": 30, "B": 20, "C": 25})
    expected = reference_combat(table)["data"].T
    np.testing.assert_allclose(ComBat().fit_transform(table), expected, rtol=0, atol=1e-4)


def test_site_effect_removed_and_class_effect_kept():
    table, label = simulate({"A": 300, "B": 300, "C": 300}, n_features=20, class_effect=1.0)
    spread = table.attrs["spread"]
    before = table.drop(columns="site")
    harmonised = ComBat().set_output(transform="pandas").fit_transform(table)

    def site_offsets(frame: pd.DataFrame) -> np.ndarray:
        """Largest |site mean - overall mean| per feature, in units of the raw feature SD."""
        offsets = frame.groupby(table["site"]).mean() - frame.mean()
        return (offsets.abs().max() / before.std()).to_numpy()

    # Site B sits 1.5 and site C 1.0 within-site SDs of site A away from A (≈ 0.8 raw SD);
    # after harmonising only sampling noise is left: the standard error of site B's mean
    # is about 2.06 / sqrt(300) / 1.76 ≈ 0.07 raw SD, and shrinkage averages it down.
    assert np.all(site_offsets(before) > 0.5)
    assert site_offsets(harmonised).mean() < 0.05 * site_offsets(before).mean()
    assert site_offsets(harmonised).max() < 0.15
    # Site B's features spread 2.0 / 0.6 times as much as site C's before, alike after.
    site_stds = harmonised.groupby(table["site"]).std()
    assert np.all(np.abs(np.log(site_stds.loc["B"] / site_stds.loc["C"])) < 0.15)
    # ComBat's model: the label adds `class_effect * spread` in every site and each site
    # is rescaled by sqrt(pooled variance / its own variance), both including the label's
    # share 0.25 * class_effect**2. So the within-site label gap becomes
    # spread * sqrt(mean_s(scale_s**2 + 0.25) / (scale_b**2 + 0.25)) for site b.
    label_variance = 0.25
    pooled = np.mean([SITE_SCALE[s] ** 2 + label_variance for s in "ABC"])
    for site in "ABC":
        rows = (table["site"] == site).to_numpy()
        gap = harmonised[rows & (label == 1)].mean() - harmonised[rows & (label == 0)].mean()
        expected = np.sqrt(pooled / (SITE_SCALE[site] ** 2 + label_variance))
        np.testing.assert_allclose(np.mean(gap / spread), expected, rtol=0.1)
    # Pooled over sites, the label separates the cases better once site noise is gone.
    assert np.all(effect_size(harmonised, label) > 1.3 * effect_size(before, label))


def effect_size(frame: pd.DataFrame, label: np.ndarray) -> np.ndarray:
    """Cohen's d of the label for every column, pooled over all rows."""
    gap = frame[label == 1].mean() - frame[label == 0].mean()
    within = np.sqrt((frame[label == 1].var() + frame[label == 0].var()) / 2)
    return (gap / within).to_numpy()


def test_estimates_recover_simulated_site_effects():
    table, _ = simulate({"A": 400, "B": 400, "C": 400}, n_features=10)
    combat = ComBat(eb=False).fit(table)
    assert list(combat.batches_) == ["A", "B", "C"]
    spread = table.attrs["spread"]
    for b, site in enumerate("ABC"):
        if site == "A":
            continue
        # Geometric mean over features of the variance ratio to site A: scale ratio squared.
        variance_ratio = np.exp(np.mean(np.log(combat.delta_[b] / combat.delta_[0])))
        np.testing.assert_allclose(variance_ratio, SITE_SCALE[site] ** 2, rtol=0.1)
        shift = (combat.gamma_[b] - combat.gamma_[0]) * np.sqrt(combat.pooled_variance_)
        np.testing.assert_allclose(np.mean(shift / spread), SITE_SHIFT[site], rtol=0.1)


@pytest.mark.parametrize("options", [{}, {"eb": False}], ids=["parametric-eb", "no-eb"])
def test_held_out_rows_use_training_estimates(options, converged_neurocombat):
    table, _ = simulate({"A": 40, "B": 30, "C": 30}, seed=1)
    held_out = np.random.default_rng(1).random(len(table)) < 0.3
    train, test = table[~held_out], table[held_out]
    estimates = reference_combat(train, **options)["estimates"]
    expected = harmonise_by_hand(
        test.drop(columns="site").to_numpy(),
        test["site"],
        estimates["stand.mean"][:, 0],
        estimates["var.pooled"][:, 0],
        np.asarray(estimates["gamma.star"]),
        np.asarray(estimates["delta.star"]),
        estimates["batches"],
    )
    combat = ComBat(**options).set_output(transform="pandas").fit(train)
    np.testing.assert_allclose(combat.transform(test).to_numpy(), expected, atol=1e-6)
    # A row's result does not depend on the other rows transformed with it.
    np.testing.assert_allclose(combat.transform(test.iloc[:3]), expected[:3], atol=1e-6)


def test_plain_estimates_by_hand():
    table, _ = simulate({"A": 15, "B": 12, "C": 9}, seed=2)
    features, site = table.drop(columns="site"), table["site"]
    batch_mean = features.groupby(site).transform("mean")
    pooled = ((features - batch_mean) ** 2).mean()
    standardized = (features - features.mean()) / np.sqrt(pooled)
    gamma = standardized.groupby(site).mean()
    delta = standardized.groupby(site).var(ddof=1)
    combat = ComBat(eb=False).fit(table)
    np.testing.assert_allclose(combat.grand_mean_, features.mean(), rtol=1e-12)
    np.testing.assert_allclose(combat.pooled_variance_, pooled, rtol=1e-12)
    np.testing.assert_allclose(combat.gamma_, gamma, atol=1e-12)
    np.testing.assert_allclose(combat.delta_, delta, rtol=1e-12)


@pytest.mark.parametrize(
    "combat", [ComBat(batch_column=None), ComBat(batch_column="scanner")], ids=["none", "absent"]
)
def test_single_batch_is_identity(combat):
    table, _ = simulate({"A": 10, "B": 10})
    harmonised = combat.fit_transform(table.drop(columns="site"))
    np.testing.assert_allclose(harmonised, table.drop(columns="site"), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("options", [{}, {"parametric": False}, {"eb": False}])
def test_constant_feature_stays_constant(options):
    table, _ = simulate({"A": 20, "B": 20, "C": 12})
    table["constant"] = 1.0
    harmonised = ComBat(**options).set_output(transform="pandas").fit_transform(table)
    np.testing.assert_allclose(harmonised["constant"], 1.0, rtol=0, atol=1e-12)
    site_spread = [frame["f0"].groupby(table["site"]).mean().std() for frame in (table, harmonised)]
    assert site_spread[1] < site_spread[0] / 3  # the other features are still harmonised


def test_unseen_batch_is_left_unadjusted_with_one_warning():
    table, _ = simulate({"A": 20, "B": 20, "C": 6})
    combat = ComBat().fit(table[table["site"] != "C"])
    with pytest.warns(UnseenBatchWarning, match=r"\['C'\].*'site'") as caught:
        harmonised = combat.transform(table)
    assert len(caught) == 1
    is_c = (table["site"] == "C").to_numpy()
    np.testing.assert_allclose(harmonised[is_c], table.drop(columns="site")[is_c], atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        seen_only = combat.transform(table[~is_c])
    np.testing.assert_allclose(harmonised[~is_c], seen_only, atol=1e-12)


def test_single_sample_batch_gets_location_only():
    table, _ = simulate({"A": 20, "B": 20, "C": 1})
    with pytest.warns(UserWarning, match=r"\['C'\] have one sample"):
        combat = ComBat(eb=False).fit(table)
    np.testing.assert_array_equal(combat.delta_[2], 1.0)
    # Without shrinkage the lone sample is moved exactly onto the grand mean.
    np.testing.assert_allclose(combat.transform(table.tail(1))[0], combat.grand_mean_)
    with pytest.warns(UserWarning, match="one sample"):
        shrunk = ComBat().fit(table)
    gamma_hat = combat.gamma_[2]
    tau2 = gamma_hat.var(ddof=1)
    expected = (tau2 * gamma_hat + gamma_hat.mean()) / (tau2 + 1)
    np.testing.assert_allclose(shrunk.gamma_[2], expected, rtol=1e-12)


def test_array_input_with_batch_position():
    table, _ = simulate({"A": 15, "B": 15})
    values = table.to_numpy()
    harmonised = ComBat(batch_column=0).fit_transform(values)
    assert isinstance(harmonised, np.ndarray)
    np.testing.assert_allclose(harmonised, ComBat().fit_transform(table), atol=1e-12)


def test_default_output_is_an_array_and_bad_parameters_are_rejected():
    table, _ = simulate({"A": 10, "B": 10}, n_features=3)
    assert isinstance(ComBat().fit_transform(table), np.ndarray)
    with pytest.raises(ValueError, match="parametric"):
        ComBat(parametric="yes").fit(table)


def test_feature_names_and_pandas_output():
    table, _ = simulate({"A": 10, "B": 10}, n_features=3)
    table.index = [f"case{i}" for i in range(len(table))]
    combat = ComBat().set_output(transform="pandas").fit(table)
    assert list(combat.get_feature_names_out()) == ["f0", "f1", "f2"]
    harmonised = combat.transform(table)
    assert list(harmonised.columns) == ["f0", "f1", "f2"]
    assert list(harmonised.index) == list(table.index)


def test_non_finite_value_names_column_and_case():
    table, _ = simulate({"A": 10, "B": 10}, n_features=3)
    table.index = [f"case{i}" for i in range(len(table))]
    table.loc["case4", "f1"] = np.nan
    with pytest.raises(ModelError, match=r"'f1'.*'case4'.*impute"):
        ComBat().fit(table)


def test_text_feature_and_missing_site_are_named():
    table, _ = simulate({"A": 10, "B": 10}, n_features=3)
    with pytest.raises(ModelError, match="'case_id' is not numeric"):
        ComBat().fit(table.assign(case_id=[f"c{i}" for i in range(len(table))]))
    table["site"] = table["site"].astype(object)
    table.index = [f"case{i}" for i in range(len(table))]
    table.loc["case3", "site"] = np.nan
    with pytest.raises(ModelError, match="batch column 'site', row 'case3'"):
        ComBat().fit(table)


def test_single_feature_falls_back_to_plain_estimates():
    table, _ = simulate({"A": 10, "B": 10}, n_features=1)
    with pytest.warns(UserWarning, match="at least 2 features"):
        shrunk = ComBat().fit(table)
    np.testing.assert_allclose(shrunk.gamma_, ComBat(eb=False).fit(table).gamma_)


@pytest.mark.shared
def test_arita2018_site_no_longer_predictable(shared_data):
    """Arita 2018 pools four centres (case ids KNBTG, NCC, OTR, OU): its features give the
    centre away; ComBat fitted inside the folds should take most of that away."""
    data = pd.read_csv(shared_data / "tables" / "radmlbench" / "Arita2018.csv.gz")
    site = data["ID"].str.extract(r"^([A-Z]+)")[0]
    assert sorted(site.unique()) == ["KNBTG", "NCC", "OTR", "OU"]
    table = pd.concat([site.rename("site"), data.drop(columns=["ID", "Target"])], axis=1)
    folds = StratifiedKFold(5, shuffle=True, random_state=0)

    def site_accuracy(harmoniser) -> float:
        model = make_pipeline(harmoniser, StandardScaler(), RidgeClassifier(alpha=100.0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores = cross_val_score(model, table, site, cv=folds, scoring="balanced_accuracy")
        return scores.mean()

    drop_site = FunctionTransformer(lambda frame: frame.drop(columns="site"))
    before, after = site_accuracy(drop_site), site_accuracy(ComBat())
    assert before > 0.65  # chance is 0.25
    assert after < 0.4


def test_batch_without_finite_priors_gets_plain_estimates():
    table, _ = simulate({"A": 10, "B": 10}, n_features=1)
    table["f1"] = table["f0"]  # one shared within-batch variance: the priors are undefined
    with pytest.warns(UserWarning, match="cannot be estimated"):
        shrunk = ComBat().fit(table)
    plain = ComBat(eb=False).fit(table)
    np.testing.assert_allclose(shrunk.gamma_, plain.gamma_, rtol=1e-12)
    np.testing.assert_allclose(shrunk.delta_, plain.delta_, rtol=1e-12)
