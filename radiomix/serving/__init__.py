"""Exported models: MLflow pyfunc export, loading with checks, prediction, novelty detection.

An exported model holds no pickle: the pipeline is a skops file restricted to trusted types,
verified against its checksums (and a signature under $RADIOMIX_MODEL_KEY) before it is read.
See docs/model_files.md.
"""

MAX_MISSING = 0.5
"""Default largest fraction of missing inputs a case may have and still get a decision."""
