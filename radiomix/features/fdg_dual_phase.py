"""FDG dual-phase retention index (Horky et al. 2011) from ``pet_early`` and ``pet_late``.

index = (L2/GM2 − L1/GM1) / (L1/GM1), L the lesion SUVmax (or mean for the ``_mean``
variant) and GM the ``ref_gm`` mean, 1 the early and 2 the delayed phase.
"""

from __future__ import annotations

import numpy as np

from radiomix.data.images import load_case_image
from radiomix.data.manifest import Case
from radiomix.features.config import ExtractionConfig
from radiomix.features.regions import ratio, region_values
from radiomix.features.registry import register

DUAL_PHASE_INPUTS = ("pet_early", "pet_late", "lesion_mask", "ref_gm")


def retention_index(early: float, late: float) -> float:
    """Relative change of a lesion-to-grey-matter ratio from the early to the late phase."""
    return ratio(late - early, early)


def _lesion_to_gm(case: Case, column: str) -> tuple[float, float]:
    """(lesion SUVmax / GM mean, lesion SUVmean / GM mean) of one phase."""
    image = load_case_image(case, column)
    lesion = region_values(case, "lesion_mask", image)
    gm_mean = float(np.mean(region_values(case, "ref_gm", image)))
    return ratio(float(np.max(lesion)), gm_mean), ratio(float(np.mean(lesion)), gm_mean)


@register("fdg_dual_phase", inputs={"fdg_dual_phase_index": DUAL_PHASE_INPUTS,
                                    "fdg_dual_phase_index_mean": DUAL_PHASE_INPUTS})
def fdg_dual_phase(case: Case, config: ExtractionConfig) -> dict[str, float]:
    """Retention index with the lesion SUVmax and with the lesion SUVmean."""
    early_max, early_mean = _lesion_to_gm(case, "pet_early")
    late_max, late_mean = _lesion_to_gm(case, "pet_late")
    return {"fdg_dual_phase_index": retention_index(early_max, late_max),
            "fdg_dual_phase_index_mean": retention_index(early_mean, late_mean)}
