"""Export, load, predict and serve a model trained by the real training code on a small cohort.

A small synthetic cohort (`synthesize_cohort`) is extracted with the real engine (no texture,
for speed), a model is trained with `run_experiment` (tiny search), exported, and scored
again: in process, in a fresh process through the command function, from the images, from
the MLflow registry and through a real `mlflow models serve`. Slow: the cohort, its extraction
and the training take about a minute of CPU.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import joblib
import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import typer
import yaml
from helpers.servers import free_port, running
from typer.testing import CliRunner

from radiomix.errors import ModelError
from radiomix.modeling.explain import base_model
from radiomix.serving.checksums import CHECKSUM_FILE, write_checksums
from radiomix.serving.export import export_model
from radiomix.serving.model import MODEL_JSON, artifact_folder, load_model
from radiomix.serving.predict import predict

N_PATIENTS = 16
FAMILIES = "[pet_static, pet_dynamic, fdg_dual_phase, mri, mrs]"
REGISTERED = "radiomix-test-model"
FAR_FACTOR = 8.0

pytestmark = pytest.mark.slow


def _new_cases(manifest: Path, features: Path) -> Path:
    """Four unlabelled cases beside the cohort, copies of cases whose extraction succeeded: two
    as they are, one with 8x the ADC in its lesion (the PET checks would refuse an
    implausible SUV) and one whose PET file is not an image."""
    table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    extracted = pd.read_parquet(features)
    needed = ["pet_SUVmax", "mri_ADC_mean", "mri_rCBV_max"]
    complete = extracted.loc[extracted[needed].notna().all(axis=1), "case_id"]
    new = (
        table[table["case_id"].isin(complete)]
        .head(4)
        .reset_index(drop=True)
        .assign(
            case_id=["n0", "n1", "far", "broken"],
            patient_id=["q0", "q1", "q2", "q3"],
            label="",
            label_source="",
        )
    )
    image = sitk.ReadImage(str(manifest.parent / new.loc[2, "adc"]))
    lesion = sitk.ReadImage(str(manifest.parent / new.loc[2, "lesion_mask"]))
    far = sitk.GetArrayFromImage(image)
    far[sitk.GetArrayFromImage(lesion) > 0] *= FAR_FACTOR
    written = sitk.GetImageFromArray(far)
    written.CopyInformation(image)
    sitk.WriteImage(written, str(manifest.parent / "adc_far.nii.gz"))
    new.loc[2, "adc"] = "adc_far.nii.gz"
    (manifest.parent / "broken.nii.gz").write_bytes(b"not an image")
    new.loc[3, "pet"] = "broken.nii.gz"
    path = manifest.parent / "new_cases.csv"
    new.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> SimpleNamespace:
    """A synthetic cohort, its features, and a model trained by the real experiment runner."""
    from radiomix.evaluation.experiment import run_experiment
    from radiomix.features import extract_features
    from radiomix.modeling.config import ExperimentConfig
    from radiomix.synth.cohort import synthesize_cohort

    root = tmp_path_factory.mktemp("serving")
    manifest = synthesize_cohort(root / "cohort", N_PATIENTS, seed=3, workers=2)
    (root / "extraction.yaml").write_text(f"families: {FAMILIES}\n")
    table = root / "features.parquet"
    extract_features(manifest, table, root / "extraction.yaml", workers=1)
    config = ExperimentConfig.model_validate(
        {
            "name": "serving-test",
            "seed": 0,
            "input": {"table": str(table)},
            "models": [{"name": "l2_lr"}],
            "search": {"n_trials": 3},
            "outer_cv": {"folds": 2, "repeats": 1},
            "inner_cv": {"folds": 2},
            "rules": "all",
        }
    )
    uri = f"sqlite:///{root / 'mlflow.db'}"
    result = run_experiment(config, root / "run", tracking_uri=uri)
    return SimpleNamespace(
        root=root,
        table=table,
        uri=uri,
        result=result,
        manifest=manifest,
        new=_new_cases(manifest, table),
    )


@pytest.fixture(scope="module")
def exported(trained) -> Path:
    """The model exported from the training run and registered."""
    return export_model(
        trained.result.run_id,
        trained.root / "models" / "demo",
        tracking_uri=trained.uri,
        register=REGISTERED,
    )


@pytest.fixture(scope="module")
def reference(trained) -> pd.DataFrame:
    """In-process predictions of the run's own final pipeline, with its stored threshold."""
    final = trained.result.out_dir / "final_model"
    info = json.loads((final / "model_info.json").read_text())
    table = pd.read_parquet(trained.table)
    probability = joblib.load(final / "pipeline.joblib").predict_proba(
        table[info["input_columns"]]
    )[:, 1]
    return pd.DataFrame(
        {
            "case_id": table["case_id"],
            "probability": probability,
            "decision": (probability >= info["threshold"]).astype(int),
        }
    )


