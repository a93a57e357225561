#!/usr/bin/env bash
# Prints the path of a Python interpreter of the version asked (default 3.12, FC's
# python3.12 runtime; 3.10 for python3.10), or fails with how to get one.
#
#   tools/python.sh 3.12      tools/python.sh python3.10
#
# Order: $PYTHON312 / $PYTHON310, a working python3.X on PATH, the newest pyenv 3.X.y
# (`pyenv prefix`, since pyenv's shims only answer for versions PYENV_VERSION selects).
set -euo pipefail
version="${1:-3.12}"
version="${version#python}"
case "$version" in
  3.12 | 3.10) ;;
  *) echo "tools/python.sh: FC runs python3.12 or python3.10, not '$1'" >&2; exit 2 ;;
esac
minor="${version#3.}"
works() {
  [ -n "$1" ] && "$1" -c "import sys; assert sys.version_info[:2] == (3, $minor)" 2>/dev/null
}
explicit_name="PYTHON3${minor}"
explicit="${!explicit_name:-}"
if [ -n "$explicit" ]; then
  if works "$explicit"; then echo "$explicit"; exit 0; fi
  echo "tools/python.sh: $explicit_name=$explicit is not a working Python $version" >&2
  exit 1
fi
if command -v "python$version" >/dev/null && works "$(command -v "python$version")"; then
  command -v "python$version"; exit 0
fi
if command -v pyenv >/dev/null; then
  for v in $(pyenv versions --bare 2>/dev/null | grep -E "^3\.$minor(\.[0-9]+)?$" | sort -t. -k3 -n -r); do
    candidate="$(pyenv prefix "$v")/bin/python$version"
    if works "$candidate"; then echo "$candidate"; exit 0; fi
  done
fi
cat >&2 <<MSG
No Python $version found. Function Compute's python$version runtime needs packaging by the
same version (pip evaluates dependency markers against the interpreter that runs it, and
the shipped bytecode is version-specific).
Get one with:  pyenv install $version   (or: uv python install $version, or your
distribution's python$version package), or point $explicit_name=/path/to/python$version at one.
MSG
exit 1
