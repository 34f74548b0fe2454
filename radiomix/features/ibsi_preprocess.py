"""IBSI chapter 2 image processing: interpolation, re-segmentation and discretisation.

Implements, with numpy and SimpleITK, the steps the IBSI reference manual defines and the CT
radiomics phantom configurations A–E use (``configs/extraction/ibsi_ct.yaml``):

- interpolation to a new spacing on a grid *aligned on the grid centres*: per axis
  ``n_b = ceil(n_a s_a / s_b)`` points, origin ``x_a + (s_a (n_a − 1) − s_b (n_b − 1)) / 2``,
  the original image padded with its boundary intensities; (tri)linear or cubic B-spline
  (tricubic spline) image interpolation, intensities rounded to the nearest integer;
  an axis whose spacing is kept (2D, in-plane interpolation) is not interpolated;
- the ROI mask interpolated (tri)linearly and binarised at a partial volume threshold (≥ 0.5);
- re-segmentation of the intensity mask: range ``[a, b]`` and/or outlier filtering
  ``[μ − kσ, μ + kσ]`` (μ, σ of the ROI intensities), the intersection when both are set; the
  morphological mask is not re-segmented;
- discretisation by fixed bin size ``floor((X − X_min) / w) + 1`` with ``X_min`` the lower
  re-segmentation bound (the ROI minimum without one), or by fixed bin number
  ``floor(N_g (X − X_min) / (X_max − X_min)) + 1`` (``N_g`` at the ROI maximum).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from radiomix.errors import ConfigError, MaskError

INTERPOLATORS = {"linear": sitk.sitkLinear, "bspline": sitk.sitkBSpline}
DISCRETISATIONS = ("fixed_bin_size", "fixed_bin_number")
AGGREGATIONS = ("2D", "3D")
PAD_VOXELS = 4  # boundary padding for extrapolation (covers the cubic B-spline support)
GRID_DECIMALS = 6  # n_a s_a / s_b is rounded to this many decimals before the ceiling
AXES = "xyz"


@dataclass(frozen=True)
class IbsiConfiguration:
    """One IBSI image processing configuration (spacing in mm as x, y, z; ``None`` keeps it)."""

    name: str
    aggregation: str
    discretisation: str
    bin_width: float | None = None
    bin_number: int | None = None
    spacing: tuple[float | None, float | None, float | None] | None = None
    interpolation: str = "linear"
    round_intensities: bool = True
    partial_volume: float = 0.5
    resegment_range: tuple[float, float | None] | None = None
    outlier_sigma: float | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.aggregation not in AGGREGATIONS:
            problems.append(f"aggregation must be one of {AGGREGATIONS}")
        if self.interpolation not in INTERPOLATORS:
            problems.append(f"interpolation must be one of {tuple(INTERPOLATORS)}")
        if self.discretisation not in DISCRETISATIONS:
            problems.append(f"discretisation must be one of {DISCRETISATIONS}")
        if self.discretisation == "fixed_bin_size" and not (self.bin_width or 0) > 0:
            problems.append("fixed_bin_size needs bin_width > 0")
        if self.discretisation == "fixed_bin_number" and not (self.bin_number or 0) > 0:
            problems.append("fixed_bin_number needs bin_number > 0")
        if problems:
            raise ConfigError(f"IBSI configuration {self.name}: " + "; ".join(problems))


@dataclass
class IbsiImages:
    """Processed image and masks on one grid, plus the IBSI diagnostic features."""

    intensity: sitk.Image
    discretised: sitk.Image
    intensity_mask: sitk.Image
    morphological_mask: sitk.Image
    diagnostics: dict[str, float] = field(default_factory=dict)


def load_configurations(path: Path) -> dict[str, IbsiConfiguration]:
    """The IBSI configurations of a YAML file: ``{name: {field: value}}``."""
    from radiomix.features.texture import read_param_file

    configurations = {}
    for name, fields in read_param_file(path).items():
        try:
            spacing = fields.pop("spacing", None)
            reseg = fields.pop("resegment_range", None)
            configurations[name] = IbsiConfiguration(
                name=name,
                spacing=tuple(spacing) if spacing else None,
                resegment_range=tuple(reseg) if reseg else None,
                **fields,
            )
        except TypeError as exc:
            raise ConfigError(f"IBSI configuration {name} in {path}: {exc}") from exc
    return configurations


def axis_grid(n_a: int, s_a: float, s_b: float) -> tuple[int, float]:
    """Points of the centre-aligned interpolation grid on one axis and its first point's
    offset from the original first point, in mm (IBSI: ``n_b = ceil(n_a s_a / s_b)``)."""
    n_b = math.ceil(round(n_a * s_a / s_b, GRID_DECIMALS))
    return n_b, (s_a * (n_a - 1) - s_b * (n_b - 1)) / 2


def interpolation_grid(
    reference: sitk.Image, spacing: tuple[float | None, ...]
) -> tuple[tuple[int, ...], tuple[float, ...], tuple[float, ...]]:
    """Size, spacing and origin of the centre-aligned grid with the new ``spacing`` (x, y, z;
    ``None`` or the original spacing keeps an axis as it is)."""
    sizes, spacings, offsets = [], [], []
    for n_a, s_a, s_b in zip(reference.GetSize(), reference.GetSpacing(), spacing, strict=True):
        if s_b is None or math.isclose(s_a, s_b, rel_tol=1e-9):
            sizes.append(n_a)
            spacings.append(s_a)
            offsets.append(0.0)
            continue
        n_b, offset = axis_grid(n_a, s_a, float(s_b))
        sizes.append(n_b)
        spacings.append(float(s_b))
        offsets.append(offset)
    direction = np.array(reference.GetDirection()).reshape(3, 3)
    origin = np.array(reference.GetOrigin()) + direction @ np.array(offsets)
    return tuple(sizes), tuple(spacings), tuple(float(v) for v in origin)


def resample(image: sitk.Image, spacing: tuple[float | None, ...], interpolator: int) -> sitk.Image:
    """``image`` (as float64) on the centre-aligned grid of ``spacing``; the image is padded with
    its boundary intensities so that the grid's outer points are extrapolated from them."""
    size, new_spacing, origin = interpolation_grid(image, spacing)
    padded = sitk.ZeroFluxNeumannPad(
        sitk.Cast(image, sitk.sitkFloat64), [PAD_VOXELS] * 3, [PAD_VOXELS] * 3
    )
    return sitk.Resample(
        padded,
        size,
        sitk.Transform(),
        interpolator,
        origin,
        new_spacing,
        image.GetDirection(),
        0.0,
        sitk.sitkFloat64,
    )