@pytest.fixture
def model_copy(exported, tmp_path) -> Path:
    """A copy of the exported model folder that a test may alter."""
    return Path(shutil.copytree(exported, tmp_path / "model"))


def test_round_trip_in_process(exported, trained, reference):
    predictions = predict(load_model(exported), trained.table, max_missing=1.0)
    assert list(predictions["case_id"]) == list(reference["case_id"])
    np.testing.assert_allclose(
        predictions["probability"], reference["probability"], rtol=0, atol=1e-9
    )
    assert (predictions["decision"] == reference["decision"]).all()
    complete = pd.read_parquet(trained.table)[load_model(exported).feature_columns].notna()
    listed = predictions["top_features"].str.count("=")
    assert listed[complete.all(axis=1)].eq(3).all() and listed.between(1, 3).all()


@pytest.mark.slow
def test_fresh_process_command(exported, trained, reference, tmp_path):
    out = tmp_path / "predictions.csv"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "radiomix",
            "predict",
            "--model",
            str(exported),
            str(trained.table),
            "--out",
            str(out),
            "--max-missing",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    written = pd.read_csv(out)
    np.testing.assert_allclose(written["probability"], reference["probability"], rtol=0, atol=1e-9)
    assert (written["decision"] == reference["decision"]).all()
    assert f"{len(reference)} case(s) scored" in done.stdout


def test_images_equal_table_and_far_case_is_flagged(exported, trained):
    model = load_model(exported)
    from_images = predict(model, trained.new)
    assert list(from_images["case_id"]) == ["n0", "n1", "far", "broken"]
    from_table = predict(model, trained.table).head(2)
    for column in ("probability", "novelty_score"):
        np.testing.assert_allclose(
            from_images[column].head(2), from_table[column], rtol=0, atol=1e-9
        )
    assert list(from_images["novel"].head(3)) == [False, False, True]
    assert "mri_ADC_mean=" in from_images.loc[2, "out_of_range"]
    assert from_images.loc[0, "out_of_range"] == ""
    assert list(from_images["extraction_errors"].head(3)) == ["", "", ""]
    assert "broken.nii.gz" in from_images.loc[3, "extraction_errors"]
    assert list(from_images["refused"].head(3)) == ["", "", ""]
    assert from_images.loc[3, "refused"].startswith("extraction failed")
    assert pd.isna(from_images.loc[3, "probability"]) and pd.isna(from_images.loc[3, "decision"])


def test_training_cases_are_rarely_novel(exported, trained):
    predictions = predict(load_model(exported), trained.table, top=0)
    assert predictions["novel"].sum() <= 1
    assert "top_features" not in predictions


def test_top_features_match_linear_shap_formula(exported, trained):
    """Logistic regression on independent features: SHAP value = coef * (x - background mean),
    the mean of the transformed training rows (which the model stores, not the rows), with the
    coefficients of the fitted regression inside its recalibration."""
    model = load_model(exported)
    table = pd.read_parquet(trained.table).head(4)
    steps = model.pipeline[:-1]
    training = pd.read_parquet(trained.result.out_dir / "final_model" / "training_features.parquet")
    background = steps.transform(training[model.input_columns]).mean()
    selected = steps.transform(table[model.input_columns])
    contributions = (selected - background) * base_model(model.pipeline[-1]).coef_[0]
    listed_top = model.score(table, top=2)["top_features"]
    for listed, (index, row) in zip(listed_top, contributions.iterrows(), strict=True):
        row = row[table.loc[index, row.index].notna()]  # imputed inputs are not listed
        expected = row.reindex(row.abs().sort_values(ascending=False).index).head(2)
        assert listed == "; ".join(f"{name}={value:+.4g}" for name, value in expected.items())


