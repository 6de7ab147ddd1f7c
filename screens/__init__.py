"""Textual screens, widgets and styles (shipped as kubeha_tui.screens)."""
