"""IBSI chapter 1 conformance: the digital phantom and the CT radiomics phantom (configs A–E).

Each data set is processed as IBSI specifies (``radiomix.features.ibsi_preprocess``: nothing for
the digital phantom; interpolation, re-segmentation and discretisation for the CT phantom
configurations of ``configs/extraction/ibsi_ct.yaml``). pyradiomics' feature classes then
compute, with the settings of ``configs/extraction/ibsi_phantom.yaml``:

- morphology (``shape``) on the morphological mask,
- intensity statistics (``firstorder``) on the re-segmented, non-discretised intensities,
- intensity histogram (``firstorder``) and texture features on the IBSI grey levels, kept as
  they are (pyradiomics' own re-binning, which renumbers grey levels from the ROI minimum, is
  bypassed),

once per IBSI aggregation mode (``configs/extraction/ibsi_mapping.yaml``); 2D (per slice)
modes run the in-plane settings on every slice and average the features over slices. Each IBSI
reference value is compared with the mapped feature; IBSI features without a pyradiomics
counterpart are reported as ``unmapped``. The IBSI corrections of ``texture.ibsi_correct``
(excess kurtosis, N − 1 axis lengths) are applied.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from radiomix.errors import ConfigError, ExtractionError, ImageReadError
from radiomix.paths import CONFIG_DIR

if TYPE_CHECKING:  # pandas, SimpleITK and pyradiomics load in the functions (fast CLI start)
    import numpy as np
    import pandas as pd
    import SimpleITK as sitk

    from radiomix.features.ibsi_preprocess import IbsiImages

IBSI_CONFIG_DIR = CONFIG_DIR / "extraction"
IBSI_PARAMS = IBSI_CONFIG_DIR / "ibsi_phantom.yaml"
IBSI_MAPPING = IBSI_CONFIG_DIR / "ibsi_mapping.yaml"
IBSI_CT_CONFIGS = IBSI_CONFIG_DIR / "ibsi_ct.yaml"
DEFAULT_SHARED = Path("..") / "shared" / "data"  # beside the folder the command runs in
PHANTOM_DIR = Path("ibsi") / "digital_phantom" / "nifti"
CT_PHANTOM_DIR = Path("ibsi") / "ct_radiomics_phantom" / "nifti"
REFERENCE_DIR = Path("ibsi") / "reference_values"
REFERENCE_TABLE = REFERENCE_DIR / "zrad_ibsi_1_reference_values_digital_phantom.csv"
CT_REFERENCE_TABLE = "zrad_ibsi_1_reference_values_config_{}.csv"
DIGITAL_PHANTOM = "phantom"
CT_CONFIGURATIONS = ("A", "B", "C", "D", "E")
DATASETS = (DIGITAL_PHANTOM, *CT_CONFIGURATIONS)
PHANTOM_SIGNIFICANT_DIGITS = 3
SOURCES = ("morphology", "intensity", "discretised")
DIAGNOSTICS_PREFIX = "Diagnostics"
STATUSES = ("pass", "fail", "unmapped", "no reference")
GREY_LEVEL_COUNT = "ibsiGreyLevelCount"  # feature-class setting: N_g of the whole ROI


def load_mapping(path: Path = IBSI_MAPPING) -> dict[str, Any]:
    """The IBSI ↔ pyradiomics mapping (aggregation modes and per-family feature tags)."""
    from radiomix.features.texture import read_param_file

    mapping = read_param_file(path)
    if not {"modes", "families"} <= mapping.keys():
        raise ConfigError(f"IBSI mapping {path} needs the sections 'modes' and 'families'")
    for name, family in mapping["families"].items():
        if family.get("source", "discretised") not in SOURCES:
            raise ConfigError(f"IBSI mapping {path}: family {name} has an unknown source")
    return mapping


def pyradiomics_key(feature_class: str, feature: str) -> str:
    """``original_<class>_<feature>``; ``feature`` may name another class: ``<class>/<feature>``."""
    if "/" in feature:
        feature_class, feature = feature.split("/", 1)
    return f"original_{feature_class}_{feature}"


def tag_index(mapping: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    """IBSI tag (with its aggregation suffix) → (mode, source image, pyradiomics key)."""
    index: dict[str, tuple[str, str, str]] = {}
    for family in mapping["families"].values():
        source = family.get("source", "discretised")
        for suffix, mode in family["suffixes"].items():
            for base_tag, feature in family["features"].items():
                tag = f"{base_tag}_{suffix}" if suffix else base_tag
                index[tag] = (mode, source, pyradiomics_key(family["class"], feature))
    return index


def round_significant(value: float, digits: int) -> float:
    """``value`` rounded to ``digits`` significant figures."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def matches(value: float, reference: float, tolerance: float, digits: int | None) -> bool:
    """Whether ``value`` agrees with an IBSI reference: within tolerance, or equal when both
    are rounded to ``digits`` significant figures (the precision of the printed table)."""
    if not math.isfinite(value):
        return False
    if abs(value - reference) <= tolerance:
        return True
    return digits is not None and math.isclose(
        round_significant(value, digits), round_significant(reference, digits), rel_tol=1e-9
    )