def test_registered_model_loads_from_registry(exported, trained, reference):
    model = load_model(f"models:/{REGISTERED}/1", tracking_uri=trained.uri)
    scores = model.score(pd.read_parquet(trained.table), max_missing=1.0)
    np.testing.assert_allclose(scores["probability"], reference["probability"], rtol=0, atol=1e-9)
    with pytest.raises(ModelError, match="cannot fetch model models:/unknown-model/1"):
        load_model("models:/unknown-model/1", tracking_uri=trained.uri)


def test_model_card_and_signature(exported, trained):
    folder = artifact_folder(exported)
    card = json.loads((folder / "model_card.json").read_text())
    metrics = json.loads((trained.result.out_dir / "metrics.json").read_text())
    assert card["metrics"]["auc"] == metrics["model"]["auc"]
    assert card["metrics"]["auc_ci"] == metrics["model"]["auc_ci"]
    assert card["rules"] == metrics["rules"] and card["rules"]
    table = pd.read_parquet(trained.table)
    assert card["data"]["n_cases"] == table["label"].notna().sum()
    assert card["data"]["sites"] == table["site"].value_counts().to_dict()
    assert {"radiomix", "scikit-learn", "mlflow"} <= set(card["versions"])
    info = json.loads((folder / MODEL_JSON).read_text())
    assert info["extraction_config"]["families"] == FAMILIES.strip("[]").split(", ")
    mlmodel = yaml.safe_load((exported / "MLmodel").read_text())
    inputs = json.loads(mlmodel["signature"]["inputs"])
    assert [column["name"] for column in inputs] == info["input_columns"]
    markdown = (folder / "model_card.md").read_text()
    assert f"auc: {metrics['model']['auc']:.3f}" in markdown
    assert all(
        f"| {rule} | {values['n']} |" in markdown for rule, values in metrics["rules"].items()
    )


def _one_row(trained) -> pd.DataFrame:
    return pd.read_parquet(trained.table).head(2)


def test_missing_column_is_named(exported, trained):
    with pytest.raises(ModelError, match="pet_SUVmax"):
        predict(load_model(exported), _one_row(trained).drop(columns="pet_SUVmax"))


def test_text_value_is_named(exported, trained):
    table = _one_row(trained).astype({"pet_TBRmax": object})
    table.loc[1, "pet_TBRmax"] = "high"
    with pytest.raises(ModelError, match=r"'pet_TBRmax' holds 'high'"):
        predict(load_model(exported), table)


def test_infinite_value_is_named(exported, trained):
    table = _one_row(trained).assign(pet_TBRmean=[1.0, np.inf])
    with pytest.raises(ModelError, match="'pet_TBRmean' holds inf"):
        predict(load_model(exported), table)


def test_strict_rejects_unused_and_out_of_range_columns(exported, trained):
    model = load_model(exported)
    with pytest.raises(ModelError, match="unknown_feature"):
        predict(model, _one_row(trained).assign(unknown_feature=1.0), strict=True)
    with pytest.raises(ModelError, match="pet_SUVmean=1000"):
        predict(model, _one_row(trained).assign(pet_SUVmean=1000.0), strict=True)
    relaxed = predict(model, _one_row(trained).assign(unknown_feature=1.0), top=0)
    assert len(relaxed) == 2


def test_tampered_file_is_refused(model_copy):
    pipeline = artifact_folder(model_copy) / "pipeline.skops"
    pipeline.write_bytes(pipeline.read_bytes() + b"\0")
    with pytest.raises(ModelError, match=r"checksum of artifacts/radiomix/pipeline\.skops"):
        load_model(model_copy)


