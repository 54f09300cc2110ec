"""Builds the one C extension, usage/_flexscan.c (the debug-log scanner), in place.

``make install`` runs ``python setup.py build_ext --inplace``; without a C compiler the portal
still works, reading logs with the pure-Python fast path (usage.parsers), only slower.
"""

from setuptools import Extension, setup

setup(packages=[], py_modules=[], ext_modules=[Extension("usage._flexscan", ["usage/_flexscan.c"])])