def _read_pair(folder: Path, image_name: str, what: str) -> tuple[sitk.Image, sitk.Image]:
    import SimpleITK as sitk

    image, mask = folder / "image" / image_name, folder / "mask" / "mask.nii.gz"
    for path in (image, mask):
        if not path.is_file():
            raise ImageReadError(f"IBSI {what} file not found: {path}")
    return sitk.ReadImage(str(image)), sitk.ReadImage(str(mask))


def read_phantom(shared_root: Path) -> tuple[sitk.Image, sitk.Image]:
    """The IBSI digital phantom image and mask as SimpleITK images."""
    return _read_pair(Path(shared_root) / PHANTOM_DIR, "phantom.nii.gz", "digital phantom")


def read_ct_phantom(shared_root: Path) -> tuple[sitk.Image, sitk.Image]:
    """The IBSI CT radiomics phantom (PAT1) image and GTV mask as SimpleITK images."""
    return _read_pair(Path(shared_root) / CT_PHANTOM_DIR, "phantom.nii.gz", "CT phantom")


def read_reference(path: Path) -> pd.DataFrame:
    """An IBSI reference table in the compliance-sheet layout (tag, reference value, tolerance)."""
    import pandas as pd

    if not Path(path).is_file():
        raise ImageReadError(f"IBSI reference table not found: {path}")
    table = pd.read_csv(path, encoding="utf-8-sig")
    return table.rename(columns={"reference value": "reference"})[
        ["dataset", "family", "feature", "tag", "reference", "tolerance"]
    ]


def _keep_grey_levels(self: Any, matrix: np.ndarray) -> np.ndarray:
    """``_applyBinning`` of the IBSI feature classes: the image already holds IBSI grey levels.
    N_g is the highest grey level, of the whole ROI when given (per-slice features)."""
    import numpy as np

    levels = np.rint(matrix).astype(np.int64)
    self.coefficients["grayLevels"] = np.unique(levels[self.maskArray])
    highest = int(np.max(self.coefficients["grayLevels"]))
    self.coefficients["Ng"] = max(highest, int(self.settings.get(GREY_LEVEL_COUNT, 0)))
    return levels


@functools.cache
def feature_classes() -> dict[str, type]:
    """pyradiomics' feature classes, without their re-binning of the grey levels."""
    import radiomics

    from radiomix.features.texture import quiet_pyradiomics

    quiet_pyradiomics()
    return {
        name: type(f"Ibsi{cls.__name__}", (cls,), {"_applyBinning": _keep_grey_levels})
        for name, cls in radiomics.getFeatureClasses().items()
    }


def crop_to_mask(image: sitk.Image, mask: sitk.Image) -> tuple[sitk.Image, sitk.Image]:
    """Image and mask cropped to the mask's bounding box."""
    import numpy as np
    import SimpleITK as sitk

    indices = np.nonzero(sitk.GetArrayViewFromImage(mask))
    lower = [int(axis.min()) for axis in indices[::-1]]
    size = [int(axis.max()) - low + 1 for axis, low in zip(indices[::-1], lower, strict=True)]
    return sitk.RegionOfInterest(image, size, lower), sitk.RegionOfInterest(mask, size, lower)


def class_features(
    image: sitk.Image,
    mask: sitk.Image,
    classes: dict[str, list[str] | None],
    settings: dict[str, Any],
) -> dict[str, float]:
    """pyradiomics features of ``classes`` (name → feature names, None: all) of ``image`` in
    ``mask`` (label 1), keyed ``original_<class>_<feature>``; grey levels are used as they are."""
    image, mask = crop_to_mask(image, mask)
    features: dict[str, float] = {}
    for class_name, names in classes.items():
        try:
            instance = feature_classes()[class_name](image, mask, **settings)
            if names:
                for name in names:
                    instance.enableFeatureByName(name)
            else:
                instance.enableAllFeatures()
            values = instance.execute()
        except Exception as exc:  # any pyradiomics failure becomes one radiomix error
            raise ExtractionError(
                f"pyradiomics {class_name} failed on an IBSI image: {exc}"
            ) from exc
        features |= {f"original_{class_name}_{k}": float(v) for k, v in values.items()}
    return features


