#!/usr/bin/env bash
# Runs the end-to-end suites against a real kube-apiserver and etcd (built from their Go
# modules by build.sh, cached outside the work tree) instead of kube-sandbox: the same test
# code, switched by SFB_DR_TEST_SERVER=kube-apiserver. Needs Go; extra arguments go to cargo test.
#
#   tests/cluster/test-real.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

SFB_DR_CLUSTER_BIN="$(tests/cluster/build.sh | tail -n 1)"
export SFB_DR_CLUSTER_BIN
export SFB_DR_TEST_SERVER=kube-apiserver
echo "real-server suites: kube-apiserver and etcd from $SFB_DR_CLUSTER_BIN" >&2

suites=(
    operator_failover  # site failover and failback, disaster mode, stalled pairs
    operator_gates     # approval, pause, invalid specs (the CRDs' CEL rules on a real server)
    operator_crash     # SIGKILL mid-step, two operators, the Lease, late cache lists
    operator_observability  # Events, /metrics, status writes per step and none at rest
    operator_retries   # a failed step, retried on request
    operator_plugin    # kubectl sfbdr
    operator_binary    # sfb-dr run: SIGTERM, SIGKILL mid-step, secrets kept out of logs
    deploy_sandbox     # the README's install, upgrade and uninstall, verbatim
    deploy_rbac_proof  # the deploy/ RBAC: no 403 through a failover, a 403 for each rule removed
)
args=()
for s in "${suites[@]}"; do args+=(--test "$s"); done
cargo test -p sfb-dr "${args[@]}" "$@"
# Last, kube-sandbox measured against the same server: the corpus replayed on both, every
# difference listed in kube-sandbox/README.md, the count of agreeing cases printed last.
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
status=0
cargo test -p sfb-dr --test differential "$@" -- --nocapture >"$out" 2>&1 || status=$?
grep -v '^differential: ' "$out" || true
grep '^differential: ' "$out" || true
exit "$status"

