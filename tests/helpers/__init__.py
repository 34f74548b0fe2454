"""Helpers shared by the test modules: phantoms, synthetic tables, local servers."""
