"""Partial volume and site effects: levels are set on the object, the PSF acts afterwards."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import erf
from scipy.stats import spearmanr

from radiomix.data.integrity import check_pet_values
from radiomix.synth.config import load_config
from radiomix.synth.phantom import add_textures, build_phantom, coordinates
from radiomix.synth.render import FWHM_PER_SIGMA, blur, noise_free_measures, render_pet
from radiomix.synth.sampler import (
    btv_threshold,
    patient_streams,
    sample_patient,
    tracer_curves,
)

SPACING = 2.0


def sphere_recovery(radius_mm: float, fwhm_mm: float) -> float:
    """Centre value of a uniform sphere blurred by a 3D Gaussian PSF (closed form):
    erf(R / (s sqrt 2)) - sqrt(2 / pi) (R / s) exp(-R^2 / (2 s^2)), s = FWHM / 2.355."""
    s = fwhm_mm / FWHM_PER_SIGMA
    r = radius_mm / s
    return float(erf(r / np.sqrt(2)) - np.sqrt(2 / np.pi) * r * np.exp(-r * r / 2))


@pytest.mark.parametrize("radius_mm", [3.0, 5.0, 8.0, 12.0])
def test_blur_recovers_the_sphere_centre_as_the_closed_form(radius_mm):
    xyz = coordinates((49, 49, 49), 0.5)
    sphere = (np.sqrt((xyz**2).sum(axis=0)) <= radius_mm).astype(float)
    centre = blur(sphere, 6.0, 0.5)[24, 24, 24]
    assert centre == pytest.approx(sphere_recovery(radius_mm, 6.0), abs=0.02)


@pytest.fixture(scope="module")
def fet_patient():
    """A FET patient of the default configuration (first draw that is FET)."""
    config = load_config()
    index = next(i for i in range(50) if sample_patient(config, 3, i).tracer == "FET")
    return config, index


def measured_over_nominal(config, index: int, volume_cm3: float, fwhm_mm: float) -> float:
    """Noise-free BTV TBRmean on the image over the object's, for one lesion volume."""
    spec = sample_patient(config, 3, index)
    site = spec.site.model_copy(update={"psf_fwhm_mm": fwhm_mm})
    spec.site, spec.lesions = site, spec.lesions[:1]
    spec.lesions[0].volume_cm3, spec.lesions[0].has_core = volume_cm3, False
    spec.lesions[0].level = 2.5
    _, anatomy, noise = patient_streams(3, index)
    phantom = build_phantom(anatomy, config, [volume_cm3], [False], 50.0)
    add_textures(phantom, noise, config)
    spec.lesions[0].volume_cm3 = phantom.lesions[0].volume_cm3
    pet = render_pet(phantom, spec, config, tracer_curves(config, spec), noise)
    measured = noise_free_measures(pet.noise_free_static, phantom, btv_threshold())[0]
    return measured["pet_TBRmean_btv"] / spec.lesions[0].level


def test_measured_tbr_falls_with_lesion_size_like_a_recovery_curve(fet_patient):
    """Measured / nominal BTV TBR rises with volume toward 1 and falls with the PSF width."""
    config, index = fet_patient
    volumes = [0.5, 1.5, 4.0, 12.0]
    sharp = [measured_over_nominal(config, index, v, 4.5) for v in volumes]
    blurred = [measured_over_nominal(config, index, v, 6.0) for v in volumes]
    assert spearmanr(volumes, sharp).statistic == 1.0
    assert all(r < 1.0 for r in sharp) and sharp[-1] > 0.8
    assert all(b < s for b, s in zip(blurred, sharp, strict=True))


def test_noisy_short_frames_stay_non_negative_and_pass_the_pet_check(fet_patient):
    """Frames are OSEM-like (no negative voxel) even at ten times a site's noise, so the
    extractor's PET check (no strongly negative voxel) never refuses a simulated series."""
    config, index = fet_patient
    spec = sample_patient(config, 3, index)
    spec.site = spec.site.model_copy(update={"noise": 10 * spec.site.noise})
    _, anatomy, noise = patient_streams(3, index)
    volumes = [lesion.volume_cm3 for lesion in spec.lesions]
    phantom = build_phantom(anatomy, config, volumes, [False] * len(volumes), 50.0)
    add_textures(phantom, noise, config)
    frames = render_pet(phantom, spec, config, tracer_curves(config, spec), noise).frames
    assert frames.min() == 0.0
    check_pet_values(frames, "simulated series")
