"""Loaded by the Python that builds PyRadiomics 3.0.1 (install.sh puts this folder on PYTHONPATH).

The versioneer bundled in its source package calls two configparser names that Python 3.12
removed; they were aliases of the ones set here, so the build is the same on 3.11-3.13.
"""

import configparser

configparser.SafeConfigParser = configparser.ConfigParser  # type: ignore[attr-defined]
configparser.ConfigParser.readfp = configparser.ConfigParser.read_file  # type: ignore[attr-defined]
