"""Generate a synthetic cohort: images, masks, sidecars, ``data_manifest.csv``, ``truth.csv``.

Patient ``i`` of a cohort drawn with ``seed`` uses random streams derived from
``(seed, i)`` only, so the files do not depend on the number of worker processes, and the
same seed gives byte-identical files (gzip headers carry no timestamp).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

from radiomix.data.timing import FrameTiming, write_bids_timing
from radiomix.errors import RadiomixError
from radiomix.schema import MANIFEST_COLUMNS, REFERENCE_MASKS
from radiomix.synth.config import SynthConfig, load_config
from radiomix.synth.phantom import Phantom, add_textures, build_phantom
from radiomix.synth.render import noise_free_measures, render_mri, render_pet
from radiomix.synth.sampler import (
    PatientSpec,
    btv_threshold,
    parameter_rows,
    patient_id,
    patient_streams,
    sample_patient,
    tracer_curves,
)

MAX_DRAWS = 20
PatientResult = tuple[list[dict[str, object]], list[dict[str, object]]] | RadiomixError
Progress = Callable[[int, int], None]
"""Progress callback: (patients written, patients in total)."""
QUANTUM = 2.0**-10  # stored values are multiples of 1/1024 (SUV, ratio or 10^-3 mm^2/s)
DECIMALS = 6


def write_volume(path: Path, array: np.ndarray, spacing_mm: float, dtype: type) -> None:
    """Write a 3D (z, y, x) or 4D (t, z, y, x) array as gzip NIfTI on the cohort grid."""
    if dtype is np.float32:
        array = np.round(array / QUANTUM) * QUANTUM
    image = sitk.GetImageFromArray(np.ascontiguousarray(array.astype(dtype)), isVector=False)
    shape = array.shape[-3:][::-1]
    origin = [-(n - 1) / 2.0 * spacing_mm for n in shape]
    if array.ndim == 4:
        image.SetSpacing([spacing_mm] * 3 + [1.0])
        image.SetOrigin([*origin, 0.0])
    else:
        image.SetSpacing([spacing_mm] * 3)
        image.SetOrigin(origin)
    sitk.WriteImage(image, str(path), useCompression=True)


def place_patient(
    spec: PatientSpec, config: SynthConfig, rng: np.random.Generator
) -> Phantom | None:
    """The phantom of a patient, or None when one of its lesions found no room."""
    phantom = build_phantom(
        rng,
        config,
        [les.volume_cm3 for les in spec.lesions],
        [les.has_core for les in spec.lesions],
        spec.site.background_half_angle_deg,
    )
    if phantom is None:
        return None
    for params, lesion in zip(spec.lesions, phantom.lesions, strict=True):
        params.volume_cm3 = lesion.volume_cm3
        params.has_core = bool(lesion.core.any())
    return phantom


def draw_patient(
    config: SynthConfig, seed: int, index: int
) -> tuple[PatientSpec, Phantom, np.random.Generator]:
    """Parameters, phantom and noise stream of patient ``index``.

    A patient whose lesions cannot all be placed is re-drawn whole (parameters and anatomy)
    from the next draw of its own seed stream, up to MAX_DRAWS times, so the result depends
    on ``(seed, index)`` only.
    """
    for draw in range(MAX_DRAWS):
        spec = sample_patient(config, seed, index, draw)
        _, anatomy_rng, noise_rng = patient_streams(seed, index, draw)
        phantom = place_patient(spec, config, anatomy_rng)
        if phantom is not None:
            return spec, phantom, noise_rng
    raise RadiomixError(
        f"patient {spec.patient_id}: no room for its lesions in the phantom "
        f"after {MAX_DRAWS} draws (grid {config.grid.shape_xyz} voxels of "
        f"{config.grid.spacing_mm} mm)"
    )


def write_patient(
    out_dir: Path, config: SynthConfig, seed: int, index: int
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Generate and write patient ``index``; returns its manifest and truth rows."""
    spec, phantom, noise_rng = draw_patient(config, seed, index)
    add_textures(phantom, noise_rng, config)
    curves = tracer_curves(config, spec)
    pet = render_pet(phantom, spec, config, curves, noise_rng)
    folder = out_dir / "images" / spec.patient_id
    folder.mkdir(parents=True, exist_ok=True)
    spacing = phantom.spacing_mm
    files: dict[str, str] = {}

    def save(name: str, array: np.ndarray, dtype: type = np.float32) -> str:
        write_volume(folder / f"{name}.nii.gz", array, spacing, dtype)
        return f"images/{spec.patient_id}/{name}.nii.gz"

    if spec.tracer == "FDG":
        files["pet_early"] = files["pet"] = save("pet_early", pet.frames[0])
        files["pet_late"] = save("pet_late", pet.frames[1])
    else:
        files["pet"] = save("pet", pet.static)
    if spec.has_dynamic:
        files["pet_dynamic"] = save("pet_dynamic", pet.frames)
        write_bids_timing(
            folder / "pet_dynamic.json",
            FrameTiming(curves.start_min * 60.0, curves.duration_min * 60.0),
        )
    if spec.has_mri:
        for name, image in render_mri(phantom, spec, config, noise_rng).items():
            if name != "rcbv" or spec.has_rcbv:
                files[name] = save(name, image)
    for name in REFERENCE_MASKS:
        files[name] = save(name, phantom.references[name], np.uint8)
    truth = parameter_rows(config, spec)
    measured = noise_free_measures(pet.noise_free_static, phantom, btv_threshold())
    manifest = []
    for i, (lesion, params) in enumerate(zip(phantom.lesions, spec.lesions, strict=True)):
        lesion_file = save(f"lesion_L{i + 1}", lesion.mask, np.uint8)
        manifest.append(
            {
                **files,
                "lesion_mask": lesion_file,
                "case_id": truth[i]["case_id"],
                "patient_id": spec.patient_id,
                "site": spec.site.name,
                "label": params.manifest_label,
                "label_source": params.label_source,
                "tracer": spec.tracer,
                "primary": spec.primary,
                "mrs_cho_naa": round(params.cho_naa, 3) if spec.has_mrs else None,
                "mrs_cho_cr": round(params.cho_cr, 3) if spec.has_mrs else None,
                "age": spec.age,
                "months_since_rt": spec.months_since_rt,
            }
        )
        truth[i].update({f"noise_free_{k}": v for k, v in measured[i].items()})
    return manifest, truth