def binarise(fractions: np.ndarray, threshold: float) -> np.ndarray:
    """Partial volume mask: voxels with an interpolated fraction ≥ ``threshold``."""
    return fractions >= threshold


def resegment(
    values: np.ndarray,
    roi: np.ndarray,
    intensity_range: tuple[float, float | None] | None,
    outlier_sigma: float | None,
) -> np.ndarray:
    """Intensity mask: ROI voxels within ``intensity_range`` (upper bound ``None``: open) and
    within ``outlier_sigma`` standard deviations of the ROI mean (μ, σ of the whole ROI)."""
    keep = roi.copy()
    if intensity_range is not None:
        lower, upper = intensity_range
        keep &= values >= lower
        if upper is not None:
            keep &= values <= upper
    if outlier_sigma is not None:
        mean, std = values[roi].mean(), values[roi].std()
        keep &= np.abs(values - mean) <= outlier_sigma * std
    return keep


def discretise_fixed_bin_size(values: np.ndarray, lower_bound: float, width: float) -> np.ndarray:
    """IBSI fixed bin size: ``floor((X − lower_bound) / width) + 1``."""
    return np.floor((values - lower_bound) / width).astype(np.int64) + 1


def discretise_fixed_bin_number(values: np.ndarray, bins: int) -> np.ndarray:
    """IBSI fixed bin number over the range of ``values``; the maximum goes to bin ``bins``."""
    low, high = values.min(), values.max()
    if high == low:
        return np.ones(values.shape, dtype=np.int64)
    levels = np.floor(bins * (values - low) / (high - low)).astype(np.int64) + 1
    return np.minimum(levels, bins)


def discretise(values: np.ndarray, config: IbsiConfiguration) -> np.ndarray:
    """Grey levels of the ROI ``values`` under the configuration's discretisation."""
    if config.discretisation == "fixed_bin_number":
        assert config.bin_number is not None  # checked by IbsiConfiguration
        return discretise_fixed_bin_number(values, int(config.bin_number))
    assert config.bin_width is not None  # checked by IbsiConfiguration
    lower = config.resegment_range[0] if config.resegment_range else values.min()
    return discretise_fixed_bin_size(values, lower, float(config.bin_width))


def image_diagnostics(values: np.ndarray, spacing: tuple[float, ...], stage: str) -> dict:
    """IBSI diagnostic features of a whole image (``stage``: init / interp)."""
    diagnostics: dict[str, float] = {}
    for axis, size, step in zip(AXES, values.shape[::-1], spacing, strict=True):
        diagnostics[f"img_dim_{axis}_{stage}_img"] = size
        diagnostics[f"vox_dim_{axis}_{stage}_img"] = step
    diagnostics[f"mean_int_{stage}_img"] = float(values.mean())
    diagnostics[f"min_int_{stage}_img"] = float(values.min())
    diagnostics[f"max_int_{stage}_img"] = float(values.max())
    return diagnostics


