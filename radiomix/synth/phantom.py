"""Brain phantom: tissues, lesions of irregular shape and the reference regions.

Arrays are indexed (z, y, x) like SimpleITK's ``GetArrayFromImage``; coordinates are in mm
from the centre of the grid, x positive to the patient's left.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from radiomix.synth.config import SynthConfig

MAX_PLACEMENT_TRIES = 200
FOV_MARGIN_MM = 6.0  # lesion to field-of-view border: about a PET FWHM, so nothing is cut
MIN_REFERENCE_VOXELS = 20
# Independent heterogeneity fields: normal tissue, and the lesion in each modality.
TEXTURED = ("normal", "pet", "t1c", "flair", "adc", "rcbv")


@dataclass
class Lesion:
    """One lesion: the whole mask, its necrotic core (may be empty) and its nominal size."""

    mask: np.ndarray
    core: np.ndarray
    centre_mm: np.ndarray
    volume_cm3: float

    @property
    def viable(self) -> np.ndarray:
        """The lesion without its necrotic core."""
        return self.mask & ~self.core


@dataclass
class Phantom:
    """Tissue masks, lesions and reference regions of one patient."""

    spacing_mm: float
    brain: np.ndarray
    tissues: dict[str, np.ndarray]
    lesions: list[Lesion]
    oedema: np.ndarray
    references: dict[str, np.ndarray]
    side: int
    textures: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.brain.shape


def coordinates(shape_zyx: tuple[int, int, int], spacing_mm: float) -> np.ndarray:
    """Voxel centre coordinates (x, y, z) in mm, shape (3, nz, ny, nx)."""
    axes = [(np.arange(n) - (n - 1) / 2.0) * spacing_mm for n in shape_zyx]
    z, y, x = np.meshgrid(*axes, indexing="ij")
    return np.stack([x, y, z])


def smooth_field(rng: np.random.Generator, shape: tuple[int, ...], sigma_vox: float) -> np.ndarray:
    """A Gaussian random field with zero mean and unit SD, correlated over ``sigma_vox``."""
    noise = ndimage.gaussian_filter(rng.standard_normal(shape), sigma_vox, mode="wrap")
    return (noise - noise.mean()) / noise.std()


def grid_axes(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 1D x, y and z coordinates of the grid, shaped to broadcast over (z, y, x)."""
    return xyz[0][:1, :1, :], xyz[1][:1, :, :1], xyz[2][:, :1, :1]


def ellipsoid(xyz: np.ndarray, centre: np.ndarray, semi_axes: np.ndarray) -> np.ndarray:
    """Normalised ellipsoidal radius of every voxel (< 1 inside)."""
    squares = [
        ((axis - c) / a) ** 2 for axis, c, a in zip(grid_axes(xyz), centre, semi_axes, strict=True)
    ]
    return np.sqrt(squares[0] + squares[1] + squares[2])


def _jittered(
    rng: np.random.Generator, centre: tuple[float, float, float], jitter_mm: float
) -> np.ndarray:
    return np.asarray(centre, float) + rng.normal(0.0, jitter_mm, 3)


def _bilateral(
    rng: np.random.Generator,
    xyz: np.ndarray,
    centre: tuple[float, float, float],
    semi_axes: tuple[float, float, float],
    jitter_mm: float,
    scale: float,
) -> tuple[np.ndarray, np.ndarray]:
    """A pair of mirror-image structures (right, left) with independent jitter."""
    axes = np.asarray(semi_axes) * scale
    pair = []
    for sign in (-1.0, 1.0):
        c = _jittered(rng, (sign * centre[0] * scale, centre[1] * scale, centre[2]), jitter_mm)
        pair.append(ellipsoid(xyz, c, axes * rng.uniform(0.9, 1.1, 3)) < 1.0)
    return pair[0], pair[1]


