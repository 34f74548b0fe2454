"""The HTML report of an experiment run: self-contained, with the run's numbers and figures."""

from __future__ import annotations

import base64
import html
import json
import re

import pytest
import typer
from helpers.modeling import synthetic_table, tiny_config
from typer.testing import CliRunner

from radiomix.errors import ConfigError
from radiomix.evaluation.commands import report_command
from radiomix.evaluation.experiment import run_experiment
from radiomix.evaluation.report import CAPTIONS, build_report


@pytest.fixture(scope="module")
def finished(tmp_path_factory, mlflow_uri):
    folder = tmp_path_factory.mktemp("report")
    synthetic_table(n_patients=30, lesions=1, n_noise=6, seed=2).to_csv(
        folder / "t.csv", index=False
    )
    config = tiny_config(
        folder / "t.csv", rules=["fet_twm"], compare_feature_groups=["pet", "mri", "texture"]
    )
    uri = mlflow_uri
    return run_experiment(config, folder / "out", tracking_uri=uri), uri, folder


def test_report_is_self_contained_and_shows_the_run(finished):
    result, uri, folder = finished
    page = build_report(result.run_id, folder / "report.html", uri).read_text()
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", page)
    images = re.findall(r'alt="([^"]+)" src="data:image/png;base64,([^"]+)"', page)
    assert {html.unescape(alt) for alt, _ in images} == {
        CAPTIONS[name]
        for name in (
            "roc",
            "confusion",
            "calibration",
            "roc_by_population",
            "decision_curves",
            "shap_summary",
            "optuna_history",
        )
    }
    assert all(base64.b64decode(image)[:8] == b"\x89PNG\r\n\x1a\n" for _, image in images)
    metrics = json.loads(result.paths["metrics"].read_text())
    assert f"{metrics['model']['auc']:.3f}" in page
    assert f"{metrics['model']['auc_ci'][0]:.3f}" in page
    assert "fet_twm" in page and result.run_id in page
    fold_table = page.split("<h2>Outer folds</h2>")[1].split("</table>")[0]
    assert fold_table.count("<tr>") == 1 + 3 * 2
    cohort = page.split("<h2>Cohort</h2>")[1].split("</table>")[0]
    assert f"<td>all</td><td>{metrics['n_cases']}</td><td>{metrics['n_patients']}</td>" in cohort
    model = metrics["model"]
    assert f"TP {model['tp']} · FP {model['fp']} · TN {model['tn']} · FN {model['fn']}" in page
    assert "TRIPOD+AI" in page and "CLAIM" in page and "Decision curves" in page


def test_report_lineage_lists_each_item_once(finished):
    result, uri, folder = finished
    page = build_report(result.run_id, folder / "lineage.html", uri).read_text()
    lineage = page.split("<h2>Lineage</h2>")[1]
    keys = re.findall(r"<tr><td>([^<]+)</td>", lineage)
    assert len(keys) == len(set(keys))
    for key in (
        "table_sha256",
        "experiment_sha256",
        "extraction_config",
        "manifest_sha256",
        "radiomix_version",
    ):
        assert key in keys
    assert "<td>extraction_config</td><td><code>None</code>" not in lineage


def test_report_is_logged_to_the_run(finished):
    result, uri, _ = finished
    from mlflow.tracking import MlflowClient

    names = {a.path for a in MlflowClient(uri).list_artifacts(result.run_id)}
    assert "report.html" in names


def test_report_command_and_unknown_run(finished, tmp_path):
    result, uri, _ = finished
    app = typer.Typer()
    app.command("report")(report_command)
    app.command("other")(lambda: None)
    runner = CliRunner()
    out = tmp_path / "r.html"
    outcome = runner.invoke(
        app, ["report", result.run_id, "--out", str(out), "--tracking-uri", uri]
    )
    assert outcome.exit_code == 0, outcome.output
    assert out.read_text().startswith("<!DOCTYPE html>")
    outcome = runner.invoke(app, ["report", "0" * 32, "--tracking-uri", uri])
    assert outcome.exit_code == 2 and "0" * 32 in outcome.output
    with pytest.raises(ConfigError, match="cannot read MLflow run"):
        build_report("f" * 32, tmp_path / "x.html", uri)


def test_feature_group_comparison_is_paired_and_shown(finished):
    result, uri, folder = finished
    comparison = result.metrics["feature_groups"]
    groups = comparison["groups"]
    assert set(groups) == {"pet", "mri", "texture"}
    assert groups["texture"]["n_features"] == 6
    # T/WM carries signal, the texture columns are noise
    assert groups["pet"]["auc"] > 0.7 > groups["texture"]["auc"]
    for values in groups.values():
        assert values["auc_difference_vs_all"] == pytest.approx(
            values["auc"] - comparison["all"]["auc"]
        )
        assert values["p_holm"] >= values["p"]
    page = build_report(result.run_id, folder / "groups.html", uri).read_text()
    assert "<td>static PET</td>" in page and "<td>MRI</td>" in page
