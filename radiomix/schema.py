"""The columns of radiomix's tables, defined once for every stage.

The data manifest has one row per lesion (see README "The data manifest"); the feature table
written by `radiomix extract` starts with ``TABLE_KEY_COLUMNS`` and the clinical columns, then
the features. Models, predictions and the simulator read these names from here.
"""

from __future__ import annotations

IDENTITY_COLUMNS = ("case_id", "patient_id", "site", "label", "label_source", "tracer", "primary")
"""Who the lesion is and what is known of it: never a feature."""

IMAGE_COLUMNS = ("pet", "pet_dynamic", "pet_early", "pet_late", "t1c", "flair", "adc", "rcbv")
MASK_COLUMNS = ("lesion_mask", "ref_background", "ref_wm", "ref_gm", "ref_striatum")
REFERENCE_MASKS = MASK_COLUMNS[1:]
MRS_COLUMNS = ("mrs_cho_naa", "mrs_cho_cr")
"""MR spectroscopy ratios, given in the manifest and carried into the feature table as is."""
CLINICAL_NUMBER_COLUMNS = ("age", "months_since_rt")
NUMBER_COLUMNS = MRS_COLUMNS + CLINICAL_NUMBER_COLUMNS
MANIFEST_COLUMNS = IDENTITY_COLUMNS + IMAGE_COLUMNS + MASK_COLUMNS + NUMBER_COLUMNS
"""Every column the manifest defines, in the order the simulator writes them."""

TABLE_KEY_COLUMNS = ("case_id", "patient_id", "label", "site", "tracer")
"""The first columns of a feature table, in this order."""

CLINICAL_TEXT_COLUMNS = ("primary", "label_source")
"""Clinical columns the feature table carries after its key columns, with
``CLINICAL_NUMBER_COLUMNS``."""

EXTRACTION_ERRORS = "extraction_errors"
"""The column in which `radiomix predict` lists the extraction failures of a case."""
