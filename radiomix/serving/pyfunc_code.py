"""The code MLflow runs to build an exported model's pyfunc (MLflow "models from code").

The export stores this file instead of a pickled Python object, so that loading the model
with `mlflow models serve` unpickles nothing; `RadiomixPyfunc.load_context` verifies the
folder before it reads the pipeline.
"""

import mlflow.models

from radiomix.serving.pyfunc import RadiomixPyfunc

mlflow.models.set_model(RadiomixPyfunc())
