"""What happens to a case before its features are extracted, and what ``validate`` checks:

1. a dynamic PET DICOM series is converted once to a 4D SUV image with its BIDS-PET sidecar;
2. implausible inputs (PET not in SUV, ADC in the wrong unit, a lesion cut by the image
   border, reference regions on or beside the lesion) are named and their column dropped
   (a case without its lesion mask gives no features);
3. empty ``ref_*`` cells are filled with automatic regions (:mod:`reference_regions`), written
   as mask files;
4. a QA figure (PET over T1c, lesion and reference contours) is drawn.

Derived files go to ``<derived>/<case_id>/`` and are listed in the case's provenance.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from radiomix.data import plausibility, reference_regions
from radiomix.data.case_loader import (
    case_folder,
    load_case_dynamic,
    load_case_image,
    load_case_mask,
    where,
)
from radiomix.data.manifest import Case, Problem
from radiomix.data.resample import current
from radiomix.data.suv import write_dynamic_suv
from radiomix.errors import MaskError, RadiomixError

REGION_SOURCES = ("pet", "pet_dynamic", "pet_early")  # PET the regions are found on
CHECKED_PET_COLUMNS = ("pet", "pet_dynamic")  # dual-phase FDG is checked through ref_gm
CONTRALATERAL = ("ref_background",)
MASK_FILE = "{column}_auto.nii.gz"
MIN_REGION_ML = 1.0
CUT_REFUSED = (
    "the case is refused: give an image that holds the whole lesion, or set "
    "grid.accept_cut_lesions: true in the extraction configuration to compute it anyway"
)
CUT_ACCEPTED = "computed anyway, as grid.accept_cut_lesions is true"
GUESSED_BRAIN = (
    "judged on the median of a guessed brain (no ref_background), so only a warning. To have "
    "it refused, give a ref_background mask file (contralateral normal brain) in the manifest, "
    "or leave the cell empty and run `radiomix extract`, which generates the background "
    "crescent and then refuses the image"
)
QA_COLOURS = {
    "lesion_mask": "red",
    "ref_background": "cyan",
    "ref_wm": "yellow",
    "ref_gm": "lime",
    "ref_striatum": "magenta",
}


def pet_image(case: Case) -> tuple[str, sitk.Image] | None:
    """The PET image regions are found on: ``pet``, else the time-averaged ``pet_dynamic``,
    else ``pet_early``; None without PET."""
    for column in REGION_SOURCES:
        if column not in case.paths:
            continue
        if column != "pet_dynamic":
            return column, load_case_image(case, column)
        return column, _time_average(case)
    return None


def _time_average(case: Case) -> sitk.Image:
    """The ``pet_dynamic`` frames averaged with their durations as weights."""
    frames, grid, timing = load_case_dynamic(case)
    average = sitk.GetImageFromArray(
        np.average(frames, axis=0, weights=timing.duration_s).astype(np.float32)
    )
    average.CopyInformation(grid)
    return average


def _mask(case: Case, column: str, image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(load_case_mask(case, column, image)).astype(bool)


def _located(case: Case, column: str, message: str) -> Problem:
    location = where(case, column)
    return Problem(message, case.case_id, column, str(location.file))


def _attempt(case: Case, column: str, check: Callable[..., str | None]) -> list[Problem]:
    """Run one check; an input that cannot be read is left to the code that reads it (the
    families report it, ``validate`` checks reading first)."""
    try:
        message = check()
    except RadiomixError:
        return []
    return [] if message is None else [_located(case, column, message)]


def check_case(case: Case) -> list[Problem]:
    """Every implausible input of a case (see :mod:`radiomix.data.plausibility`)."""
    return check_geometry_and_units(case) + check_pet_scale(case)


def check_warnings(case: Case) -> list[Problem]:
    """What is reported but not refused: a PET scale judged only on the median of a guessed
    brain (no background region to measure), and a lesion cut by the image border when the
    configuration accepts it (``grid.accept_cut_lesions``)."""
    if not case.has("lesion_mask"):
        return []
    cut = _cut_lesion(case) if current().settings.accept_cut_lesions else []  # else refused
    return cut + check_pet_scale(case, certain=False)


def _cut_lesion(case: Case) -> list[Problem]:
    """A lesion mask touching the border of its image: the field of view cuts the lesion, so
    its volume, TBR and texture would be wrong while looking right."""
    advice = CUT_ACCEPTED if current().settings.accept_cut_lesions else CUT_REFUSED
    return [
        dataclasses.replace(problem, message=f"{problem.message}; {advice}")
        for problem in _attempt(
            case, "lesion_mask", lambda: plausibility.border_problem(_native_lesion(case))
        )
    ]


def check_geometry_and_units(case: Case) -> list[Problem]:
    """A lesion cut by the image border (unless accepted), ADC unit, reference regions on or
    beside the lesion."""
    problems: list[Problem] = []
    if case.has("lesion_mask") and not current().settings.accept_cut_lesions:
        problems += _cut_lesion(case)
    if case.has("adc"):
        problems += _attempt(
            case,
            "adc",
            lambda: plausibility.adc_problem(
                sitk.GetArrayViewFromImage(load_case_image(case, "adc"))
            ),
        )
    return problems + _reference_problems(case)


def check_pet_scale(case: Case, certain: bool = True) -> list[Problem]:
    """PET images whose normal brain is not SUV in the tracer's range.

    ``certain``: the problems that refuse the image (normal brain measured on a background
    region, drawn or automatic); otherwise those judged only on the median of a guessed brain,
    which are warnings (the image may not show a whole brain) saying how to make them
    refusals.
    """
    if not case.has("lesion_mask"):
        return []
    return [
        problem
        for column in CHECKED_PET_COLUMNS
        if case.has(column)
        for problem in _attempt(case, column, lambda c=column: _pet_problem(case, c, certain))
    ]


def _native_lesion(case: Case) -> np.ndarray:
    from radiomix.data.case_loader import native_mask

    return sitk.GetArrayFromImage(native_mask(case, "lesion_mask")).astype(bool)


def _pet_problem(case: Case, column: str, certain: bool) -> str | None:
    if column == "pet_dynamic":
        image = _time_average(
            dataclasses.replace(
                case, paths={k: v for k, v in case.paths.items() if k not in ("pet", "pet_early")}
            )
        )
    else:
        image = load_case_image(case, column)
    values = sitk.GetArrayViewFromImage(image)
    measured = case.has("ref_background")
    if measured:
        normal = float(np.mean(values[_mask(case, "ref_background", image)]))
    else:
        brain = reference_regions.brain_mask(image) & ~_mask(case, "lesion_mask", image)
        if brain.sum() * np.prod(image.GetSpacing()) / 1000.0 < MIN_REGION_ML:
            return None  # no normal brain to judge by
        normal = float(np.median(values[brain]))
    message = plausibility.normal_brain_problem(normal, case.tracer)
    if message is None or measured != certain:
        return None
    return message if measured else f"{message}; {GUESSED_BRAIN}"


def _reference_problems(case: Case) -> list[Problem]:
    present = [c for c in ("ref_background", "ref_wm", "ref_gm", "ref_striatum") if case.has(c)]
    if not present or not case.has("lesion_mask"):
        return []
    try:
        found = pet_image(case) if any(c in case.paths for c in REGION_SOURCES) else None
        image = found[1] if found else load_case_image(case, "t1c") if case.has("t1c") else None
        if image is None:
            return []
        lesion = _mask(case, "lesion_mask", image)
    except RadiomixError:
        return []  # the unreadable image or lesion is reported where it is read
    problems: list[Problem] = []
    for column in present:
        problems += _attempt(
            case,
            column,
            lambda c=column: plausibility.overlap_problem(_mask(case, c, image), lesion),
        )
    contralateral = [c for c in CONTRALATERAL if c in present]
    plane = _plane(case, image, lesion) if contralateral and not problems else None
    if plane is not None and plane.score >= reference_regions.MIN_SYMMETRY:
        lesion_side = float(
            plane.signed_distance(reference_regions.voxel_points(image, lesion)).mean()
        )
        for column in contralateral:
            problems += _attempt(
                case,
                column,
                lambda c=column: plausibility.side_problem(
                    lesion_side,
                    float(
                        plane.signed_distance(
                            reference_regions.voxel_points(image, _mask(case, c, image))
                        ).mean()
                    ),
                ),
            )
    return problems


def _plane(
    case: Case, image: sitk.Image, lesion: np.ndarray, brain: np.ndarray | None = None
) -> reference_regions.Plane:
    """The case's mid-sagittal plane, searched once per case (``brain``: its brain mask on
    ``image`` when the caller has it)."""
    state = current()
    if state.plane is None:
        if brain is None:
            brain = reference_regions.brain_mask(image)
        plane = reference_regions.symmetry_plane(image, brain, lesion)
        state.plane = plane
        state.note(
            "mid-sagittal plane",
            {
                "normal": np.round(plane.normal, 4).tolist(),
                "offset_mm": round(plane.offset, 2),
                "symmetry": round(plane.score, 3),
                "method": plane.method,
            },
        )
    return state.plane


def _cached_dynamic(case: Case) -> tuple[Case, list[str]]:
    """A ``pet_dynamic`` DICOM series converted once to a 4D SUV image with its BIDS-PET
    sidecar in the case's folder (only in an extraction run, which has a derived folder)."""
    path = case.paths.get("pet_dynamic")
    if path is None or not path.is_dir() or current().derived is None:
        return case, []
    try:
        image, sidecar = write_dynamic_suv(path, case_folder(case) / "pet_dynamic_suv.nii.gz")
    except RadiomixError:
        return case, []  # the families read the folder and report why it cannot be read
    current().note("pet_dynamic (from DICOM)", {"image": str(image), "sidecar": str(sidecar)})
    return dataclasses.replace(case, paths={**case.paths, "pet_dynamic": image}), []


