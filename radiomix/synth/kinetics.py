"""Tracer kinetics: Feng arterial input and the reversible two-tissue compartment model.

Times are in minutes. Tissue curves are computed on a fine grid by numerical convolution
of the impulse response with the input function, then averaged over each frame.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve

FINE_STEP_MIN = 0.02


def feng_input(
    t_min: np.ndarray,
    a1: float,
    a2: float,
    a3: float,
    l1: float,
    l2: float,
    l3: float,
    delay_min: float = 0.0,
) -> np.ndarray:
    """Feng, Huang & Wang 1993 plasma input function Cp(t); zero before ``delay_min``."""
    s = np.clip(t_min - delay_min, 0.0, None)
    cp = (a1 * s - a2 - a3) * np.exp(l1 * s) + a2 * np.exp(l2 * s) + a3 * np.exp(l3 * s)
    return np.where(t_min >= delay_min, cp, 0.0)


def two_tissue_response(
    t_min: np.ndarray, k1: float, k2: float, k3: float, k4: float
) -> np.ndarray:
    """Impulse response of the reversible two-tissue compartment model (C1 + C2)."""
    total = k2 + k3 + k4
    root = np.sqrt(total**2 - 4.0 * k2 * k4)
    alpha1, alpha2 = (total - root) / 2.0, (total + root) / 2.0
    return (
        k1
        / (alpha2 - alpha1)
        * (
            (k3 + k4 - alpha1) * np.exp(-alpha1 * t_min)
            + (alpha2 - k3 - k4) * np.exp(-alpha2 * t_min)
        )
    )


def tissue_curve(
    t_min: np.ndarray,
    plasma: np.ndarray,
    rates: tuple[float, float, float, float],
    blood_fraction: float,
) -> np.ndarray:
    """PET signal of a tissue on the fine grid: (1 - Vb)·(IRF ⊗ Cp) + Vb·Cp."""
    step = float(t_min[1] - t_min[0])
    response = two_tissue_response(t_min, *rates)
    tissue = fftconvolve(plasma, response)[: t_min.size] * step
    return (1.0 - blood_fraction) * tissue + blood_fraction * plasma


def fine_grid(end_min: float) -> np.ndarray:
    """Fine time grid from 0 to ``end_min`` (inclusive) at FINE_STEP_MIN."""
    return np.arange(0.0, end_min + FINE_STEP_MIN / 2, FINE_STEP_MIN)


def frame_means(
    t_min: np.ndarray, curves: np.ndarray, start_min: np.ndarray, duration_min: np.ndarray
) -> np.ndarray:
    """Average of each curve (last axis = time) over each frame; result (..., n_frames)."""
    cumulative = np.concatenate(
        [
            np.zeros((*curves.shape[:-1], 1)),
            np.cumsum((curves[..., 1:] + curves[..., :-1]) / 2.0, axis=-1) * (t_min[1] - t_min[0]),
        ],
        axis=-1,
    )
    rows = cumulative.reshape(-1, t_min.size)
    at_start = np.stack([np.interp(start_min, t_min, row) for row in rows])
    at_end = np.stack([np.interp(start_min + duration_min, t_min, row) for row in rows])
    means = (at_end - at_start) / duration_min
    return means.reshape(*curves.shape[:-1], start_min.size)