def test_added_file_and_missing_checksums_are_refused(model_copy):
    (model_copy / "payload.pkl").write_bytes(b"x")
    with pytest.raises(ModelError, match=r"payload\.pkl"):
        load_model(model_copy)
    (model_copy / "payload.pkl").unlink()
    (model_copy / CHECKSUM_FILE).unlink()
    with pytest.raises(ModelError, match=CHECKSUM_FILE):
        load_model(model_copy)


def test_pyfunc_loader_refuses_tampered_model(model_copy):
    import mlflow.pyfunc

    novelty = artifact_folder(model_copy) / "novelty.json"
    novelty.write_text(novelty.read_text().replace('"threshold": ', '"threshold": 1e9 + '))
    with pytest.raises(ModelError, match=r"novelty\.json"):
        mlflow.pyfunc.load_model(str(model_copy))


def test_incompatible_version_is_refused(model_copy):
    path = artifact_folder(model_copy) / MODEL_JSON
    info = json.loads(path.read_text())
    path.write_text(json.dumps({**info, "radiomix_version": "9.9.0"}))
    write_checksums(model_copy)
    with pytest.raises(ModelError, match=r"saved by radiomix 9\.9\.0"):
        load_model(model_copy)


def test_other_scikit_learn_version_warns(model_copy):
    path = artifact_folder(model_copy) / MODEL_JSON
    info = json.loads(path.read_text())
    path.write_text(json.dumps({**info, "versions": {**info["versions"], "scikit-learn": "0.0.1"}}))
    write_checksums(model_copy)
    with pytest.warns(UserWarning, match=r"scikit-learn 0\.0\.1"):
        load_model(model_copy)


def test_manifest_needs_a_stored_extraction_configuration(model_copy, trained):
    path = artifact_folder(model_copy) / MODEL_JSON
    path.write_text(json.dumps({**json.loads(path.read_text()), "extraction_config": None}))
    write_checksums(model_copy)
    with pytest.raises(ModelError, match="stores no extraction configuration"):
        predict(load_model(model_copy), trained.new)


def _cli(command) -> typer.Typer:
    app = typer.Typer()
    app.command()(command)
    return app


def test_commands_report_errors_without_traceback(exported, trained, tmp_path):
    from radiomix.serving.commands import export_command, predict_command

    runner = CliRunner()
    table = tmp_path / "broken.csv"
    pd.read_parquet(trained.table).drop(columns="pet_TBRmax").to_csv(table, index=False)
    result = runner.invoke(
        _cli(predict_command),
        ["--model", str(exported), str(table), "--out", str(tmp_path / "p.csv")],
    )
    assert result.exit_code == 2
    assert "error: input lacks column(s) ['pet_TBRmax']" in result.output
    result = runner.invoke(
        _cli(export_command),
        ["feedfacefeedface", "--out", str(tmp_path / "m"), "--tracking-uri", trained.uri],
    )
    assert result.exit_code == 2
    assert "cannot read run feedfacefeedface" in result.output


def test_export_errors(exported, trained):
    with pytest.raises(ModelError, match="not empty"):
        export_model(trained.result.run_id, exported, tracking_uri=trained.uri)
    with pytest.raises(ModelError, match="0123456789abcdef"):
        export_model("0123456789abcdef", trained.root / "other", tracking_uri=trained.uri)