def slice_averaged_features(
    image: sitk.Image,
    mask: sitk.Image,
    classes: dict[str, list[str] | None],
    settings: dict[str, Any],
) -> dict[str, float]:
    """IBSI 2D aggregation: features of every slice (along z) holding ROI voxels, averaged;
    N_g (in the normalised inverse differences) is that of the whole ROI."""
    import numpy as np
    import SimpleITK as sitk

    levels = sitk.GetArrayViewFromImage(image)[sitk.GetArrayViewFromImage(mask) > 0]
    settings = {**settings, GREY_LEVEL_COUNT: int(np.rint(levels.max()))}
    per_slice = []
    for z in np.nonzero(sitk.GetArrayViewFromImage(mask).any(axis=(1, 2)))[0]:
        index, size = [0, 0, int(z)], [*image.GetSize()[:2], 1]
        per_slice.append(
            class_features(
                sitk.RegionOfInterest(image, size, index),
                sitk.RegionOfInterest(mask, size, index),
                classes,
                settings,
            )
        )
    return {key: float(np.mean([s[key] for s in per_slice])) for key in per_slice[0]}


def _needed_runs(
    tags: Sequence[str], index: dict[str, tuple[str, str, str]]
) -> dict[tuple[str, str], dict[str, None]]:
    """(source, mode) → pyradiomics classes needed for the mapped ``tags``."""
    runs: dict[tuple[str, str], dict[str, None]] = {}
    for tag in tags:
        if tag in index:
            mode, source, key = index[tag]
            runs.setdefault((source, mode), {})[key.split("_")[1]] = None
    return runs


def _source_images(images: IbsiImages, source: str) -> tuple[sitk.Image, sitk.Image]:
    if source == "morphology":
        return images.intensity, images.morphological_mask
    if source == "intensity":
        return images.intensity, images.intensity_mask
    return images.discretised, images.intensity_mask


def mapped_values(
    images: IbsiImages,
    tags: Sequence[str],
    params: dict[str, Any],
    mapping: dict[str, Any],
    ibsi_corrections: bool = True,
) -> dict[str, float]:
    """radiomix' value of every mapped IBSI tag in ``tags`` for the processed ``images``
    (``ibsi_preprocess.IbsiImages``); diagnostics are taken as computed. ``ibsi_corrections``:
    apply ``texture.ibsi_correct`` (off: pyradiomics' own definitions)."""
    import numpy as np
    import SimpleITK as sitk

    from radiomix.features.texture import ibsi_correct

    index = tag_index(mapping)
    slice_modes = mapping.get("slice_modes", {})
    morphology_voxels = int(np.count_nonzero(sitk.GetArrayViewFromImage(images.morphological_mask)))
    values = dict(images.diagnostics)
    for (source, mode), classes in _needed_runs(tags, index).items():
        base_mode = slice_modes.get(mode, mode)
        if base_mode not in mapping["modes"]:
            raise ConfigError(f"IBSI mapping: unknown aggregation mode {mode}")
        settings = {**params["setting"], **mapping["modes"][base_mode]}
        wanted = {name: params["featureClass"].get(name) for name in classes}
        run = slice_averaged_features if mode in slice_modes else class_features
        features = run(*_source_images(images, source), wanted, settings)
        if ibsi_corrections:
            features = ibsi_correct(features, morphology_voxels)
        for tag in tags:
            if index.get(tag, (None, None, None))[:2] == (mode, source):
                values[tag] = features[index[tag][2]]
    return values


def _status(value: float | None, reference: float, tolerance: float, digits: int | None) -> str:
    if value is None:
        return "unmapped"
    if not math.isfinite(reference):
        return "no reference"
    return "pass" if matches(value, reference, tolerance, digits) else "fail"


