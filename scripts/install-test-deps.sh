#!/usr/bin/env bash
# Installs the real servers and browsers the tests start: Prometheus 2.42 and
# promtool (Debian package), Chromium (Debian package), and Prometheus 3 with
# its promtool, built from source into a cache directory. Does nothing for
# what is present.
#
# Prometheus 3 goes to $PERFAGENT_PROMETHEUS3_DIR (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/perfagent/prometheus-v0.316.0/bin); the
# build takes about 2 minutes the first time.
set -euo pipefail

missing=()
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/lib/chromium/chromium ]; then
  missing+=(chromium)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing test dependencies: ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "error: ${missing[*]} missing and not root (install them: apt-get install -y ${missing[*]})" >&2
      exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  # The Debian package may try to start a system Prometheus; tests start their own.
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

prom3_version=v0.316.0 # Prometheus 3.16.0
prom3_dir="${PERFAGENT_PROMETHEUS3_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/perfagent/prometheus-$prom3_version/bin}"
if [ ! -x "$prom3_dir/prometheus" ] || [ ! -x "$prom3_dir/promtool" ]; then
  echo "building Prometheus 3 ($prom3_version) into $prom3_dir (about 2 minutes)" >&2
  mkdir -p "$(dirname "$prom3_dir")"
  tmp="$(mktemp -d "$(dirname "$prom3_dir")/.build-XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  # Outside any module, so the project's go.mod plays no part.
  (cd "$tmp" && GOBIN="$tmp/bin" GOFLAGS= go install -tags remove_all_sd \
    "github.com/prometheus/prometheus/cmd/prometheus@$prom3_version" \
    "github.com/prometheus/prometheus/cmd/promtool@$prom3_version")
  rm -rf "$prom3_dir"
  mv "$tmp/bin" "$prom3_dir"
fi
