"""Kubernetes: the client (list + watch), the snapshot the screens render, actions."""
