#!/usr/bin/env bash
# Builds a real test control plane (kube-apiserver + etcd) from the tagged Go
# modules pinned in go.mod/go.sum beside this script, into a cache outside the
# work tree:
#
#   ${SFBDR_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sfb-dr/cluster}/<key>/bin
#
# <key> is the first 16 hex digits of a sha256 over go.mod, go.sum, this script,
# the main packages and `go version`, so any change to them builds afresh and
# an unchanged tree reuses the cached binaries without invoking the compiler.
#
# Everything goes to stderr except the last line on stdout: the absolute path
# of the bin directory holding `kube-apiserver` and `etcd`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if ! command -v go >/dev/null 2>&1; then
    echo "build.sh: go is required for the real-server suites (not found on PATH)" >&2
    exit 1
fi
if ! command -v sha256sum >/dev/null 2>&1; then
    echo "build.sh: sha256sum is required" >&2
    exit 1
fi

cache_root="${SFBDR_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sfb-dr/cluster}"

go_version="$(cd "$here" && go version)"
key="$(
    cd "$here"
    {
        for f in go.mod go.sum build.sh cmd/kube-apiserver/main.go cmd/etcd/main.go; do
            printf '%s\n' "$f"
            sha256sum <"$f"
        done
        printf '%s\n' "$go_version"
    } | sha256sum | cut -c1-16
)"
dest="$cache_root/$key"
bin="$dest/bin"

if [[ -x "$bin/kube-apiserver" && -x "$bin/etcd" ]]; then
    echo "build.sh: cached control plane at $bin" >&2
    printf '%s\n' "$bin"
    exit 0
fi

# The version the apiserver reports on /version comes from the k8s.io/kubernetes
# requirement in go.mod; kubectl's dispatcher picks its client from it.
k8s_version="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v[0-9]/ { print $2; exit }' "$here/go.mod")"
if [[ ! "$k8s_version" =~ ^v([0-9]+)\.([0-9]+)\.([0-9]+)$ ]]; then
    echo "build.sh: cannot read a release version of k8s.io/kubernetes from go.mod (got '$k8s_version')" >&2
    exit 1
fi
k8s_major="${BASH_REMATCH[1]}"
k8s_minor="${BASH_REMATCH[2]}"

vpkg=k8s.io/component-base/version
ldflags="-s -w"
ldflags+=" -X $vpkg.gitVersion=$k8s_version"
ldflags+=" -X $vpkg.gitMajor=$k8s_major"
ldflags+=" -X $vpkg.gitMinor=$k8s_minor"
ldflags+=" -X $vpkg.gitTreeState=clean"

mkdir -p "$cache_root"
tmp="$(mktemp -d "$cache_root/.build.XXXXXXXX")"
trap 'rm -rf "$tmp"' EXIT

echo "build.sh: building kube-apiserver $k8s_version and etcd into $bin (first build takes several minutes)" >&2
start=$SECONDS
(
    cd "$here"
    # -mod=readonly: go.sum must already be complete; never edits go.mod.
    # A throwaway build cache (about 2 GiB) beside the output: the binaries are what is cached.
    GOCACHE="$tmp/go-build" CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "$ldflags" \
        -o "$tmp/bin/" ./cmd/kube-apiserver ./cmd/etcd
) 1>&2
for b in kube-apiserver etcd; do
    if [[ ! -x "$tmp/bin/$b" ]]; then
        echo "build.sh: go build did not produce $b" >&2
        exit 1
    fi
done

mkdir -p "$dest"
# rename(2) of a directory is atomic; if a concurrent build won the race the
# target already exists and is complete, so keep it.
if ! mv -T "$tmp/bin" "$bin" 2>/dev/null; then
    if [[ ! -x "$bin/kube-apiserver" || ! -x "$bin/etcd" ]]; then
        echo "build.sh: could not install binaries into $bin" >&2
        exit 1
    fi
fi
echo "build.sh: built in $((SECONDS - start))s" >&2
printf '%s\n' "$bin"
