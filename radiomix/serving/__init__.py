"""Exported models: MLflow pyfunc export, loading with checks, prediction, novelty detection.

Model files execute code when they are loaded (pickle): load only models from a trusted
source. `load_model` verifies the recorded SHA-256 of every file and the radiomix version
first. See docs/model_files.md.
"""

MAX_MISSING = 0.5
"""Default largest fraction of missing inputs a case may have and still get a decision."""
