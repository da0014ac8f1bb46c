#!/usr/bin/env bash
# prunesweep report on a real (tiny) sweep: the files, the terminal table,
# shard journals, torn and garbage lines, missing tasks, no results, and
# report.html rendered by headless Chromium (no console messages, tables in
# the DOM, a real screenshot). Needs a release build and Debian's chromium.
set -euo pipefail
cd "$(dirname "$0")/../.."
source Tests/lib.sh

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
command -v chromium >/dev/null || { echo "chromium not installed (apt-get install -y chromium)"; exit 1; }

"$BIN" run Tests/sweep/tiny.toml --results "$WORK/res" >"$WORK/run.log" 2>&1
DIR=$WORK/res/tiny

# stdout/stderr/exit status of one report run
report() { "$BIN" report "$@" >"$WORK/out" 2>"$WORK/err"; }

check "report writes md, csv, html and three plots" \
  bash -c "'$BIN' report '$DIR' >'$WORK/summary' && for f in report.md report.csv report.html plots/pareto.svg plots/accuracy.svg plots/agreement.svg; do test -s '$DIR/'\$f || exit 1; done"
check "terminal summary: one row per method x teacher x ratio with n and accuracy ± CI" \
  bash -c "grep -q 'acc before %' '$WORK/summary' && [[ \$(grep -cE '^l1 +(none|parent|uniform) +(0.5|optimal) +2 +[0-9.]+ ± [0-9.]+ +[0-9.]+ ± ' '$WORK/summary') -eq 6 ]]"
check "csv has a header and 6 cells" bash -c "[[ \$(wc -l < '$DIR/report.csv') -eq 7 ]] && head -1 '$DIR/report.csv' | grep -q accuracy_after_ci95_low"
check "every SVG is well-formed XML with axes labels and a legend" python3 - "$DIR"/plots/*.svg <<'PY'
import sys, xml.etree.ElementTree as ET
for f in sys.argv[1:]:
    root = ET.parse(f).getroot()
    texts = [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert any("prune ratio (%" in t for t in texts), f
    assert len(texts) > 15, f
PY
check "html is self-contained (no script, link, or remote URL)" \
  bash -c "! grep -Eiq '<script|<link|src=|url\\(http' '$DIR/report.html' && [[ \$(grep -Eo 'https?://[^\"]*' '$DIR/report.html' | sort -u) == http://www.w3.org/2000/svg ]]"

# --- headless Chromium ---
shot() {  # shot HTML PNG: render, log to $WORK/chromium.err
  chromium --headless=new --no-sandbox --disable-gpu --enable-logging=stderr --v=0 \
    --screenshot="$2" --window-size=1280,2000 "file://$1" >/dev/null 2>"$WORK/chromium.err"
}
no_console() { ! grep -q 'CONSOLE' "$WORK/chromium.err"; }
png_ok() {  # a PNG of the window's size with more than a few colours
  python3 - "$1" <<'PY'
import struct, sys, zlib
b = open(sys.argv[1], "rb").read()
assert b[:8] == b"\x89PNG\r\n\x1a\n"
w, h = struct.unpack(">II", b[16:24])
assert (w, h) == (1280, 2000), (w, h)
assert len(b) > 30000, len(b)
PY
}
check "chromium renders report.html" shot "$DIR/report.html" "$WORK/report.png"
check "chromium console shows no messages" no_console
check "screenshot is a non-trivial 1280x2000 PNG" png_ok "$WORK/report.png"
printf '<!DOCTYPE html><html><body><p>x</p><script>console.error("deliberate")</script></body></html>' >"$WORK/bad.html"
check "the console check catches a console error (negative control)" bash -c "$(declare -f shot no_console); WORK='$WORK'; shot '$WORK/bad.html' '$WORK/bad.png'; ! no_console"
chromium --headless=new --no-sandbox --disable-gpu --dump-dom "file://$DIR/report.html" >"$WORK/dom.html" 2>/dev/null
check "the DOM holds the tables and the three plots" \
  bash -c "for id in table-accuracy table-similarity table-ratios table-tests; do grep -q \"id=\\\"\$id\\\"\" '$WORK/dom.html' || exit 1; done; [[ \$(grep -o '<svg' '$WORK/dom.html' | wc -l) -eq 3 ]]"

# --- shards merge, missing tasks, bad lines, no results ---
mkdir -p "$WORK/shards"
cp "$DIR/manifest.json" "$WORK/shards/"
awk 'NR % 2 == 1' "$DIR/results.jsonl" >"$WORK/shards/results.shard-0-of-2.jsonl"
awk 'NR % 2 == 0' "$DIR/results.jsonl" >"$WORK/shards/results.shard-1-of-2.jsonl"
check "shard journals merge to the same table as one journal" \
  bash -c "'$BIN' report '$WORK/shards' --format csv >/dev/null && cmp '$DIR/report.csv' '$WORK/shards/report.csv'"

mkdir -p "$WORK/partial"
cp "$DIR/manifest.json" "$WORK/partial/"
head -n 10 "$DIR/results.jsonl" >"$WORK/partial/results.jsonl"
echo 'this is not json' >>"$WORK/partial/results.jsonl"
tail -n 1 "$DIR/results.jsonl" | head -c 100 >>"$WORK/partial/results.jsonl"   # torn last line, as while a sweep writes
check "a journal with garbage and a torn last line still reports (exit 0)" report "$WORK/partial" --out "$WORK/partial-out"
check "the unreadable lines are named with their line numbers" \
  bash -c "grep -q 'results.jsonl:11: skipped' '$WORK/err' && grep -q 'results.jsonl:12: skipped' '$WORK/err'"
check "the 4 tasks with no line are listed as missing" \
  bash -c "[[ \$(grep -c '^| missing |' '$WORK/partial-out/report.md') -eq 4 ]]"
check "--format csv --out writes only the csv" \
  bash -c "[[ \$(ls '$WORK/partial-out') == \$'plots\nreport.csv\nreport.html\nreport.md' ]] && '$BIN' report '$WORK/partial' --format csv --out '$WORK/csv-only' 2>/dev/null >/dev/null && [[ \$(ls '$WORK/csv-only') == report.csv ]]"

mkdir -p "$WORK/empty"
check "a directory with no results: clear message, exit status 2" \
  bash -c "'$BIN' report '$WORK/empty' 2>'$WORK/err' >/dev/null; [[ \$? -eq 2 ]] && grep -q 'no results' '$WORK/err'"
check "a missing directory: clear message" bash -c "! '$BIN' report '$WORK/nope' 2>'$WORK/err' >/dev/null && grep -q 'no such directory' '$WORK/err'"
check "--format xml is refused" bash -c "! '$BIN' report '$DIR' --format xml >/dev/null 2>&1"
finish
