#!/usr/bin/env bash
# Generator efficiency on loopback: perfagent's load engine against wrk, hey
# and vegeta, each pinned to CPU 1 against one minimal Go server on CPU 0,
# 50 connections, closed model. Environment: LOADCOMPARE_DURATION (default
# 10s per run), LOADCOMPARE_ROUNDS (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk missing: apt-get install -y wrk" >&2; exit 2; }
PERFAGENT_LOADCOMPARE=1 go test -run TestLoadCompare -v -count=1 -timeout 30m ./loadcompare/
