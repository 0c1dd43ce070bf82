#!/usr/bin/env bash
# Installs the Debian 12 packages weir needs to build and test, if any are missing.
set -euo pipefail

PKGS=(build-essential cmake pkg-config clang
      libpcre2-dev libyaml-dev libjansson-dev libssl-dev libutf8proc-dev zlib1g-dev
      libcmocka-dev python3 jq openssl gzip
      libevent-dev libnghttp2-dev libhttp-parser-dev libcurl4-openssl-dev libcjose-dev
      curl ca-certificates wrk nginx)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm run the end-to-end tests and the demo with the official SDKs. A node that
# is already there (Debian's, or a repackaged one that bundles npm) is kept.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "weir: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
