#!/usr/bin/env bash
# Set up radiomix in .venv with the locked versions and hashes of requirements/.
# Usage: bash install.sh          (the platform with every extra: ml, serve, dask)
#        bash install.sh --dev    (the platform and the test tools)
# PYTHON=python3.13 bash install.sh picks another interpreter (3.11-3.13); VENV=dir another
# folder.
set -euo pipefail
cd "$(dirname "$0")"
lock=requirements/all.txt
[ "${1:-}" = "--dev" ] && lock=requirements/dev.txt
venv="${VENV:-.venv}"
"${PYTHON:-python3}" -m venv "$venv"
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
# PyRadiomics 3.0.1 is only published as a source package whose build needs numpy already
# installed, so the build tools and numpy come first and the lock is built without build
# isolation (requirements/pyradiomics-build/ lets its setup run on Python 3.12+).
# --no-deps: the lock already lists every package (see requirements/overrides.txt).
"${pip[@]}" --require-hashes -r requirements/build.txt
PYTHONPATH="$PWD/requirements/pyradiomics-build" \
    "${pip[@]}" --require-hashes --no-deps --no-build-isolation -r "$lock"
"${pip[@]}" --no-deps --no-build-isolation -e .
echo "radiomix is installed in $venv: run $venv/bin/radiomix --help"