def _without(case: Case, problems: list[Problem]) -> Case:
    dropped = {problem.column for problem in problems}
    return dataclasses.replace(
        case, paths={k: v for k, v in case.paths.items() if k not in dropped}
    )


def _write_mask(case: Case, column: str, mask: np.ndarray, grid: sitk.Image) -> Path:
    image = sitk.GetImageFromArray(mask.astype(np.uint8))
    image.CopyInformation(grid)
    path = case_folder(case) / MASK_FILE.format(column=column)
    sitk.WriteImage(image, str(path), True)
    return path


def _record(case: Case, column: str, region: np.ndarray, image: sitk.Image) -> Path:
    """Write an automatic region and list its file, volume and mean in the provenance."""
    volume_ml = float(region.sum() * np.prod(image.GetSpacing()) / 1000.0)
    if volume_ml < MIN_REGION_ML:
        raise MaskError(f"{volume_ml:.2g} mL found, at least {MIN_REGION_ML:g} mL needed")
    path = _write_mask(case, column, region, image)
    mean = float(np.mean(sitk.GetArrayViewFromImage(image)[region]))
    current().note(
        f"{column} (automatic)",
        {"file": str(path), "volume_ml": round(volume_ml, 2), "mean": round(mean, 4)},
    )
    return path


def _tissue(case: Case) -> dict[str, np.ndarray]:
    """White and grey matter on the T1c grid, by the configured method."""
    t1 = load_case_image(case, "t1c")
    lesion = _mask(case, "lesion_mask", t1)
    state = current()
    if state.tissue != "mni152_template":
        return reference_regions.tissue_classes(t1, lesion)
    classes, transform = reference_regions.template_tissue_classes(
        t1, lesion, str(where(case, "t1c"))
    )
    path = case_folder(case) / "t1c_to_mni152.tfm"
    sitk.WriteTransform(transform, str(path))
    state.note(
        "MNI152 template registration",
        {"file": str(path), "parameters": [round(v, 5) for v in transform.GetParameters()]},
    )
    return classes


