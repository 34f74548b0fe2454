"""The MLflow pyfunc flavour of a radiomix model (what `mlflow models serve` runs).

`predict` returns, per input row, `probability` (of recurrence), `decision` (1 recurrence,
0 radionecrosis, at the stored threshold), `refused`, `novelty_score`, `novel`,
`out_of_range`, `missing_modalities` and `imputed`: the same numbers as `radiomix predict`.
The input must hold the model's input columns (see the model signature); MLflow drops other
columns with a warning before they reach `predict`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.pyfunc.model import PythonModel, PythonModelContext

from radiomix.serving.checksums import verify_checksums
from radiomix.serving.model import ARTIFACT_KEY, RadiomixModel


class RadiomixPyfunc(PythonModel):
    """Scores feature rows with an exported radiomix model."""

    def load_context(self, context: PythonModelContext) -> None:
        """Verify the checksums (and signature) of the model folder, then read its radiomix
        files; the pipeline is a skops file of trusted types."""
        folder = Path(context.artifacts[ARTIFACT_KEY])
        verify_checksums(folder.parents[1])
        self.model = RadiomixModel.from_folder(folder)

    def predict(
        self,
        context: PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        """Probability, decision, novelty score and flag, out-of-range report per row."""
        return self.model.score(model_input)
