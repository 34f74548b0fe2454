"""FDG dual-phase retention indices (Horky et al. 2011) from ``pet_early`` and ``pet_late``.

index = (L2/R2 − L1/R1)/(L1/R1), L the lesion and R a reference region, 1 the early and 2 the
delayed phase. Horky measured SUVmax and SUVmean of the lesion and of grey matter at the level
of the thalamus and does not name, in the abstract, the pair behind the 0.19 cut-off; the
ratios here are like-for-like:

- ``fdg_dual_phase_index``: lesion SUVmax / ``ref_gm`` SUVmax (the rule's parameter);
- ``fdg_dual_phase_index_mean``: lesion SUVmean / ``ref_gm`` SUVmean;
- ``fdg_dual_phase_index_wm``: lesion SUVmax / ``ref_wm`` SUVmax (Horky's second-best index,
  the change of the lesion-to-white-matter ratio);
- ``fdg_lesion_volume_ml``: the lesion mask volume on the early image (Horky's inclusion:
  lesions > 0.5 cm³).
"""

from __future__ import annotations

import numpy as np

from radiomix.data.case_loader import load_case_image
from radiomix.data.manifest import Case
from radiomix.features.config import ExtractionConfig
from radiomix.features.regions import mask_array, ratio, region_values, voxel_volume_ml
from radiomix.features.registry import register

PHASES = ("pet_early", "pet_late")
GM_INPUTS = (*PHASES, "lesion_mask", "ref_gm")
WM_INPUTS = (*PHASES, "lesion_mask", "ref_wm")


def retention_index(early: float, late: float) -> float:
    """Relative change of a lesion-to-reference ratio from the early to the late phase."""
    return ratio(late - early, early)


def _phase_ratios(case: Case, column: str) -> dict[str, float]:
    """Lesion-to-reference ratios of one phase: max/max and mean/mean to GM, max/max to WM."""
    image = load_case_image(case, column)
    lesion = region_values(case, "lesion_mask", image)
    ratios = {}
    if case.has("ref_gm"):
        gm = region_values(case, "ref_gm", image)
        ratios["max"] = ratio(float(np.max(lesion)), float(np.max(gm)))
        ratios["mean"] = ratio(float(np.mean(lesion)), float(np.mean(gm)))
    if case.has("ref_wm"):
        ratios["wm"] = ratio(
            float(np.max(lesion)), float(np.max(region_values(case, "ref_wm", image)))
        )
    return ratios


NAMES = {
    "max": "fdg_dual_phase_index",
    "mean": "fdg_dual_phase_index_mean",
    "wm": "fdg_dual_phase_index_wm",
}


@register(
    "fdg_dual_phase",
    inputs={
        "fdg_dual_phase_index": GM_INPUTS,
        "fdg_dual_phase_index_mean": GM_INPUTS,
        "fdg_dual_phase_index_wm": WM_INPUTS,
        "fdg_lesion_volume_ml": ("pet_early", "lesion_mask"),
    },
)
def fdg_dual_phase(case: Case, config: ExtractionConfig) -> dict[str, float]:
    """Retention indices to grey matter (max and mean pairs) and white matter, and the
    lesion volume."""
    early = load_case_image(case, "pet_early")
    features = {
        "fdg_lesion_volume_ml": float(mask_array(case, "lesion_mask", early).sum())
        * voxel_volume_ml(early)
    }
    if not case.has("pet_late"):
        return features
    first, second = _phase_ratios(case, "pet_early"), _phase_ratios(case, "pet_late")
    return features | {NAMES[key]: retention_index(first[key], second[key]) for key in first}