def bounding_box_size(mask: np.ndarray) -> tuple[int, ...]:
    """Extent in voxels (x, y, z) of the mask's bounding box."""
    if not mask.any():
        return (0, 0, 0)
    indices = np.nonzero(mask)
    return tuple(int(i.max() - i.min() + 1) for i in indices[::-1])


def roi_diagnostics(
    values: np.ndarray, intensity_mask: np.ndarray, morphological_mask: np.ndarray, stage: str
) -> dict:
    """IBSI diagnostic features of the ROI masks (``stage``: init / interp / reseg)."""
    diagnostics: dict[str, float] = {}
    int_box, morph_box = bounding_box_size(intensity_mask), bounding_box_size(morphological_mask)
    for i, axis in enumerate(AXES):
        diagnostics[f"int_mask_dim_{axis}_{stage}_roi"] = values.shape[::-1][i]
        diagnostics[f"int_mask_bb_dim_{axis}_{stage}_roi"] = int_box[i]
        diagnostics[f"morph_mask_bb_dim_{axis}_{stage}_roi"] = morph_box[i]
    roi_values = values[intensity_mask]
    diagnostics[f"int_mask_vox_count_{stage}_roi"] = int(intensity_mask.sum())
    diagnostics[f"morph_mask_vox_count_{stage}_roi"] = int(morphological_mask.sum())
    diagnostics[f"int_mask_mean_int_{stage}_roi"] = float(roi_values.mean())
    diagnostics[f"int_mask_min_int_{stage}_roi"] = float(roi_values.min())
    diagnostics[f"int_mask_max_int_{stage}_roi"] = float(roi_values.max())
    return diagnostics


def _image_like(array: np.ndarray, reference: sitk.Image) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(reference)
    return image


def _interpolate(
    image: sitk.Image, mask: sitk.Image, config: IbsiConfiguration
) -> tuple[sitk.Image, np.ndarray]:
    """Interpolated image (rounded when configured) and binarised ROI mask."""
    if config.spacing is None:
        return image, sitk.GetArrayFromImage(mask) > 0
    interpolated = resample(image, config.spacing, INTERPOLATORS[config.interpolation])
    if config.round_intensities:
        interpolated = _image_like(np.rint(sitk.GetArrayFromImage(interpolated)), interpolated)
    roi = sitk.Cast(mask > 0, sitk.sitkFloat64)
    fractions = sitk.GetArrayFromImage(resample(roi, config.spacing, sitk.sitkLinear))
    return interpolated, binarise(fractions, config.partial_volume)


def preprocess(image: sitk.Image, mask: sitk.Image, config: IbsiConfiguration) -> IbsiImages:
    """Run the IBSI processing of ``config`` on a (CT) image and its ROI mask (non-zero = ROI).

    The image is converted to float and rounded to integers first (IBSI note for the NIfTI
    phantom). Returns the interpolated intensities, the discretised grey levels (0 outside the
    intensity mask), both masks and the diagnostic features of every step.
    """
    if image.GetSize() != mask.GetSize():
        raise MaskError(
            f"IBSI {config.name}: mask size {mask.GetSize()} differs from image {image.GetSize()}"
        )
    rounded = _image_like(np.rint(sitk.GetArrayFromImage(image).astype(np.float64)), image)
    initial_values = sitk.GetArrayFromImage(rounded)
    initial_roi = sitk.GetArrayFromImage(mask) > 0
    if not initial_roi.any():
        raise MaskError(f"IBSI {config.name}: the ROI mask is empty")
    diagnostics = image_diagnostics(initial_values, rounded.GetSpacing(), "init")
    diagnostics |= roi_diagnostics(initial_values, initial_roi, initial_roi, "init")

    interpolated, roi = _interpolate(rounded, mask, config)
    values = sitk.GetArrayFromImage(interpolated)
    if not roi.any():
        raise MaskError(f"IBSI {config.name}: no ROI voxel left after mask interpolation")
    diagnostics |= image_diagnostics(values, interpolated.GetSpacing(), "interp")
    diagnostics |= roi_diagnostics(values, roi, roi, "interp")

    intensity_roi = resegment(values, roi, config.resegment_range, config.outlier_sigma)
    if not intensity_roi.any():
        raise MaskError(f"IBSI {config.name}: no ROI voxel left after re-segmentation")
    diagnostics |= roi_diagnostics(values, intensity_roi, roi, "reseg")

    levels = np.zeros(values.shape, dtype=np.int32)
    levels[intensity_roi] = discretise(values[intensity_roi], config)
    return IbsiImages(
        intensity=interpolated,
        discretised=_image_like(levels, interpolated),
        intensity_mask=_image_like(intensity_roi.astype(np.uint8), interpolated),
        morphological_mask=_image_like(roi.astype(np.uint8), interpolated),
        diagnostics=diagnostics,
    )
