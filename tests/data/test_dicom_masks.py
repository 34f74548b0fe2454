"""DICOM RTSTRUCT and DICOM-SEG masks on the real DICOM PET series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from radiomix.data.images import Where, read_image, read_mask, sorted_series_headers
from radiomix.errors import MaskError


@pytest.fixture(scope="module")
def series(shared_data) -> Path:
    return shared_data / "pet" / "sts_001_raw_dicom" / "image"


@pytest.fixture(scope="module")
def pet(series) -> sitk.Image:
    return read_image(series)


def contour_points(rtstruct: Path, roi: str) -> list[np.ndarray]:
    ds = pydicom.dcmread(rtstruct)
    number = next(r.ROINumber for r in ds.StructureSetROISequence if r.ROIName == roi)
    contours = next(c for c in ds.ROIContourSequence if c.ReferencedROINumber == number)
    return [np.array(c.ContourData, float).reshape(-1, 3) for c in contours.ContourSequence]


def polygon_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))


def test_rtstruct_roi_matches_its_contours(shared_data, series, pet):
    rtstruct = shared_data / "pet" / "sts_001_raw_dicom" / "mask" / "1-1.dcm"
    mask = read_mask(Path(f"{rtstruct}#GTV_Mass"), pet, reference_dicom=series)
    voxels = sitk.GetArrayFromImage(mask)
    indices = np.argwhere(voxels)[:, ::-1]  # x, y, z
    centroid = np.mean(
        [mask.TransformContinuousIndexToPhysicalPoint(i.tolist()) for i in indices.astype(float)],
        axis=0,
    )
    contours = contour_points(rtstruct, "GTV_Mass")
    areas = np.array([polygon_area(c) for c in contours])
    contour_centroid = np.average([c.mean(axis=0) for c in contours], axis=0, weights=areas)
    spacing = np.array(pet.GetSpacing())
    assert np.all(np.abs(centroid - contour_centroid) < spacing)
    # Voxels cut by the contour count whole: at 5.5 mm pixels that adds ~15 % to this lesion.
    contour_volume = areas.sum() * spacing[2]
    assert voxels.sum() * spacing.prod() == pytest.approx(contour_volume * 1.15, rel=0.08)


def test_rtstruct_with_several_rois_needs_a_name(shared_data, series, pet):
    rtstruct = shared_data / "pet" / "sts_001_raw_dicom" / "mask" / "1-1.dcm"
    with pytest.raises(MaskError, match="GTV_Edema"):
        read_mask(rtstruct, pet, Where("sts_001", "lesion_mask", rtstruct), series)
    with pytest.raises(MaskError, match="'Tumour' not found"):
        read_mask(Path(f"{rtstruct}#Tumour"), pet, reference_dicom=series)


@pytest.mark.slow
def test_dicom_seg_round_trip(series, pet, tmp_path):
    import highdicom

    headers = sorted_series_headers(series)
    for k in (0, 57, len(headers) - 1):  # header order is the image's slice order
        np.testing.assert_allclose(
            headers[k].ImagePositionPatient, pet.TransformIndexToPhysicalPoint((0, 0, k)), atol=0.1
        )
    sources = [pydicom.dcmread(series / Path(h.filename).name) for h in headers]
    box = np.zeros(sitk.GetArrayViewFromImage(pet).shape, bool)
    box[100:103, 60:70, 80:84] = True  # asymmetric in z, so slice order errors show
    description = highdicom.seg.SegmentDescription(
        segment_number=1,
        segment_label="lesion",
        segmented_property_category=highdicom.sr.CodedConcept(
            "49755003", "SCT", "Morphologically Abnormal Structure"
        ),
        segmented_property_type=highdicom.sr.CodedConcept("108369006", "SCT", "Neoplasm"),
        algorithm_type=highdicom.seg.SegmentAlgorithmTypeValues.MANUAL,
    )
    seg = highdicom.seg.Segmentation(
        source_images=sources,
        pixel_array=box.astype(np.uint8),
        segmentation_type=highdicom.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[description],
        series_instance_uid=highdicom.UID(),
        series_number=99,
        sop_instance_uid=highdicom.UID(),
        instance_number=1,
        manufacturer="radiomix",
        manufacturer_model_name="test",
        software_versions="0",
        device_serial_number="0",
    )
    seg.save_as(tmp_path / "seg.dcm")
    mask = read_mask(tmp_path / "seg.dcm", pet, reference_dicom=series)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(mask), box.astype(np.uint8))
