#!/usr/bin/env bash
# Fleet provisioning benchmark (tests/bench/fleet.py): AWS requests and wall time of
# provision.yml for N = 1, 10, 50 instances of a rack listed by the rack inventory.
# It runs in a network namespace of its own with only loopback, so that moto is the only AWS
# and no lookup (DNS included) can leave the machine. Needs root (ip netns).
set -euo pipefail
cd "$(dirname "$0")/../.."
namespace=convox-bench-fleet-$$
ip netns add "$namespace"
trap 'ip netns delete "$namespace"' EXIT
ip netns exec "$namespace" ip link set lo up
ip netns exec "$namespace" .venv/bin/python tests/bench/fleet.py "$@"