def automatic_regions(case: Case) -> tuple[dict[str, Path], list[str]]:
    """Mask files of the automatic reference regions the case lacks, and why any could not be
    made."""
    missing = [c for c in ("ref_background", "ref_striatum", "ref_wm", "ref_gm") if not case.has(c)]
    if case.tracer != "FDOPA" and "ref_striatum" in missing:
        missing.remove("ref_striatum")
    if not missing or not case.has("lesion_mask"):
        return {}, []
    made, problems = {}, []
    found = pet_image(case)
    if found and {"ref_background", "ref_striatum"} & set(missing):
        image = found[1]
        lesion = _mask(case, "lesion_mask", image)
        brain = reference_regions.brain_mask(image)
        plane = _plane(case, image, lesion, brain)
        makers = {
            "ref_background": reference_regions.background_crescent,
            "ref_striatum": reference_regions.striatum,
        }
        for column, maker in makers.items():
            if column in missing:
                try:
                    region = maker(image, lesion, plane, brain)
                except RadiomixError as error:
                    problems.append(f"automatic {column}: {error}")
                else:
                    made[column] = _record(case, column, region, image)
    if case.has("t1c") and {"ref_wm", "ref_gm"} & set(missing):
        classes = _tissue(case)
        for column in ("ref_wm", "ref_gm"):
            if column in missing:
                made[column] = _record(case, column, classes[column], load_case_image(case, "t1c"))
    return made, problems


