"""radiomix: radiomics and machine learning for recurrence vs radionecrosis."""

__version__ = "0.1.0"
