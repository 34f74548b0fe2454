"""Exception types of radiomix.

Every error a user can meet is one of these, and its message names the case, the
column or the file concerned, so that a batch can report it and move on.
"""

from __future__ import annotations


class RadiomixError(Exception):
    """Base class of every radiomix error."""


class ConfigError(RadiomixError):
    """A configuration or experiment file is invalid."""


class ManifestError(RadiomixError):
    """The data manifest is malformed (columns, ids, labels, paths)."""


class ImageReadError(RadiomixError):
    """An image or mask file cannot be read."""


class ImageGeometryError(RadiomixError):
    """An image and a mask (or two images) do not share one voxel grid."""


class MaskError(RadiomixError):
    """A mask is empty, not binary, or not usable as a region."""


class DicomUnitsError(RadiomixError):
    """A DICOM PET series cannot be converted to SUV."""


class FrameTimingError(RadiomixError):
    """The frame timing of a dynamic series is missing or inconsistent."""


class ExtractionError(RadiomixError):
    """A feature extractor failed on one case."""


class RuleError(RadiomixError):
    """A rule expression is malformed or names an unknown feature."""


class ModelError(RadiomixError):
    """A trained or exported model cannot be used as asked."""


class MissingExtraError(RadiomixError):
    """An optional dependency is not installed; the message names the extra that brings it."""