def compare_to_reference(
    reference: pd.DataFrame,
    values: dict[str, float],
    index: dict[str, tuple[str, str, str]],
    digits: int | None,
    exact_digits: int | None = None,
) -> pd.DataFrame:
    """One row per IBSI reference feature with radiomix' value and its status.

    ``digits``: compare every value also at this many significant figures (digital phantom);
    ``exact_digits``: only values of tolerance 0 (exact, printed rounded) are compared so.
    """
    import pandas as pd

    rows = []
    for row in reference.itertuples(index=False):
        mode, _, feature = index.get(row.tag, (None, None, None))
        if row.family.startswith(DIAGNOSTICS_PREFIX):
            mode, feature = "diagnostics", row.tag
        value = values.get(row.tag) if mode else None
        tolerance = 0.0 if pd.isna(row.tolerance) else float(row.tolerance)
        row_digits = digits if digits is not None or tolerance else exact_digits
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
                "status": _status(value, float(row.reference), tolerance, row_digits),
            }
        )
    return pd.DataFrame(rows)


def _phantom_images(shared_root: Path) -> IbsiImages:
    """The digital phantom as processed IBSI images: no processing, one mask."""
    from radiomix.features.ibsi_preprocess import IbsiImages

    image, mask = read_phantom(shared_root)
    return IbsiImages(image, image, mask, mask)


def dataset_report(
    shared_root: Path, dataset: str, *, ibsi_corrections: bool = True
) -> pd.DataFrame:
    """Conformance report of one data set: ``phantom`` or a CT configuration ``A``–``E``."""
    from radiomix.features.ibsi_preprocess import load_configurations, preprocess
    from radiomix.features.texture import pyradiomics_params

    if dataset not in DATASETS:
        raise ConfigError(f"unknown IBSI data set {dataset!r}; choose from {list(DATASETS)}")
    mapping = load_mapping()
    index = tag_index(mapping)
    params = pyradiomics_params(IBSI_PARAMS)
    if dataset == DIGITAL_PHANTOM:
        table = Path(shared_root) / REFERENCE_TABLE
        images = _phantom_images(shared_root)
        digits, exact_digits = PHANTOM_SIGNIFICANT_DIGITS, None
    else:
        table = Path(shared_root) / REFERENCE_DIR / CT_REFERENCE_TABLE.format(dataset)
        config = load_configurations(IBSI_CT_CONFIGS)[dataset]
        images = preprocess(*read_ct_phantom(shared_root), config)
        digits, exact_digits = None, PHANTOM_SIGNIFICANT_DIGITS
    reference = read_reference(table)
    values = mapped_values(images, list(reference["tag"]), params, mapping, ibsi_corrections)
    return compare_to_reference(reference, values, index, digits, exact_digits)


def ibsi_check(
    shared_root: Path,
    datasets: Sequence[str] = DATASETS,
    *,
    ibsi_corrections: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """IBSI conformance report: one row per IBSI reference feature of each data set.

    ``datasets``: ``phantom`` (digital phantom) and/or CT phantom configurations ``A``–``E``.
    Columns: configuration, family, feature (IBSI name), tag, pyradiomics_feature, mode,
    radiomix (value), reference (consensus value), tolerance, status (pass / fail / unmapped /
    no reference). Digital phantom values pass within tolerance or at 3 significant figures
    (the table's precision); CT values pass within the configuration's tolerance (values of
    tolerance 0, printed rounded, at 3 significant figures). ``ibsi_corrections=False`` checks
    pyradiomics' uncorrected definitions instead. ``progress(done, total)`` is called after
    each data set.
    """
    import pandas as pd

    reports = []
    for dataset in datasets:
        reports.append(dataset_report(shared_root, dataset, ibsi_corrections=ibsi_corrections))
        if progress:
            progress(len(reports), len(datasets))
    return pd.concat(reports, ignore_index=True)


def summarise(report: pd.DataFrame) -> pd.DataFrame:
    """Per configuration and IBSI family: n matched, n mapped (with a reference value),
    n unmapped; a ``total`` row per configuration."""
    import pandas as pd

    parts = []
    for configuration, rows in report.groupby("configuration", sort=False):
        counts = pd.crosstab(rows["family"], rows["status"]).reindex(columns=STATUSES, fill_value=0)
        summary = pd.DataFrame(
            {
                "matched": counts["pass"],
                "mapped": counts["pass"] + counts["fail"],
                "unmapped": counts["unmapped"],
            }
        ).reindex(rows["family"].drop_duplicates())
        summary.loc["total"] = summary.sum()
        parts.append(summary.assign(configuration=configuration))
    return (
        pd.concat(parts).rename_axis("family").reset_index().set_index(["configuration", "family"])
    )