def _attempt(out_dir: Path, config: SynthConfig, seed: int, index: int) -> PatientResult:
    """Patient ``index``'s rows, or its failure message: one patient never stops the others."""
    try:
        return write_patient(out_dir, config, seed, index)
    except Exception as exc:
        return (
            exc
            if isinstance(exc, RadiomixError)
            else RadiomixError(f"patient {patient_id(index)}: {type(exc).__name__}: {exc}")
        )


def _generate(
    out_dir: Path,
    config: SynthConfig,
    seed: int,
    n_patients: int,
    workers: int,
    progress: Progress | None,
) -> list[PatientResult]:
    """Result per patient index, generated in ``workers`` processes."""
    results: list = [None] * n_patients

    def done(index: int, result: PatientResult) -> None:
        results[index] = result
        if progress:
            progress(sum(r is not None for r in results), n_patients)

    if workers <= 1:
        for index in range(n_patients):
            done(index, _attempt(out_dir, config, seed, index))
        return results
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {
            pool.submit(_attempt, out_dir, config, seed, index): index
            for index in range(n_patients)
        }
        for future in as_completed(futures):
            done(futures[future], future.result())
    return results


def _write_table(rows: list[dict], columns: list[str], path: Path) -> None:
    """Write ``rows`` with ``columns``; a row key outside them is refused, never dropped."""
    unknown = sorted({key for row in rows for key in row} - set(columns))
    if unknown:
        raise RadiomixError(f"simulator: {path.name} has no column for {unknown}")
    table = pd.DataFrame(rows).reindex(columns=columns)
    table.to_csv(path, index=False, lineterminator="\n", float_format=f"%.{DECIMALS}g")


def synthesize_cohort(
    out_dir: Path,
    n_patients: int,
    seed: int,
    config: Path | None = None,
    workers: int | None = None,
    scenario: str | None = None,
    progress: Progress | None = None,
) -> Path:
    """Write a synthetic cohort into ``out_dir``; returns the path of its data_manifest.csv.

    ``scenario`` (``null`` or ``informative``) replaces the configuration's texture scenario;
    ``progress(done, total)`` is called as each patient is written.
    A patient that fails is reported by id; the others are written, then a RadiomixError
    names the failures.
    """
    if n_patients < 1:
        raise RadiomixError(f"n_patients must be at least 1, got {n_patients}")
    settings = load_config(config, scenario)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    workers = min(workers or os.cpu_count() or 1, n_patients)
    results = _generate(out_dir, settings, seed, n_patients, workers, progress)
    failures = [str(result) for result in results if isinstance(result, Exception)]
    completed = [result for result in results if not isinstance(result, Exception)]
    manifest_rows = [row for rows, _ in completed for row in rows]
    truth_rows = [row for _, rows in completed for row in rows]
    manifest_path = out_dir / "data_manifest.csv"
    _write_table(manifest_rows, list(MANIFEST_COLUMNS), manifest_path)
    truth_columns = list(dict.fromkeys(key for row in truth_rows for key in row))
    _write_table(truth_rows, truth_columns, out_dir / "truth.csv")
    if failures:
        raise RadiomixError(
            f"cohort incomplete: {len(failures)} of {n_patients} patients failed; the "
            f"{len(completed)} others are in {manifest_path}:\n  " + "\n  ".join(failures)
        )
    return manifest_path
