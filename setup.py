"""Package list for setuptools: every package under kubeha_tui/ is found, and screens/
(at the top of the repository) ships as kubeha_tui.screens (package-dir in pyproject)."""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["kubeha_tui", "kubeha_tui.*"]), "kubeha_tui.screens"])
