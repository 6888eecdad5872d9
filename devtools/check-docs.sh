#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Docs check: the guides build without a warning, and the API page covers the
# extension header.
#
# Usage: devtools/check-docs.sh [OUT_DIR]      (default build-docs/; HTML in OUT_DIR/html)
#
# Prints one line per check (devtools/test.sh counts them):
#   PASS: docs/<check>   or   FAIL: docs/<check>: <why>
# Checks:
#   sphinx    sphinx-build -W -b html doc/guides (Debian's python3-sphinx): every
#             warning is an error, every guide is in index.rst's toctree
#   api_page  every macro and function lib/vhost/rte_vhost_vvu.h declares is named
#             in doc/guides/api_vvu.rst
# Exit status: 0 if every check passed.
set -uo pipefail
export LC_ALL=C.UTF-8

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:-$REPO/build-docs}
HEADER=$REPO/lib/vhost/rte_vhost_vvu.h
API=$REPO/doc/guides/api_vvu.rst
failed=0
pass() { echo "PASS: docs/$1${2:+ $2}"; }
fail() { echo "FAIL: docs/$1: $2"; failed=1; }

if ! command -v sphinx-build > /dev/null; then
	fail sphinx "sphinx-build not found (apt-get install python3-sphinx)"
else
	mkdir -p "$OUT"
	# a fresh build (-E): a cached environment could hide a warning of an
	# unchanged file
	if timeout 300 sphinx-build -W -E -q -b html -d "$OUT/doctrees" "$REPO/doc/guides" \
		"$OUT/html" > "$OUT/sphinx.log" 2>&1; then
		pass sphinx
	else
		fail sphinx "sphinx-build -W failed ($OUT/sphinx.log)"
		sed 's/^/    /' "$OUT/sphinx.log" | head -30
	fi
fi

# The names the header declares: #define'd macros (not the include guard) and
# functions (an identifier followed by "(" in a declaration at file scope).
if [ ! -f "$HEADER" ] || [ ! -f "$API" ]; then
	fail api_page "missing $HEADER or $API"
else
	names=$(/usr/bin/python3 - "$HEADER" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)   # comments
text = re.sub(r"//[^\n]*", " ", text)
names = set()
for m in re.finditer(r"^\s*#\s*define\s+(\w+)", text, flags=re.M):
    if not re.fullmatch(r"_\w+_H_?", m.group(1)):
        names.add(m.group(1))
# declarations: drop preprocessor lines and braces, split on ";"
body = re.sub(r"^\s*#[^\n]*(\\\n[^\n]*)*", " ", text, flags=re.M)
for decl in body.split(";"):
    decl = decl.replace("{", " ").replace("}", " ")
    m = re.search(r"(\w+)\s*\(", decl)
    if m and not re.match(r"\s*(typedef|struct\s+\w+\s*\{)", decl):
        names.add(m.group(1))
print("\n".join(sorted(names)))
PY
)
	missing=
	for n in $names; do
		grep -qw -- "$n" "$API" || missing+=" $n"
	done
	if [ -z "$names" ]; then
		fail api_page "found no declaration in $HEADER"
	elif [ -n "$missing" ]; then
		fail api_page "not in doc/guides/api_vvu.rst:$missing"
	else
		pass api_page "($(wc -w <<<"$names") names: ${names//$'\n'/ })"
	fi
fi
exit "$failed"
