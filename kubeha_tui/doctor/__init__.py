"""The Doctor: findings across fleet, Kubernetes and Ceph, from their snapshots."""
