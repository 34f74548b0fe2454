"""AUC statistics against pROC's own output (pROC 1.18.0, R 4.2).

The numbers below were printed by `Rscript tests/proc_reference.R`, which holds the
same data: ties inside and across classes, two correlated scores on the same cases, and two
disjoint halves for the unpaired test.
"""

from __future__ import annotations

import pytest

from radiomix.stats import auc_delong, delong_test, delong_unpaired_test

Y = [0, 0, 0, 1, 1, 0, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
Y += [1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 1]
A = [-0.8, 0.0, 0.9, 0.3, 0.8, 0.1, 1.0, -1.2, 0.1, 1.4, -0.6, 1.8, 1.0, 0.3, 2.0, 0.8, -1.2]
A += [0.1, 0.6, -0.2, 1.6, 0.8, 0.7, 2.3, 0.2, 0.2, -0.5, 0.1, -1.2, -0.6, -0.2, 1.8, 2.0]
A += [-0.4, -0.8, 1.5]
B = [-2.1, -0.4, 0.5, 1.6, 1.4, -0.2, 0.7, -0.9, 1.3, 0.5, -0.2, 1.8, 0.9, 0.4, 0.3, 0.5, -1.1]
B += [1.0, 0.9, -0.1, 1.9, 0.6, 1.3, 1.8, 1.0, -0.9, 0.0, -1.3, -2.3, -0.6, -0.8, 1.6, 3.4]
B += [-0.5, -1.0, 1.5]
SPLIT = 20  # the unpaired test: A on the first 20 cases, B on the other 16


def test_auc_and_delong_interval_match_proc_ci_auc() -> None:
    result = auc_delong(Y, A)
    assert result.auc == pytest.approx(0.7984126984, abs=1e-9)
    assert result.ci_low == pytest.approx(0.6466387182, abs=1e-9)
    assert result.ci_high == pytest.approx(0.9501866786, abs=1e-9)
    assert result.variance == pytest.approx(0.0059965087, abs=1e-9)


def test_paired_delong_matches_proc_roc_test() -> None:
    result = delong_test(Y, A, B)
    assert result.auc_b == pytest.approx(0.8619047619, abs=1e-9)
    assert result.z == pytest.approx(-1.0904347841, abs=1e-9)
    assert result.p_value == pytest.approx(0.2755216664, abs=1e-9)


def test_unpaired_delong_matches_proc_roc_test_unpaired() -> None:
    result = delong_unpaired_test(Y[:SPLIT], A[:SPLIT], Y[SPLIT:], B[SPLIT:])
    assert result.statistic == pytest.approx(-1.7906074302, abs=1e-9)
    assert result.df == pytest.approx(26.2251926340, abs=1e-8)
    assert result.p_value == pytest.approx(0.0849079678, abs=1e-9)
