"""Every patient of every seed gets its lesions: re-draws, failures by patient id."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from radiomix.errors import RadiomixError
from radiomix.synth import cohort as cohort_module
from radiomix.synth.cohort import draw_patient, synthesize_cohort
from radiomix.synth.phantom import FOV_MARGIN_MM, fov_border
from radiomix.synth.sampler import patient_streams


def small_grid(config, spacing_mm: float):
    """The default configuration on a coarser grid that still holds the brain."""
    extent = np.asarray(config.grid.shape_xyz) * config.grid.spacing_mm
    shape = tuple(int(n) for n in np.ceil(extent / spacing_mm))
    return config.model_copy(
        update={
            "grid": config.grid.model_copy(update={"shape_xyz": shape, "spacing_mm": spacing_mm})
        }
    )


def assert_placed(config, seed: int, index: int) -> None:
    spec, phantom, _ = draw_patient(config, seed, index)
    assert len(phantom.lesions) == len(spec.lesions) >= 1
    for lesion, params in zip(phantom.lesions, spec.lesions, strict=True):
        assert lesion.mask.any() and not (lesion.mask & ~phantom.brain).any()
        # The field of view holds the lesion with its margin: no lesion cut by the border.
        border = fov_border(phantom.shape, FOV_MARGIN_MM / config.grid.spacing_mm)
        assert not (lesion.mask & border).any()
        assert params.volume_cm3 == lesion.volume_cm3
    for name, region in phantom.references.items():
        assert region.any(), name


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    index=st.integers(0, 5000),
    spacing=st.sampled_from([2.0, 3.0, 4.0]),
)
def test_every_seed_and_grid_places_every_lesion(config, seed, index, spacing):
    assert_placed(small_grid(config, spacing), seed, index)


def assert_seed_9_places_300_patients(config) -> None:
    draws = []
    for index in range(300):
        spec, phantom, _ = draw_patient(config, 9, index)
        assert len(phantom.lesions) == len(spec.lesions) >= 1
        draws.append(spec.draw)
    assert max(draws) < cohort_module.MAX_DRAWS


def test_seed_9_places_a_lesion_for_each_of_300_patients(config):
    """The cohort of the bug report (phantom step only), on a 4 mm grid to stay fast: the
    brain and lesion sizes are those of the default configuration, with less room at the
    borders than on the 2 mm grid."""
    assert_seed_9_places_300_patients(small_grid(config, 4.0))


@pytest.mark.slow
def test_seed_9_places_every_patient_on_the_default_grid(config):
    """The same cohort on the default 2 mm grid, exactly as `radiomix synth --n-patients 300
    --seed 9` draws it."""
    assert_seed_9_places_300_patients(config)


def test_redraw_streams_are_independent_of_the_first(config):
    first = [rng.random() for rng in patient_streams(9, 3)]
    again = [rng.random() for rng in patient_streams(9, 3, 0)]
    second = [rng.random() for rng in patient_streams(9, 3, 1)]
    assert first == again and not set(first) & set(second)
    spawned = np.random.SeedSequence([9, 3]).spawn(6)
    assert second == [np.random.default_rng(s).random() for s in spawned[3:]]


def test_unplaceable_patient_is_redrawn(config, monkeypatch):
    """A patient whose first draw finds no room comes from its second draw."""
    real = cohort_module.place_patient
    calls = []

    def no_room_first(spec, settings, rng):
        calls.append(spec.draw)
        return None if spec.draw == 0 else real(spec, settings, rng)

    monkeypatch.setattr(cohort_module, "place_patient", no_room_first)
    spec, phantom, _ = draw_patient(config, 4, 2)
    assert calls == [0, 1] and spec.draw == 1 and phantom.lesions


def test_failed_patient_is_reported_and_the_others_kept(tmp_path, monkeypatch):
    """One failing patient: the others are written, the error names the patient."""
    real = cohort_module.write_patient

    def fail_second(out_dir, settings, seed, index):
        if index == 1:
            raise ValueError("broken")
        return real(out_dir, settings, seed, index)

    monkeypatch.setattr(cohort_module, "write_patient", fail_second)
    failed = r"(?s)1 of 3 patients failed.*P0002: ValueError: broken"
    with pytest.raises(RadiomixError, match=failed):
        synthesize_cohort(tmp_path / "c", 3, 5, workers=1)
    manifest = pd.read_csv(tmp_path / "c" / "data_manifest.csv")
    assert set(manifest["patient_id"]) == {"P0001", "P0003"}


def test_patient_that_never_fits_is_a_named_error(config):
    huge = config.model_copy(
        update={
            "anatomy": config.anatomy.model_copy(
                update={
                    "lesion_volume_cm3": config.anatomy.lesion_volume_cm3.model_copy(
                        update={"median": 400.0, "low": 300.0, "high": 500.0}
                    )
                }
            )
        }
    )
    with pytest.raises(RadiomixError, match="patient P0001: no room"):
        draw_patient(small_grid(huge, 4.0), 1, 0)