def normal_tissues(
    rng: np.random.Generator, config: SynthConfig, xyz: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Brain mask, depth below the brain surface (mm) and the normal tissue masks."""
    anatomy, spacing = config.anatomy, config.grid.spacing_mm
    scale = anatomy.brain_scale.sample(rng)
    axes = np.asarray(anatomy.brain_semi_axes_mm) * scale
    radius = ellipsoid(xyz, np.zeros(3), axes)
    brain = radius < 1.0
    depth = (1.0 - radius) * axes[:2].mean()
    gyri = smooth_field(rng, brain.shape, 4.0 / spacing)
    thickness = anatomy.cortex_thickness_mm
    cortex = brain & (depth < thickness.mean + thickness.spread * gyri)
    jitter = anatomy.structure_jitter_mm
    structures = {
        "thalamus": _bilateral(rng, xyz, (10, -12, 0), (8, 11, 8), jitter, scale),
        "striatum": _bilateral(rng, xyz, (19, 10, 2), (7, 13, 9), jitter, scale),
        "ventricle": _bilateral(rng, xyz, (7, 4, 6), (4, 20, 9), jitter, scale),
    }
    joined = {name: (pair[0] | pair[1]) & brain for name, pair in structures.items()}
    csf = joined["ventricle"]
    striatum = joined["striatum"] & ~csf
    grey = (cortex | joined["thalamus"]) & ~csf & ~striatum
    white = brain & ~grey & ~striatum & ~csf
    tissues = {
        "gm": grey,
        "wm": white,
        "striatum": striatum,
        "csf": csf,
        "thalamus": joined["thalamus"] & ~csf & ~striatum,
    }
    return brain, depth, tissues


def _box(xyz: np.ndarray, centre: np.ndarray, reach_mm: float) -> tuple[slice, ...]:
    """Index slices (z, y, x) of the grid box within ``reach_mm`` of ``centre``."""
    bounds = []
    for axis, c in zip(grid_axes(xyz)[::-1], centre[::-1], strict=True):
        inside = np.nonzero(np.abs(axis.ravel() - c) <= reach_mm)[0]
        bounds.append(slice(int(inside[0]), int(inside[-1]) + 1) if inside.size else slice(0, 0))
    return tuple(bounds)


def _lesion_shape(
    rng: np.random.Generator,
    xyz: np.ndarray,
    centre: np.ndarray,
    volume_cm3: float,
    irregularity: float,
    spacing_mm: float,
) -> np.ndarray:
    """An irregular blob of about ``volume_cm3`` around ``centre`` (largest component).

    Drawn in the box it can reach (radius grown by the bumps and the volume correction).
    """
    radius = (3.0 * volume_cm3 * 1000.0 / (4.0 * np.pi)) ** (1.0 / 3.0)
    box = _box(xyz, centre, 1.5 * radius * (1.0 + 2.0 * irregularity) + 2.0 * spacing_mm)
    local = xyz[(slice(None), *box)]
    mask = np.zeros(xyz.shape[1:], bool)
    if local[0].size == 0:
        return mask
    bumps = np.clip(smooth_field(rng, local.shape[1:], max(radius / 2.5 / spacing_mm, 1.0)), -2, 2)
    distance = np.sqrt(((local - centre[:, None, None, None]) ** 2).sum(axis=0))
    voxel_cm3 = spacing_mm**3 / 1000.0
    for _ in range(3):
        inside = distance < radius * (1.0 + irregularity * bumps)
        radius *= (volume_cm3 / max(inside.sum() * voxel_cm3, voxel_cm3)) ** (1.0 / 3.0)
    inside = distance < radius * (1.0 + irregularity * bumps)
    labels, n = ndimage.label(inside)
    if n > 1:
        sizes = ndimage.sum(inside, labels, range(1, n + 1))
        inside = labels == (1 + int(np.argmax(sizes)))
    mask[box] = inside
    return mask


def place_lesion(
    rng: np.random.Generator,
    xyz: np.ndarray,
    depth: np.ndarray,
    forbidden: np.ndarray,
    side: int,
    volume_cm3: float,
    config: SynthConfig,
) -> Lesion | None:
    """A lesion in hemisphere ``side`` that stays in the brain and avoids ``forbidden``."""
    spacing = config.grid.spacing_mm
    half_z = xyz[2].max()
    for attempt in range(MAX_PLACEMENT_TRIES):
        volume = volume_cm3 * 0.95 ** (attempt // 20)
        radius = (3.0 * volume * 1000.0 / (4.0 * np.pi)) ** (1.0 / 3.0)
        reach = radius * (1.0 + config.anatomy.lesion_irregularity) + FOV_MARGIN_MM
        reach_z = max(half_z - reach, 0.0)  # inside the slab with its margin (else rejected)
        centre = np.array(
            [
                side * rng.uniform(min(radius + 6.0, 52.0), 52.0),
                rng.uniform(-50.0, 50.0),
                rng.uniform(-reach_z, reach_z),
            ]
        )
        index = tuple(
            np.clip(
                np.round((centre[::-1] / spacing) + (np.array(xyz.shape[1:]) - 1) / 2.0).astype(
                    int
                ),
                0,
                np.array(xyz.shape[1:]) - 1,
            )
        )
        if depth[index] < radius * 1.3 + 2.0:
            continue
        mask = _lesion_shape(rng, xyz, centre, volume, config.anatomy.lesion_irregularity, spacing)
        if (mask & forbidden).any():
            continue
        return Lesion(mask, np.zeros_like(mask), centre, float(mask.sum() * spacing**3 / 1000))
    return None


def fov_border(shape: tuple[int, int, int], margin_vox: float) -> np.ndarray:
    """The voxels closer than ``margin_vox`` voxels to a face of the field of view."""
    width = int(np.ceil(margin_vox))
    border = np.ones(shape, bool)
    border[width:-width, width:-width, width:-width] = False
    return border


def add_core(lesion: Lesion, rim_mm: float, spacing_mm: float) -> None:
    """Make the inside of the lesion, deeper than ``rim_mm`` from its border, necrotic."""
    inside = ndimage.distance_transform_edt(lesion.mask, sampling=spacing_mm)
    lesion.core = inside > rim_mm


def reference_regions(
    xyz: np.ndarray,
    depth: np.ndarray,
    tissues: dict[str, np.ndarray],
    lesion_centre: np.ndarray,
    side: int,
    excluded: np.ndarray,
    half_angle_deg: float,
) -> dict[str, np.ndarray]:
    """Contralateral references: background crescent (``half_angle_deg`` either side of the
    mirrored lesion, the site's VOI), white matter, thalamus, striatum."""
    contra = (side * xyz[0]) < -4.0
    level = np.abs(xyz[2] - lesion_centre[2]) <= 8.0
    mirrored = np.arctan2(lesion_centre[1], -lesion_centre[0])
    angle = np.angle(np.exp(1j * (np.arctan2(xyz[1], xyz[0]) - mirrored)))
    cortex_band = (depth > 0) & (depth <= 14.0)
    usable = contra & ~excluded & ~tissues["csf"] & ~tissues["striatum"] & ~tissues["thalamus"]
    background = usable & level & cortex_band & (np.abs(angle) <= np.deg2rad(half_angle_deg))
    if background.sum() < MIN_REFERENCE_VOXELS:
        background = usable & level & cortex_band
    white = ndimage.binary_erosion(tissues["wm"]) & contra & ~excluded
    near = np.sqrt(((xyz - (lesion_centre * [-1, 1, 1])[:, None, None, None]) ** 2).sum(0)) < 25
    white_near = white & near & level
    return {
        "ref_background": background,
        "ref_wm": white_near if white_near.sum() >= MIN_REFERENCE_VOXELS else white & level,
        "ref_gm": tissues["thalamus"] & contra & ~excluded,
        "ref_striatum": tissues["striatum"] & contra & ~excluded,
    }


def build_phantom(
    rng: np.random.Generator,
    config: SynthConfig,
    lesion_volumes: list[float],
    core_flags: list[bool],
    half_angle_deg: float,
) -> Phantom | None:
    """The phantom of one patient with one lesion per entry of ``lesion_volumes``, or None
    when a lesion finds no room."""
    spacing = config.grid.spacing_mm
    x, y, z = config.grid.shape_xyz
    shape = (z, y, x)
    xyz = coordinates(shape, spacing)
    brain, depth, tissues = normal_tissues(rng, config, xyz)
    side = int(rng.choice([-1, 1]))
    forbidden = ~brain | tissues["csf"] | tissues["striatum"] | tissues["thalamus"]
    forbidden |= fov_border(shape, FOV_MARGIN_MM / spacing)
    lesions: list[Lesion] = []
    for volume, has_core in zip(lesion_volumes, core_flags, strict=True):
        lesion = place_lesion(rng, xyz, depth, forbidden, side, volume, config)
        if lesion is None:
            return None
        core_cfg = config.anatomy.necrotic_core
        radius = (3.0 * lesion.volume_cm3 * 1000.0 / (4.0 * np.pi)) ** (1.0 / 3.0)
        if has_core and radius >= core_cfg.min_radius_mm:
            add_core(lesion, core_cfg.rim_mm, spacing)
        lesions.append(lesion)
        forbidden = forbidden | ndimage.binary_dilation(lesion.mask, iterations=3)
    any_lesion = np.zeros(shape, bool)
    for lesion in lesions:
        any_lesion |= lesion.mask
    oedema_mm = config.mri.oedema_mm.sample(rng)
    outside = ndimage.distance_transform_edt(~any_lesion, sampling=spacing)
    oedema = brain & ~any_lesion & ~tissues["csf"] & (outside <= oedema_mm)
    references = reference_regions(
        xyz, depth, tissues, lesions[0].centre_mm, side, any_lesion | oedema, half_angle_deg
    )
    for name in ("gm", "wm", "striatum", "csf"):
        tissues[name] = tissues[name] & ~any_lesion
    return Phantom(spacing, brain, tissues, lesions, oedema, references, side)


def add_textures(phantom: Phantom, rng: np.random.Generator, config: SynthConfig) -> None:
    """Independent heterogeneity fields of the phantom (TEXTURED)."""
    sigma = config.texture.correlation_mm / phantom.spacing_mm
    phantom.textures = {name: smooth_field(rng, phantom.shape, sigma) for name in TEXTURED}
