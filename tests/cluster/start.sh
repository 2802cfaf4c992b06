#!/usr/bin/env bash
# Starts a throwaway real control plane (etcd + kube-apiserver, no controllers,
# no nodes) on 127.0.0.1 for manual use and for checking build.sh's output.
#
#   tests/cluster/start.sh [BIN_DIR]   start; BIN_DIR defaults to build.sh's output
#   tests/cluster/start.sh --stop DIR  stop the cluster started in DIR and remove DIR
#
# On success the last stdout line is the kubeconfig path; its directory (the
# state dir) holds the certs, tokens, logs, etcd data and pids. Everything else
# goes to stderr. Set SFBDR_CLUSTER_KEEP=1 to keep the state dir after a failed
# start, and SFBDR_CLUSTER_READY_TIMEOUT (seconds, default 120) for the readyz wait.
# Set SFBDR_CLUSTER_OWNER=PID to have the cluster stopped when that process ends, and
# SFBDR_CLUSTER_APISERVER_ARGS to pass kube-apiserver more flags (split on spaces).
#
# The kubeconfig authenticates with a static bearer token as user "admin" in
# group system:masters. Authorization is RBAC. No controller manager runs, so
# nothing creates namespaces' "default" service accounts, token secrets,
# endpoints or pods' nodes: create what a test needs explicitly.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { echo "start.sh: $*" >&2; }

# Sends SIGTERM to a pid, then waits (polling) up to 20s before SIGKILL.
stop_pid() {
    local pid="$1" i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 200; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    log "pid $pid ignored SIGTERM for 20s; killing"
    kill -KILL "$pid" 2>/dev/null || true
}

stop_dir() {
    local dir="$1"
    [[ -d "$dir" ]] || { log "no such state dir: $dir"; return 1; }
    [[ -f "$dir/state" ]] || { log "$dir does not look like a start.sh state dir"; return 1; }
    # The apiserver first, so it does not spin on a vanished etcd.
    for name in kube-apiserver etcd; do
        if [[ -f "$dir/$name.pid" ]]; then
            stop_pid "$(cat "$dir/$name.pid")"
        fi
    done
    rm -rf "$dir"
}

