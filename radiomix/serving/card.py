"""The model card of an exported model: data, model, metrics with intervals, rules, versions."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from radiomix.serving.novelty import NoveltyDetector

INTENDED_USE = (
    "Research use: probability that a contrast-enhancing lesion after radiotherapy "
    "of a brain tumour is recurrence (1) rather than radionecrosis (0). Not a "
    "medical device; not validated for clinical decisions."
)
HEADLINE = ("auc", "sensitivity", "specificity", "brier")


def _data_summary(lineage: dict, training: pd.DataFrame, info: dict) -> dict:
    sites = training["site"].value_counts().to_dict() if "site" in training else {}
    return {
        "n_cases": lineage.get("n_cases"),
        "n_features": len(lineage.get("features", [])),
        "n_input_columns": len(info["input_columns"]),
        "sites": sites,
        "table": lineage.get("table"),
        "table_sha256": lineage.get("table_sha256"),
        "extraction_families": (info["extraction_config"] or {}).get("families"),
        "missing_fraction": float(
            training.drop(columns="site", errors="ignore").isna().to_numpy().mean()
        ),
    }


def model_card(
    info: dict, metrics: dict, lineage: dict, training: pd.DataFrame, novelty: NoveltyDetector
) -> dict:
    """The card as a JSON-ready dict."""
    return {
        "intended_use": INTENDED_USE,
        "model": {
            "name": info["model"],
            "params": info["params"],
            "threshold": info["threshold"],
            "harmonised": info["harmonised"],
            "inner_auc": info.get("inner_auc"),
            "run_id": info["run_id"],
        },
        "data": _data_summary(lineage, training, info),
        "metrics": metrics.get("model", {}),
        "rules": metrics.get("rules", {}),
        "novelty": {"method": "Ledoit-Wolf Mahalanobis distance", "threshold": novelty.threshold},
        "versions": info["versions"],
        "exported": info["exported"],
    }


def _interval(metrics: dict, key: str) -> str:
    value, ci = metrics.get(key), metrics.get(f"{key}_ci")
    if value is None:
        return "n/a"
    text = f"{value:.3f}"
    if ci and None not in ci:
        text += f" (95% CI {ci[0]:.3f}-{ci[1]:.3f})"
    return text


def _p_value(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _rules_table(rules: dict) -> list[str]:
    """One Markdown table row per compared rule; p-values of the paired tests vs the model."""
    if not rules:
        return ["- no rule compared"]
    lines = [
        "| rule | cases | AUC | sensitivity | specificity | DeLong p | McNemar p |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for rule, values in rules.items():
        cells = [
            rule,
            str(values.get("n")),
            *(_interval(values, key) for key in HEADLINE[:3]),
            _p_value(values.get("delong_p_vs_model")),
            _p_value(values.get("mcnemar_p_vs_model")),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def card_markdown(card: dict) -> str:
    """The card as Markdown."""
    model, data = card["model"], card["data"]
    lines = [
        "# Model card",
        "",
        card["intended_use"],
        "",
        "## Model",
        "",
        f"- {model['name']} with {json.dumps(model['params'])}",
        f"- decision threshold (Youden, training folds): {model['threshold']:.4f}",
        f"- ComBat harmonisation: {model['harmonised']}; training run {model['run_id']}",
        "",
        "## Data",
        "",
        f"- {data['n_cases']} labelled cases, {data['n_features']} features, sites "
        f"{data['sites'] or 'not given'}",
        f"- table {data['table']} (sha256 {data['table_sha256']})",
        "- extraction configuration: "
        + (
            f"stored, families {data['extraction_families']}"
            if data["extraction_families"]
            else "not stored (predicts from tables only)"
        ),
        "",
        "## Cross-validated performance (out-of-fold)",
        "",
    ]
    lines += [f"- {key}: {_interval(card['metrics'], key)}" for key in HEADLINE]
    lines += ["", "## Rule-based comparison (cases where the rule applies)", ""]
    lines += _rules_table(card["rules"])
    lines += [
        "",
        "## Novelty detection",
        "",
        f"- {card['novelty']['method']}, flag above {card['novelty']['threshold']:.3f}",
        "",
        "## Versions",
        "",
    ]
    lines += [f"- {name} {value}" for name, value in card["versions"].items()]
    return "\n".join(lines) + "\n"


def write_card(card: dict, folder: Path) -> None:
    """Write `model_card.json` and `model_card.md` into `folder`."""
    (folder / "model_card.json").write_text(json.dumps(card, indent=2))
    (folder / "model_card.md").write_text(card_markdown(card))
