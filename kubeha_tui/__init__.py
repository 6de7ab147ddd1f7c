"""kubeha-tui: a terminal console for the Kubernetes-HA stack (fleet, Kubernetes, Ceph).

This package is the core: connections, services, models and actions. It never
imports Textual; the screens live in :mod:`kubeha_tui.screens`.
"""

__version__ = "0.1.0"