if [[ "${1:-}" == "--stop" ]]; then
    [[ $# -eq 2 ]] || { log "usage: $0 --stop STATE_DIR"; exit 2; }
    stop_dir "$2"
    exit 0
fi

for tool in openssl curl ss; do
    command -v "$tool" >/dev/null 2>&1 || { log "$tool is required"; exit 1; }
done

bin="${1:-}"
if [[ -z "$bin" ]]; then
    bin="$("$here/build.sh" | tail -n1)"
fi
for b in kube-apiserver etcd; do
    [[ -x "$bin/$b" ]] || { log "$bin/$b not found; run tests/cluster/build.sh"; exit 1; }
done

dir="$(mktemp -d "${TMPDIR:-/tmp}/sfbdr-cluster.XXXXXXXX")"
touch "$dir/state"
started_ok=0
cleanup_on_failure() {
    if [[ $started_ok -eq 0 ]]; then
        for f in "$dir"/*.log; do
            [[ -f "$f" ]] || continue
            log "---- last lines of $(basename "$f") ----"
            tail -n 40 "$f" >&2 || true
        done
        if [[ "${SFBDR_CLUSTER_KEEP:-0}" == 1 ]]; then
            for name in kube-apiserver etcd; do
                [[ -f "$dir/$name.pid" ]] && stop_pid "$(cat "$dir/$name.pid")"
            done
            log "kept $dir"
        else
            stop_dir "$dir" || true
        fi
    fi
}
trap cleanup_on_failure EXIT

# A port in 20000-32767 (below Linux's default ephemeral range) that nothing
# listens on now and that this script has not handed out already.
taken=" "
# Usage: free_port VAR (assigns, so that "taken" persists; no subshell).
free_port() {
    local p i
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + RANDOM % 12768))
        [[ "$taken" == *" $p "* ]] && continue
        if [[ -z "$(ss -Htln "sport = :$p")" ]]; then
            taken+="$p "
            printf -v "$1" '%s' "$p"
            return 0
        fi
    done
    log "no free port found"
    return 1
}

free_port etcd_client_port
free_port etcd_peer_port
free_port api_port

# --- credentials ---------------------------------------------------------
pki="$dir/pki"
mkdir -p "$pki"
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 \
    -subj "/CN=sfbdr-test-ca" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=kube-apiserver" \
    -keyout "$pki/apiserver.key" -out "$pki/apiserver.csr" 2>/dev/null
cat >"$pki/apiserver.ext" <<'EOF'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
EOF
openssl x509 -req -sha256 -days 2 -in "$pki/apiserver.csr" \
    -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -extfile "$pki/apiserver.ext" -out "$pki/apiserver.crt" 2>/dev/null
# Service-account token signing key pair.
openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null

admin_token="$(openssl rand -hex 24)"
# token,user,uid,"group1,group2"
printf '%s,admin,admin-uid,"system:masters"\n' "$admin_token" >"$pki/tokens.csv"
chmod 600 "$pki"/*.key "$pki/tokens.csv"

# --- etcd ----------------------------------------------------------------
etcd_url="http://127.0.0.1:$etcd_client_port"
peer_url="http://127.0.0.1:$etcd_peer_port"
t0=$SECONDS
setsid "$bin/etcd" \
    --name=sfbdr-test \
    --data-dir="$dir/etcd" \
    --listen-client-urls="$etcd_url" \
    --advertise-client-urls="$etcd_url" \
    --listen-peer-urls="$peer_url" \
    --initial-advertise-peer-urls="$peer_url" \
    --initial-cluster="sfbdr-test=$peer_url" \
    --initial-cluster-state=new \
    --unsafe-no-fsync \
    --log-level=warn \
    </dev/null >"$dir/etcd.log" 2>&1 &
echo $! >"$dir/etcd.pid"
echo "$etcd_url" >"$dir/etcd.url"

deadline=$((SECONDS + ${SFBDR_CLUSTER_READY_TIMEOUT:-120}))
until [[ "$(curl -s -m 2 "$etcd_url/health" 2>/dev/null)" == *'"health":"true"'* ]]; do
    kill -0 "$(cat "$dir/etcd.pid")" 2>/dev/null || { log "etcd exited"; exit 1; }
    ((SECONDS < deadline)) || { log "etcd not healthy in time"; exit 1; }
    sleep 0.2
done
log "etcd healthy on $etcd_url after $((SECONDS - t0))s"

# --- kube-apiserver --------------------------------------------------------
setsid "$bin/kube-apiserver" \
    --etcd-servers="$etcd_url" \
    --bind-address=127.0.0.1 \
    --advertise-address=127.0.0.1 \
    --secure-port="$api_port" \
    --cert-dir="$pki" \
    --tls-cert-file="$pki/apiserver.crt" \
    --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" \
    --token-auth-file="$pki/tokens.csv" \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$pki/sa.pub" \
    --service-account-signing-key-file="$pki/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 \
    --authorization-mode=RBAC \
    --allow-privileged=true \
    --endpoint-reconciler-type=none \
    --profiling=false \
    ${SFBDR_CLUSTER_APISERVER_ARGS:-} \
    </dev/null >"$dir/kube-apiserver.log" 2>&1 &
echo $! >"$dir/kube-apiserver.pid"

api_url="https://127.0.0.1:$api_port"
# /readyz is public (system:public-info-viewer): no token on curl's command line, where ps shows it.
until [[ "$(curl -s -m 2 --cacert "$pki/ca.crt" "$api_url/readyz" 2>/dev/null)" == ok ]]; do
    kill -0 "$(cat "$dir/kube-apiserver.pid")" 2>/dev/null || { log "kube-apiserver exited"; exit 1; }
    ((SECONDS < deadline)) || { log "kube-apiserver not ready in time"; exit 1; }
    sleep 0.2
done
log "kube-apiserver ready on $api_url after $((SECONDS - t0))s from etcd start"

kubeconfig="$dir/kubeconfig"
ca_data="$(base64 -w0 <"$pki/ca.crt")"
cat >"$kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: sfbdr-test
  cluster:
    server: $api_url
    certificate-authority-data: $ca_data
users:
- name: admin
  user:
    token: $admin_token
contexts:
- name: sfbdr-test
  context:
    cluster: sfbdr-test
    user: admin
current-context: sfbdr-test
EOF
chmod 600 "$kubeconfig"

# SFBDR_CLUSTER_OWNER=PID: the control plane goes when that process does, even if it is
# killed (SIGKILL) before it can stop it; the end-to-end harness passes its own pid.
if [[ -n "${SFBDR_CLUSTER_OWNER:-}" ]]; then
    owner="$SFBDR_CLUSTER_OWNER"
    setsid bash -c '
        while kill -0 "$1" 2>/dev/null; do sleep 1; done
        for name in kube-apiserver etcd; do
            [[ -f "$2/$name.pid" ]] && kill -KILL "$(cat "$2/$name.pid")" 2>/dev/null
        done
        rm -rf "$2"
    ' owner-watch "$owner" "$dir" </dev/null >/dev/null 2>&1 &
fi

started_ok=1
log "stop with: $0 --stop $dir"
printf '%s\n' "$kubeconfig"
