"""Command-line verb over the rules: `radiomix baseline`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table


def _percent(value: float) -> str:
    """A proportion as a whole percentage, '-' when undefined."""
    return "-" if value != value else f"{100 * value:.0f}"


def _with_interval(row: pd.Series, name: str) -> str:
    """'value (low-high)' in percent for one proportion of a report row."""
    value = row[name]
    if value != value:
        return "-"
    return (
        f"{_percent(value)} ({_percent(row[f'{name}_ci_low'])}-{_percent(row[f'{name}_ci_high'])})"
    )


def _published(row: pd.Series) -> str:
    """The published Se/Sp/Acc/AUC in percent, with the evidence mark."""
    figures = [
        _percent(row[f"published_{name}"])
        for name in ("sensitivity", "specificity", "accuracy", "auc")
    ]
    return "/".join(figures) + f" [{row['published_evidence']}]"


def _implied(row: pd.Series) -> str:
    """The Se/Sp the threshold implies under the published class distributions."""
    if row["implied_sensitivity"] != row["implied_sensitivity"]:
        return "-"
    return f"{_percent(row['implied_sensitivity'])}/{_percent(row['implied_specificity'])}"


HEADERS = (
    "rule",
    "applies / not",
    "TP FP TN FN",
    "Se",
    "Sp",
    "Acc",
    "AUC (decision)",
    "published Se/Sp/Acc/AUC",
    "implied Se/Sp",
)
PARAMETER_HEADERS = ("parameter", "rules", "population", "n", "AUC")


def report_rows(report: pd.DataFrame) -> list[list[str]]:
    """The rule table as display rows (percent, Wilson and DeLong 95 % CIs)."""
    return [
        [
            row["rule_id"],
            f"{row['n_applicable']} / {row['n_not_applicable']}",
            f"{row['tp']} {row['fp']} {row['tn']} {row['fn']}",
            _with_interval(row, "sensitivity"),
            _with_interval(row, "specificity"),
            _with_interval(row, "accuracy"),
            _with_interval(row, "auc"),
            _published(row),
            _implied(row),
        ]
        for _, row in report.iterrows()
    ]


def parameter_rows(parameters: pd.DataFrame) -> list[list[str]]:
    """The parameter table as display rows."""
    return [
        [
            f"{row['parameter']} ({row['direction']})",
            row["rules"],
            row["population"],
            str(row["n_auc"]),
            _with_interval(row, "auc"),
        ]
        for _, row in parameters.iterrows()
    ]


def _table(title: str, headers: tuple[str, ...], rows: list[list[str]]) -> Table:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title)
    for header in headers:
        table.add_column(header)
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))  # "[checked]" is text, not markup
    return table


def print_report(report: pd.DataFrame, parameters: pd.DataFrame, console: Console) -> None:
    """Print the rule and parameter tables."""
    console.print(
        _table(
            "Rule-based baseline: each rule on its own decision (ours vs published; %, 95 % CI)",
            HEADERS,
            report_rows(report),
        )
    )
    console.print(
        _table(
            "Parameters of the rules (AUC, threshold-free; %, 95 % CI)",
            PARAMETER_HEADERS,
            parameter_rows(parameters),
        )
    )


def _markdown(headers: tuple[str, ...], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"


def markdown_table(report: pd.DataFrame, parameters: pd.DataFrame) -> str:
    """The rule and parameter tables as Markdown, for papers and docs."""
    return (
        _markdown(HEADERS, report_rows(report))
        + "\n"
        + _markdown(PARAMETER_HEADERS, parameter_rows(parameters))
    )


def baseline_command(
    features: Path = typer.Argument(
        ...,
        help="Feature table (.parquet or .csv), one row per case with label and tracer columns.",
    ),
    out: Path = typer.Option(
        Path("baseline.csv"),
        "--out",
        help="Where to write the rule CSV; the parameter CSV goes beside "
        "it as <name>_parameters.csv.",
    ),
    rules: Path | None = typer.Option(
        None, "--rules", help="Rules file.", show_default="radiomix/configs/rules.yaml"
    ),
    markdown: Path | None = typer.Option(
        None, "--markdown", help="Also write the table as Markdown to this file."
    ),
    any_primary: bool = typer.Option(
        False,
        "--any-primary",
        help="Apply rules by tracer only, ignoring the primary tumour they were published for.",
    ),
) -> None:
    """Apply every published rule to a feature table and compare with the papers.

    For each rule, on its own decision: cases applicable and not (with why), TP/FP/TN/FN,
    sensitivity, specificity, accuracy, PPV, NPV with 95 % intervals clustered by patient
    (patient_id), the AUC of the decision, the published figures and those its threshold
    implies under the published class distributions. For each parameter and population:
    the rules that threshold it and its AUC with Obuchowski's patient-clustered interval.
    Prints both tables and writes both CSVs.
    """
    from rich.console import Console

    from radiomix.console import exit_on_error
    from radiomix.data.tables import read_feature_table
    from radiomix.features.engine import stored_config
    from radiomix.outputs import writable_file
    from radiomix.rules.baseline import baseline_report, parameter_report
    from radiomix.rules.config import load_rules

    console = Console()
    with exit_on_error():
        writable_file(out, "baseline report")
        if markdown:
            writable_file(markdown, "Markdown table")
        table = read_feature_table(features)
        loaded = load_rules(rules, stored_config(features))
        report = baseline_report(table, loaded, by_primary=not any_primary)
        parameters = parameter_report(table, loaded, by_primary=not any_primary)
        report.to_csv(out, index=False)
        parameters_out = out.with_name(f"{out.stem}_parameters.csv")
        parameters.to_csv(parameters_out, index=False)
        if markdown:
            markdown.write_text(markdown_table(report, parameters), encoding="utf-8")
    print_report(report, parameters, console)
    console.print(f"written {out} and {parameters_out}")
