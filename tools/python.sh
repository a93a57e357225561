#!/usr/bin/env bash
# Prints the path of a Python 3.10 interpreter (FC's python3.10 runtime), or fails with
# how to get one. Order: $PYTHON310, a working python3.10 on PATH, any pyenv 3.10.x.
set -euo pipefail
works() { [ -n "$1" ] && "$1" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; }
if [ -n "${PYTHON310:-}" ] && works "$PYTHON310"; then echo "$PYTHON310"; exit 0; fi
if command -v python3.10 >/dev/null && works "$(command -v python3.10)"; then
  command -v python3.10; exit 0
fi
if command -v pyenv >/dev/null; then
  for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.10(\.[0-9]+)?$' | sort -t. -k3 -n -r); do
    candidate="$(pyenv prefix "$v")/bin/python3.10"
    if works "$candidate"; then echo "$candidate"; exit 0; fi
  done
fi
cat >&2 <<'MSG'
No Python 3.10 found. Function Compute runs python3.10, and packaging must use the same
version (pip evaluates dependency markers against the interpreter that runs it).
Get one with:  pyenv install 3.10   (or: apt-get install python3.10 / uv python install 3.10)
or point PYTHON310=/path/to/python3.10 at one.
MSG
exit 1