def prepare_case(case: Case) -> tuple[Case, list[str], list[str]]:
    """The case as extraction reads it: implausible columns dropped, automatic regions added,
    QA figure drawn.

    Returns the prepared case, one message per problem (its column dropped) and one per
    warning (case, column and file named). A library failure leaves the case as it is,
    reported, so that the batch goes on.
    """
    try:
        return _prepared(case)
    except Exception as error:  # e.g. a SimpleITK or numpy failure on odd input
        message = f"case {case.case_id}: preparation failed: {type(error).__name__}: {error}"
        return case, [message], []


def _prepared(case: Case) -> tuple[Case, list[str], list[str]]:
    case, converted = _cached_dynamic(case)
    found = check_geometry_and_units(case)
    case = _without(case, found)
    try:
        made, failures = automatic_regions(case)
    except RadiomixError as error:  # an unreadable input is reported by the families too
        made, failures = {}, [f"automatic reference regions: {error}"]
    case = dataclasses.replace(case, paths={**case.paths, **made})
    warnings = [str(problem) for problem in check_warnings(case)]
    scale = check_pet_scale(case)  # the automatic background's mean is checked here too
    case = _without(case, scale)
    problems = converted + [str(problem) for problem in found + scale]
    problems += [f"case {case.case_id}: {failure}" for failure in failures]
    if current().derived is not None:
        try:
            figure = str(qa_figure(case, case_folder(case) / "qa.png"))
        except RadiomixError as error:  # an unreadable input is reported by the families
            figure = f"not drawn: {error}"
        current().note("QA figure", figure)
    return case, problems, warnings


def qa_figure(case: Case, out: Path) -> Path:
    """PET over T1c (or PET alone) through the lesion centre, with the outlines of the lesion
    (red) and of the reference regions (one colour each); written to ``out`` (PNG)."""
    from radiomix.data.qa import compose, write_qa_png

    found = pet_image(case)
    base = load_case_image(case, "t1c") if case.has("t1c") else found[1] if found else None
    if base is None or not case.has("lesion_mask"):
        raise MaskError("needs a PET or T1c image and a lesion mask")
    lesion = _mask(case, "lesion_mask", base)
    z = round(float(np.argwhere(lesion)[:, 0].mean()))
    pet = None
    if found and case.has("t1c"):
        from radiomix.data.resample import resample_image

        pet = sitk.GetArrayFromImage(resample_image(found[1], base, "linear"))[z]
    outlines = [
        (_mask(case, column, base)[z], colour)
        for column, colour in QA_COLOURS.items()
        if case.has(column)
    ]
    legend = ", ".join(
        f"{column.removeprefix('ref_')} ({colour})"
        for column, colour in QA_COLOURS.items()
        if column != "lesion_mask" and case.has(column)
    )
    rgb = compose(sitk.GetArrayViewFromImage(base)[z], pet, outlines)
    return write_qa_png(rgb, [f"case {case.case_id}: lesion (red)", legend], out)