def _post(url: str, frame: pd.DataFrame) -> tuple[int, dict]:
    body = json.dumps({"dataframe_split": json.loads(frame.to_json(orient="split", index=False))})
    request = urllib.request.Request(
        url + "/invocations", data=body.encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.slow
@pytest.mark.integration
def test_rest_serving_answers_like_predict(exported, trained):
    model = load_model(exported)
    table = pd.read_parquet(trained.table)
    expected = predict(model, table, top=0)
    port = free_port()
    venv_bin = Path(sys.executable).parent
    command = [str(venv_bin / "radiomix"), "serve", str(exported), "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with running(
        command,
        f"{url}/ping",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={
            **os.environ,
            "MLFLOW_TRACKING_URI": trained.uri,
            "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        },
    ):
        status, answer = _post(url, table[model.input_columns])
        assert status == 200, answer
        served = pd.DataFrame(answer["predictions"])
        for column in ("probability", "novelty_score"):  # the JSON answer keeps ~10 digits
            np.testing.assert_allclose(served[column], expected[column], rtol=1e-9, atol=1e-9)
        refused = expected["decision"].isna()  # no decision either way
        assert served["decision"].isna().tolist() == refused.tolist()
        assert list(served["decision"][~refused]) == list(expected["decision"][~refused])
        assert list(served["novel"]) == list(expected["novel"])
        status, answer = _post(url, table[model.input_columns].drop(columns="pet_SUVmax"))
        assert status == 400 and "pet_SUVmax" in answer["message"]


def _table_csv(trained, folder: Path, change) -> Path:
    table = pd.read_parquet(trained.table)
    change(table)
    path = folder / "input.csv"
    table.to_csv(path, index=False)
    return path


def test_mostly_missing_case_gets_no_decision_and_the_others_do(exported, trained, tmp_path):
    from radiomix.serving.commands import predict_command

    model = load_model(exported)
    features = model.feature_columns
    over_half = features[: len(features) // 2 + 1]

    def empty_two_cases(table):
        table.loc[0, features] = np.nan
        table.loc[1, over_half] = np.nan

    source, out = _table_csv(trained, tmp_path, empty_two_cases), tmp_path / "p.csv"
    n_missing = pd.read_csv(source)[features].isna().sum(axis=1)
    result = CliRunner().invoke(
        _cli(predict_command), ["--model", str(exported), str(source), "--out", str(out)]
    )
    refused = n_missing > len(features) / 2
    assert result.exit_code == 2
    assert (
        f"{refused.sum()} case(s) refused (inputs mostly missing or extraction failed)"
        in result.output
    )
    written = pd.read_csv(out, keep_default_na=False, na_values=[""])
    assert list(written["refused"].notna()) == list(refused)
    assert written.loc[[0, 1], ["probability", "decision"]].isna().all().all()
    assert written.loc[0, "refused"].startswith(f"{len(features)} of {len(features)} inputs")
    assert written.loc[1, "refused"].startswith(f"{n_missing[1]} of {len(features)} inputs")
    assert bool(written.loc[0, "novel"])  # nothing observed: nothing vouches for the case
    full = predict(model, pd.read_parquet(trained.table), top=0)
    np.testing.assert_allclose(
        written["probability"][~refused], full["probability"][~refused], atol=1e-9
    )
    relaxed = CliRunner().invoke(
        _cli(predict_command),
        ["--model", str(exported), str(source), "--out", str(out), "--max-missing", "1"],
    )
    assert relaxed.exit_code == 0 and pd.read_csv(out)["decision"].notna().all()


def test_imputed_inputs_and_missing_modality_are_named(exported, trained):
    model = load_model(exported)
    table = pd.read_parquet(trained.table).head(3)
    mri = [c for c in model.feature_columns if c.startswith("mri_")]
    assert mri
    table.loc[0, mri] = np.nan
    scores = model.score(table, top=len(model.feature_columns))
    for row in range(3):
        absent = [c for c in model.feature_columns if pd.isna(table.loc[row, c])]
        assert scores.loc[row, "imputed"] == "; ".join(absent)
        listed = {item.split("=")[0] for item in scores.loc[row, "top_features"].split("; ")}
        assert not listed & set(absent)
    assert "mri" in scores.loc[0, "missing_modalities"].split("; ")
    assert "mri" not in scores.loc[1, "missing_modalities"].split("; ")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a readable CSV table"),
        (b"case_id,pet_SUVmax\n", "holds no case"),
        (bytes(range(256)) * 8, "feature table"),
    ],
)
def test_unreadable_prediction_input_is_named(exported, tmp_path, content, message):
    from radiomix.serving.commands import predict_command

    source = tmp_path / "input.csv"
    source.write_bytes(content)
    result = CliRunner().invoke(
        _cli(predict_command),
        ["--model", str(exported), str(source), "--out", str(tmp_path / "p.csv")],
    )
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "p.csv").exists()


