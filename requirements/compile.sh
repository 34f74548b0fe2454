#!/usr/bin/env bash
# Regenerate the lock files from pyproject.toml with uv (pip install uv): exact versions and
# hashes of every package for Python 3.11-3.13. Versions already in dev.txt are kept unless
# pyproject.toml needs others; delete a line of dev.txt to let that package move.
set -euo pipefail
cd "$(dirname "$0")/.."
compile=(uv pip compile --universal --python-version 3.11 --generate-hashes --quiet)
"${compile[@]}" pyproject.toml --extra all --extra dev --override requirements/overrides.txt \
    -o requirements/dev.txt
"${compile[@]}" pyproject.toml --extra all --override requirements/overrides.txt \
    -c requirements/dev.txt -o requirements/all.txt
"${compile[@]}" requirements/build.in -c requirements/dev.txt -o requirements/build.txt
