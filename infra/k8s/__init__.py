"""The Kubernetes layer: per regional cluster, one provider and one component per concern.

`build_kubernetes` (in `infra.k8s.layer`) wires them; the components live in `workload`, `autoscaling`,
`addons` and `observability`.
"""
