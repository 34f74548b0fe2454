"""IBSI chapter 1 conformance of radiomix' texture features on the IBSI digital phantom.

The phantom is run through ``texture_features`` (IBSI corrections on) once per IBSI
aggregation mode; each IBSI reference value is compared with the mapped pyradiomics feature
(mapping and modes in ``configs/extraction/ibsi_mapping.yaml``). IBSI features without a
pyradiomics counterpart are reported as ``unmapped``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from radiomix.errors import ConfigError, ImageReadError

if TYPE_CHECKING:  # pandas, SimpleITK and pyradiomics load in the functions (fast CLI start)
    import pandas as pd

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs" / "extraction"
IBSI_PARAMS = CONFIG_DIR / "ibsi_phantom.yaml"
IBSI_MAPPING = CONFIG_DIR / "ibsi_mapping.yaml"
DEFAULT_SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
PHANTOM_DIR = Path("ibsi") / "digital_phantom" / "nifti"
REFERENCE_DIR = Path("ibsi") / "reference_values"
REFERENCE_TABLE = REFERENCE_DIR / "zrad_ibsi_1_reference_values_digital_phantom.csv"
PHANTOM_SIGNIFICANT_DIGITS = 3
IMAGE_NAME = "ibsi"
STATUSES = ("pass", "fail", "unmapped", "no reference")


def load_mapping(path: Path = IBSI_MAPPING) -> dict[str, Any]:
    """The IBSI ↔ pyradiomics mapping (aggregation modes and per-family feature tags)."""
    from radiomix.features.texture import read_param_file

    mapping = read_param_file(path)
    if not {"modes", "families"} <= mapping.keys():
        raise ConfigError(f"IBSI mapping {path} needs the sections 'modes' and 'families'")
    return mapping


def pyradiomics_key(feature_class: str, feature: str) -> str:
    """``original_<class>_<feature>``; ``feature`` may name another class: ``<class>/<feature>``."""
    if "/" in feature:
        feature_class, feature = feature.split("/", 1)
    return f"original_{feature_class}_{feature}"


def tag_index(mapping: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """IBSI tag (with its aggregation suffix) → (mode, pyradiomics key of the feature)."""
    index: dict[str, tuple[str, str]] = {}
    for family in mapping["families"].values():
        for suffix, mode in family["suffixes"].items():
            for base_tag, feature in family["features"].items():
                tag = f"{base_tag}_{suffix}" if suffix else base_tag
                index[tag] = (mode, pyradiomics_key(family["class"], feature))
    return index


def round_significant(value: float, digits: int) -> float:
    """``value`` rounded to ``digits`` significant figures."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def matches(value: float, reference: float, tolerance: float, digits: int | None) -> bool:
    """Whether ``value`` agrees with an IBSI reference: within tolerance, or equal when both
    are rounded to ``digits`` significant figures (the precision of the phantom's table)."""
    if not math.isfinite(value):
        return False
    if abs(value - reference) <= tolerance:
        return True
    return digits is not None and math.isclose(
        round_significant(value, digits), round_significant(reference, digits), rel_tol=1e-9
    )


def read_phantom(shared_root: Path):
    """The IBSI digital phantom image and mask as SimpleITK images."""
    import SimpleITK as sitk

    folder = Path(shared_root) / PHANTOM_DIR
    paths = folder / "image" / "phantom.nii.gz", folder / "mask" / "mask.nii.gz"
    for path in paths:
        if not path.is_file():
            raise ImageReadError(f"IBSI digital phantom file not found: {path}")
    return tuple(sitk.ReadImage(str(path)) for path in paths)


def read_reference(path: Path) -> pd.DataFrame:
    """An IBSI reference table in the compliance-sheet layout (tag, reference value, tolerance)."""
    import pandas as pd

    if not Path(path).is_file():
        raise ImageReadError(f"IBSI reference table not found: {path}")
    table = pd.read_csv(path, encoding="utf-8-sig")
    return table.rename(columns={"reference value": "reference"})[
        ["dataset", "family", "feature", "tag", "reference", "tolerance"]
    ]


