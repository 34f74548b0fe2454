#!/usr/bin/env bash
# Set up radiomix in .venv with the pinned versions of constraints.txt.
# Usage: bash install.sh          (the platform)
#        bash install.sh --dev    (the platform and the test tools)
set -euo pipefail
cd "$(dirname "$0")"
extra=""
[ "${1:-}" = "--dev" ] && extra="[dev]"
python3 -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt)
# PyRadiomics 3.0.1 is only published as a source package whose build needs numpy already
# installed, so it is built in two steps without build isolation.
"${pip[@]}" numpy setuptools wheel versioneer
"${pip[@]}" --no-build-isolation pyradiomics==3.0.1
"${pip[@]}" -e ".${extra}"
echo "radiomix is installed in .venv: run .venv/bin/radiomix --help"
