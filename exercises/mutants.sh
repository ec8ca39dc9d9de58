#!/usr/bin/env bash
# Mutation testing of the reference solutions against their chapter's graders (cargo-mutants):
# every small change to solutions/chNN.rs (an operator flipped, a constant replaced, a function
# body replaced by a default) is a wrong answer a student might write; the graders should fail it.
#
#   bash exercises/mutants.sh 06 09     # the chapters to (re)measure
#   bash exercises/mutants.sh all
#
# Writes exercises/mutants/chNN.json (each mutant and its outcome, with the hash of the solution
# and grader files it was measured on) and regenerates exercises/MUTANTS.md from all of them.
# Needs cargo-mutants (`cargo install cargo-mutants --locked`). Runs in place (--in-place): the
# mutated file is restored after each mutant; do not edit it while this runs.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null || { echo "needs cargo-mutants: cargo install cargo-mutants --locked" >&2; exit 1; }
chapters=("$@")
if [ "${chapters[0]:-}" = all ] || [ ${#chapters[@]} -eq 0 ]; then
  chapters=($(ls exercises/solutions | sed -n 's/^ch\([0-9]*\)\.rs$/\1/p'))
fi
out=${TMPDIR:-/tmp}/gradschool-mutants
for ch in "${chapters[@]}"; do
  echo "== chapter $ch"
  rm -rf "$out/ch$ch" && mkdir -p "$out/ch$ch"
  # exit code 2 = some mutants missed, 3 = some timed out: both are results, not failures
  cargo mutants --in-place --no-shuffle -p exercises --features solutions \
    -f "exercises/src/../solutions/ch$ch.rs" -o "$out/ch$ch" -- --test "ch$ch" || {
    rc=$?
    [ $rc -eq 2 ] || [ $rc -eq 3 ] || exit $rc
  }
  python3 exercises/mutants_report.py --import "$ch" "$out/ch$ch/mutants.out/outcomes.json"
done
python3 exercises/mutants_report.py
