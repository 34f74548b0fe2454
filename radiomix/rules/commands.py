"""Command-line verb over the rules: `radiomix baseline`."""

from __future__ import annotations

from pathlib import Path

import typer


def _percent(value: float) -> str:
    """A proportion as a whole percentage, '-' when undefined."""
    return "-" if value != value else f"{100 * value:.0f}"


def _with_interval(row, name: str) -> str:
    """'value (low-high)' in percent for one proportion of a report row."""
    value = row[name]
    if value != value:
        return "-"
    return (f"{_percent(value)} ({_percent(row[f'{name}_ci_low'])}-"
            f"{_percent(row[f'{name}_ci_high'])})")


def _published(row) -> str:
    """The published Se/Sp/Acc/AUC in percent, with the evidence mark."""
    figures = [_percent(row[f"published_{name}"])
               for name in ("sensitivity", "specificity", "accuracy", "auc")]
    return "/".join(figures) + f" [{row['published_evidence']}]"


HEADERS = ("rule", "applies / not", "TP FP TN FN", "Se", "Sp", "Acc", "AUC (param)",
           "published Se/Sp/Acc/AUC")


def report_rows(report) -> list[list[str]]:
    """The baseline report as display rows (percent, Wilson and DeLong 95 % CIs)."""
    return [[row["rule_id"],
             f"{row['n_applicable']} / {row['n_not_applicable']}",
             f"{row['tp']} {row['fp']} {row['tn']} {row['fn']}",
             _with_interval(row, "sensitivity"),
             _with_interval(row, "specificity"),
             _with_interval(row, "accuracy"),
             _with_interval(row, "auc"),
             _published(row)]
            for _, row in report.iterrows()]


def print_report(report, console) -> None:
    """Print the baseline report as a rich table."""
    from rich.table import Table

    table = Table(title="Rule-based baseline (ours vs published; %, 95 % CI)")
    for header in HEADERS:
        table.add_column(header)
    for row in report_rows(report):
        table.add_row(*row)
    console.print(table)


def markdown_table(report) -> str:
    """The baseline report as a Markdown table, for papers and docs."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(row) + " |" for row in report_rows(report)]
    return "\n".join(lines) + "\n"


def baseline_command(
    features: Path = typer.Argument(..., help="Feature table (.parquet or .csv), one row per "
                                              "case with label and tracer columns."),
    out: Path = typer.Option(Path("baseline.csv"), "--out", help="Where to write the CSV."),
    rules: Path | None = typer.Option(None, "--rules",
                                      help="Rules file (default: configs/rules.yaml)."),
    markdown: Path | None = typer.Option(None, "--markdown",
                                         help="Also write the table as Markdown to this file."),
    any_primary: bool = typer.Option(False, "--any-primary",
                                     help="Apply rules by tracer only, ignoring the primary "
                                          "tumour they were published for."),
) -> None:
    """Apply every published rule to a feature table and compare with the papers.

    For each rule: cases applicable and not (with why), TP/FP/TN/FN, sensitivity,
    specificity, accuracy, PPV, NPV with Wilson 95 % intervals, the AUC of its continuous
    parameter with a DeLong interval, and the published figures. Prints a table and
    writes a CSV.
    """
    from rich.console import Console

    from radiomix.console import exit_on_error
    from radiomix.data.tables import read_feature_table
    from radiomix.rules.baseline import baseline_report
    from radiomix.rules.config import load_rules

    console = Console()
    with exit_on_error():
        report = baseline_report(read_feature_table(features), load_rules(rules),
                                 by_primary=not any_primary)
        out.parent.mkdir(parents=True, exist_ok=True)
        report.to_csv(out, index=False)
        if markdown:
            markdown.write_text(markdown_table(report), encoding="utf-8")
    print_report(report, console)
    console.print(f"written {out}")