def features_per_mode(
    image, mask, params: dict[str, Any], mapping: dict[str, Any], ibsi_corrections: bool = True
) -> dict[str, dict[str, float]]:
    """Run ``texture_features`` once per aggregation mode; keys without the image prefix."""
    from radiomix.features.texture import texture_features

    prefix = f"{IMAGE_NAME}_"
    results = {}
    for mode in mapping["modes"]:
        mode_params = {**params, "setting": {**params["setting"], **mapping["modes"][mode]}}
        values = texture_features(
            image, mask, mode_params, IMAGE_NAME, ibsi_corrections=ibsi_corrections
        )
        results[mode] = {key.removeprefix(prefix): value for key, value in values.items()}
    return results


def _status(value: float | None, reference: float, tolerance: float, digits: int | None) -> str:
    if value is None:
        return "unmapped"
    if not math.isfinite(reference):
        return "no reference"
    return "pass" if matches(value, reference, tolerance, digits) else "fail"


def compare_to_reference(
    reference: pd.DataFrame,
    values: dict[str, dict[str, float]],
    index: dict[str, tuple[str, str]],
    digits: int | None,
) -> pd.DataFrame:
    """One row per IBSI reference feature with radiomix' value and its status."""
    import pandas as pd

    rows = []
    for row in reference.itertuples(index=False):
        mode, feature = index.get(row.tag, (None, None))
        if mode is not None and feature not in values[mode]:
            raise ConfigError(f"IBSI tag {row.tag} is mapped to {feature}, which was not computed")
        value = values[mode][feature] if mode else None
        tolerance = 0.0 if pd.isna(row.tolerance) else float(row.tolerance)
        rows.append(
            {
                "configuration": row.dataset,
                "family": row.family,
                "feature": row.feature,
                "tag": row.tag,
                "pyradiomics_feature": feature,
                "mode": mode,
                "radiomix": value,
                "reference": row.reference,
                "tolerance": tolerance,
                "status": _status(value, float(row.reference), tolerance, digits),
            }
        )
    return pd.DataFrame(rows)


def ibsi_check(shared_root: Path, *, ibsi_corrections: bool = True) -> pd.DataFrame:
    """IBSI conformance report of the digital phantom: one row per IBSI reference feature.

    Columns: configuration, family, feature (IBSI name), tag, pyradiomics_feature, mode,
    radiomix (value), reference (consensus value), tolerance, status (pass / fail /
    unmapped / no reference). Values are compared after rounding to 3 significant figures.
    ``ibsi_corrections=False`` checks pyradiomics' uncorrected output instead.
    """
    from radiomix.features.texture import pyradiomics_params

    mapping = load_mapping()
    index = tag_index(mapping)
    image, mask = read_phantom(shared_root)
    params = pyradiomics_params(IBSI_PARAMS)
    values = features_per_mode(image, mask, params, mapping, ibsi_corrections)
    reference = read_reference(Path(shared_root) / REFERENCE_TABLE)
    return compare_to_reference(reference, values, index, PHANTOM_SIGNIFICANT_DIGITS)


def summarise(report: pd.DataFrame) -> pd.DataFrame:
    """Per IBSI family: n matched, n mapped (with a reference value), n unmapped."""
    import pandas as pd

    counts = pd.crosstab(report["family"], report["status"]).reindex(columns=STATUSES, fill_value=0)
    summary = pd.DataFrame(
        {
            "matched": counts["pass"],
            "mapped": counts["pass"] + counts["fail"],
            "unmapped": counts["unmapped"],
        }
    )
    summary = summary.reindex(report["family"].drop_duplicates())
    summary.loc["total"] = summary.sum()
    return summary


def ibsi_check_command(
    out: Annotated[Path, typer.Option(help="CSV file for the per-feature report.")] = Path(
        "ibsi_report.csv"
    ),
    shared: Annotated[
        Path | None,
        typer.Option(help="Folder of the external reference data (holding ibsi/)."),
    ] = None,
) -> None:
    """Check radiomix' features against the IBSI digital phantom reference values."""
    from rich.console import Console
    from rich.table import Table

    report = ibsi_check(shared or DEFAULT_SHARED)
    report.to_csv(out, index=False)
    table = Table(title="IBSI digital phantom: matched / mapped / unmapped per family")
    for column in ("family", "matched", "mapped", "unmapped"):
        table.add_column(column)
    for family, counts in summarise(report).iterrows():
        table.add_row(str(family), *(str(counts[c]) for c in ("matched", "mapped", "unmapped")))
    console = Console()
    console.print(table)
    console.print(f"report written to {out}")
