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
exit $status