class _Payload:
    """Unpickling this runs a shell command (what a forged model file would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _forge(model: Path, marker: Path) -> None:
    """Plant code-running files where pickles used to be and a skops pipeline naming
    os.system, then rewrite the checksums as a forger would."""
    import pickle

    import skops.io

    (artifact_folder(model) / "pipeline.joblib").write_bytes(pickle.dumps(_Payload(marker)))
    (model / "python_model.pkl").write_bytes(pickle.dumps(_Payload(marker)))
    skops.io.dump({"steps": [os.system]}, artifact_folder(model) / "pipeline.skops")
    write_checksums(model)


def test_forged_model_never_runs_code(model_copy, trained, tmp_path):
    import mlflow.pyfunc

    marker = tmp_path / "code-ran"
    _forge(model_copy, marker)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "radiomix",
            "predict",
            "--model",
            str(model_copy),
            str(trained.table),
            "--out",
            str(tmp_path / "p.csv"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "refusing to load it" in done.stderr and "system" in done.stderr
    with pytest.raises(ModelError, match="refusing to load it"):
        mlflow.pyfunc.load_model(str(model_copy))  # what `mlflow models serve` does
    assert not marker.exists()


def test_signature_under_the_users_key(model_copy, monkeypatch):
    from radiomix.serving.checksums import KEY_VARIABLE

    monkeypatch.setenv(KEY_VARIABLE, "the user's secret")
    with pytest.raises(ModelError, match="is not signed"):
        load_model(model_copy)
    write_checksums(model_copy)  # signed by the key's holder
    load_model(model_copy)
    novelty = artifact_folder(model_copy) / "novelty.json"
    novelty.write_text(novelty.read_text().replace('"threshold": ', '"threshold": 1e9 + '))
    monkeypatch.setenv(KEY_VARIABLE, "a forger's guess")
    write_checksums(model_copy)
    monkeypatch.setenv(KEY_VARIABLE, "the user's secret")
    with pytest.raises(ModelError, match="signature does not match"):
        load_model(model_copy)


def test_serve_verifies_the_signed_model_before_mlflow_reads_it(model_copy, monkeypatch):
    """A model folder whose pyfunc code was replaced and its checksums rewritten without the
    user's key is refused before `mlflow models serve` starts (it would run that code)."""
    from radiomix.serving.checksums import KEY_VARIABLE
    from radiomix.serving.commands import serve_command

    monkeypatch.setenv(KEY_VARIABLE, "the user's secret")
    write_checksums(model_copy)  # signed by the key's holder
    planted = model_copy / "marker.txt"
    code = next(model_copy.glob("*.py"))
    code.write_text(f"open({str(planted)!r}, 'w').write('ran')\n" + code.read_text())
    monkeypatch.delenv(KEY_VARIABLE)
    write_checksums(model_copy)  # the forger rewrites the checksums, unsigned
    monkeypatch.setenv(KEY_VARIABLE, "the user's secret")
    result = CliRunner().invoke(_cli(serve_command), [str(model_copy), "--port", "1"])
    assert result.exit_code == 2, result.output
    assert "signature does not match" in result.output or "not signed" in result.output
    assert not planted.exists()


def test_exported_model_holds_no_training_rows_nor_paths(exported, trained):
    files = [path for path in exported.rglob("*") if path.is_file()]
    assert not [path for path in files if path.suffix in (".pkl", ".joblib", ".parquet")]
    for path in files:
        assert str(trained.root).encode() not in path.read_bytes(), path
    training = pd.read_parquet(trained.result.out_dir / "final_model" / "training_features.parquet")
    example = pd.read_json(exported / "input_example.json", orient="split")
    numeric = [c for c in example.columns if c != "site"]
    matches = (training[numeric].to_numpy()[:, None, :] == example[numeric].to_numpy()).all(-1)
    assert not matches.any()
