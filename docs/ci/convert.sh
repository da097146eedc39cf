#!/usr/bin/env bash
# convert.sh: convert an image to a SOCI-enabled image and check the result,
# in any CI system (Jenkins, Buildkite, CircleCI, a cron job...).
#
#   usage: convert.sh SRC [DST]
#
# SRC and DST are socify references (oci-archive:FILE, oci:DIR, docker://REF
# or REF, docker-archive:FILE for SRC). Every socify flag can be set through
# the environment: SOCIFY_PLATFORM=linux/amd64,linux/arm64, SOCIFY_SPAN_SIZE,
# SOCIFY_MIN_LAYER_SIZE, SOCIFY_CACHE_DIR, SOCIFY_USERNAME + SOCIFY_PASSWORD,
# SOCIFY_AWS_PROFILE, ...
#
# socify is taken from $SOCIFY, then PATH; if neither has it, the release
# $SOCIFY_VERSION is downloaded and checked against checksums.txt.
# On success the script prints the result (a digest, or for a registry the
# pushed reference pinned by digest) on stdout; logs go to stderr.
set -euo pipefail

src=${1:?usage: convert.sh SRC [DST]}
dst=${2:-}

socify=${SOCIFY:-}
if [ -z "$socify" ]; then
  if command -v socify >/dev/null 2>&1; then
    socify=socify
  else
    : "${SOCIFY_VERSION:?socify is not installed: set SOCIFY_VERSION (e.g. v0.1.0) to download it, or SOCIFY to its path}"
    os=$(uname -s | tr '[:upper:]' '[:lower:]')
    arch=$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/')
    v=${SOCIFY_VERSION#v}
    dir=$(mktemp -d)
    base="https://github.com/socify/socify/releases/download/${SOCIFY_VERSION}"
    curl -fsSL -o "$dir/socify.tar.gz" "$base/socify_${v}_${os}_${arch}.tar.gz"
    curl -fsSL -o "$dir/checksums.txt" "$base/checksums.txt"
    want=$(awk -v f="socify_${v}_${os}_${arch}.tar.gz" '$2 == f {print $1}' "$dir/checksums.txt")
    got=$( (sha256sum "$dir/socify.tar.gz" 2>/dev/null || shasum -a 256 "$dir/socify.tar.gz") | awk '{print $1}')
    [ -n "$want" ] && [ "$want" = "$got" ] || { echo "convert.sh: checksum mismatch" >&2; exit 1; }
    tar -xzf "$dir/socify.tar.gz" -C "$dir" socify
    socify="$dir/socify"
  fi
fi
"$socify" version >&2

# --quiet: stdout holds only the result; --progress plain: the job log still
# gets timestamped progress lines on stderr.
args=(convert --quiet --progress plain "$src")
if [ -n "$dst" ]; then args+=("$dst"); fi
result=$("$socify" "${args[@]}")

# Verify what was written: the pushed reference for a registry, the file or
# layout otherwise. Exit code 3 means the snapshotter would not lazy-load it.
case "$result" in
  *@sha256:*) check="$result" ;;
  *) check="${dst:-$src}" ;;
esac
"$socify" verify --progress plain "$check" >&2

echo "$result"
