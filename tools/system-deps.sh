#!/usr/bin/env bash
# Makes sure the system programs the tests drive are present: Debian's chromium (browser
# tests), the Noto fonts the mails are screenshot in (Arabic, Thai, CJK), redis-server
# (the shared store) and redis-cli (redis-tools: it builds the test Redis Cluster).
# Installs them when running as root on Debian; otherwise stops with the exact command.
# A missing one is never a silent skip.
set -euo pipefail
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-cli >/dev/null || need+=(redis-tools)
command -v node >/dev/null || need+=(nodejs npm)
fonts="$(fc-list : family 2>/dev/null || true)"
grep -q "Noto Sans Arabic" <<<"$fonts" && grep -q "Noto Sans Thai" <<<"$fonts" \
  || need+=(fonts-noto-core)
grep -q "Noto Sans CJK" <<<"$fonts" || need+=(fonts-noto-cjk)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing ${need[*]} (Debian packages the tests use)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "The tests need: ${need[*]}. Install them with:" >&2
  echo "  sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
