"""Values of an image inside the masks of a case, shared by the extractor families."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from radiomix.data.images import load_case_mask
from radiomix.data.manifest import Case

LITRE_MM3 = 1000.0


def voxel_volume_ml(image: sitk.Image) -> float:
    """Volume of one voxel in millilitres."""
    return float(np.prod(image.GetSpacing()[:3])) / LITRE_MM3


def mask_array(case: Case, column: str, reference: sitk.Image) -> np.ndarray:
    """The mask of ``column`` on the grid of ``reference`` as a boolean (z, y, x) array."""
    return sitk.GetArrayFromImage(load_case_mask(case, column, reference)).astype(bool)


def region_values(case: Case, column: str, image: sitk.Image) -> np.ndarray:
    """The voxel values of ``image`` inside the mask of ``column`` (1-D float64)."""
    values = sitk.GetArrayViewFromImage(image)[mask_array(case, column, image)]
    return values.astype(np.float64)


def present_regions(case: Case, image: sitk.Image, columns: tuple[str, ...]
                    ) -> dict[str, np.ndarray]:
    """Values of ``image`` in each of ``columns`` that the case has."""
    return {column: region_values(case, column, image) for column in columns if case.has(column)}


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN when the denominator is not positive."""
    return numerator / denominator if denominator > 0 else float("nan")
