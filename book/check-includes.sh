#!/usr/bin/env bash
# Fails if a {{#include file:anchor}} in the book names a file or anchor that does not exist, so a
# renamed function or moved file breaks CI instead of silently emptying a listing.
set -euo pipefail
cd "$(dirname "$0")/src"
status=0
while IFS= read -r inc; do
  spec=${inc#\{\{#include }; spec=${spec%\}\}}
  file=${spec%%:*}; anchor=${spec#*:}
  [ "$anchor" = "$spec" ] && anchor=""
  if [ ! -f "$file" ]; then echo "book: missing file $file" >&2; status=1; continue; fi
  if [ -n "$anchor" ] && ! grep -q "ANCHOR: $anchor\$" "$file"; then
    echo "book: no anchor '$anchor' in $file" >&2; status=1
  fi
done < <(grep -oh '{{#include [^}]*}}' ./*.md)

# Every exercise's `book = "file.md#anchor"` (exercises/info.toml) must name a heading of that
# chapter, with the id mdbook gives it, so a grader's "read:" line never points nowhere.
python3 - ../../exercises/info.toml <<'PY' || status=1
import re, sys, pathlib
bad = 0
for target in re.findall(r'^book = "([^"]+)"', pathlib.Path(sys.argv[1]).read_text(), re.M):
    page, _, anchor = target.partition("#")
    path = pathlib.Path(page)
    if not path.is_file():
        print(f"exercises/info.toml: no book page {page}", file=sys.stderr); bad = 1; continue
    ids = set()
    for line in path.read_text().splitlines():
        m = re.match(r"#+ (.*)", line)
        if m:
            text = re.sub(r"[^\w\- ]", "", m.group(1).lower())
            ids.add(text.replace(" ", "-"))
    if anchor and anchor not in ids:
        print(f"exercises/info.toml: {page} has no heading #{anchor}", file=sys.stderr); bad = 1
sys.exit(bad)
PY

# Every test the RELIABILITY table of benches/README.md names must exist.
for ref in $(grep -o 'tests/[a-z_]*\.rs::[a-z0-9_]*' ../../benches/README.md | sort -u); do
  file=../../${ref%%::*}; name=${ref##*::}
  if ! grep -q "fn $name()" "$file" 2>/dev/null; then
    echo "benches/README.md: RELIABILITY names $ref, which does not exist" >&2; status=1
  fi
done
exit $status
