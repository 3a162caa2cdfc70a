"""The one compiled part: the packed GPS track's bit coder (detectors/_trackcode.pyx).

Everything else about the package is in pyproject.toml. `track.py` falls back to its
Python loops when the extension is missing, but `make venv` builds it and a test checks
that it is there, since the throughput figures in the README depend on it.
"""

from Cython.Build import cythonize
from setuptools import Extension, setup

setup(ext_modules=cythonize(
    [Extension("detectors._trackcode", ["detectors/_trackcode.pyx"])],
    compiler_directives={"language_level": "3"},
))
