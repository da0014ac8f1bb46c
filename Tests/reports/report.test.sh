#!/usr/bin/env bash
# prunesweep report on two real (tiny) sweeps of two architectures: the files,
# the terminal table, the tidy CSV and the JSON, intervals inside their range,
# one report over both, shard journals, torn and garbage lines, missing tasks,
# no results, and report.html rendered by headless Chromium (no console
# messages, every table and plot in the DOM, a real screenshot). Needs a
# release build and Debian's chromium.
set -euo pipefail
cd "$(dirname "$0")/../.."
source Tests/lib.sh

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
command -v chromium >/dev/null || { echo "chromium not installed (apt-get install -y chromium)"; exit 1; }

"$BIN" run Tests/sweep/tiny.toml --results "$WORK/res" >"$WORK/run.log" 2>&1
DIR=$WORK/res/tiny
# a second sweep on another architecture, with three seeds (bootstrap bands) and random pruning
sed -e 's/^name = "tiny"/name = "tiny-mlp"/' -e 's/^arch = "lenet5"/arch = "mlp:64"/' -e 's/^seeds = \[0, 1\]/seeds = [0, 1, 2]/' \
    -e 's/^teachers = .*/teachers = ["none"]\nmethods = ["l1", "random"]/' Tests/sweep/tiny.toml >"$WORK/tiny-mlp.toml"
"$BIN" run "$WORK/tiny-mlp.toml" --results "$WORK/res" >"$WORK/run-mlp.log" 2>&1
MLP=$WORK/res/tiny-mlp
PLOTS="accuracy-cosine accuracy-ratio pareto accuracy-teachers agreement layer-sparsity"

# stdout/stderr/exit status of one report run
report() { "$BIN" report "$@" >"$WORK/out" 2>"$WORK/err"; }

check "report writes md, csv, html, json and six plots" \
  bash -c "'$BIN' report '$DIR' >'$WORK/summary' && for f in report.md report.csv report.html report.json; do test -s '$DIR/'\$f || exit 1; done && for p in $PLOTS; do test -s '$DIR/plots/fashion-mnist-lenet5-'\$p.svg || exit 1; done && [[ \$(ls '$DIR/plots' | wc -l) -eq 6 ]]"
check "terminal summary: the parent, then one row per method x teacher x ratio with n and accuracies, 'n < 3' and the values for 2 seeds" \
  bash -c "grep -q 'acc before %' '$WORK/summary' && grep -qE '^parent \(unpruned\) +– +0 +2 ' '$WORK/summary' && [[ \$(grep -cE '^l1 +(none|parent|uniform) +(0.5|optimal) +2 +[0-9.]+ \(n < 3: [0-9.]+, [0-9.]+\) +[0-9.]+ \(n < 3: ' '$WORK/summary') -eq 6 ]]"
check "csv is tidy: the documented header, a row per parent metric and per cell and metric" python3 - "$DIR/report.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert list(rows[0].keys()) == "kind dataset architecture variant method teacher ratio metric n mean sd lower upper interval".split(), rows[0].keys()
cells = {(r["method"], r["teacher"], r["ratio"]) for r in rows if r["kind"] == "cell"}
assert len(cells) == 6, cells
assert {r["metric"] for r in rows if r["kind"] == "parent"} >= {"accuracy", "loss", "optimal_ratio", "k2", "mean_kurtosis"}
metrics = {r["metric"] for r in rows if r["kind"] == "cell"}
assert {"accuracy_after", "accuracy_after_change", "compression", "speed_up"} <= metrics, metrics
assert all(r["interval"] == "none" and r["lower"] == "" for r in rows), "two seeds: no band"
PY
check "every SVG is well-formed XML with a title, axis labels and a legend" python3 - "$DIR"/plots/*.svg <<'PY'
import sys, xml.etree.ElementTree as ET
for f in sys.argv[1:]:
    root = ET.parse(f).getroot()
    texts = [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert any(k in t for t in texts for k in ("prune ratio (%", "cosine similarity of the pruned net", "entries set to zero")), f
    assert len(texts) > 15, f
PY
check "html is self-contained (no script, link, or remote URL)" \
  bash -c "! grep -Eiq '<script|<link|src=|url\\(http' '$DIR/report.html' && [[ \$(grep -Eo 'https?://[^\"]*' '$DIR/report.html' | sort -u) == http://www.w3.org/2000/svg ]]"

# --- two sweeps, two architectures, one report ---
check "two results directories merge into one report, one study per architecture" \
  bash -c "'$BIN' report '$DIR' '$MLP' --out '$WORK/both' >'$WORK/both.txt' && grep -q '^fashion-mnist / lenet5:' '$WORK/both.txt' && grep -q '^fashion-mnist / mlp:64:' '$WORK/both.txt'"
check "the summary has one row per (dataset, architecture), the kurtosis figure is there" \
  bash -c "[[ \$(grep -cE '^\| fashion-mnist \| (lenet5|mlp:64) \|' '$WORK/both/report.md') -eq 2 ]] && test -s '$WORK/both/plots/kurtosis.svg' && test -s '$WORK/both/plots/fashion-mnist-mlp-64-accuracy-cosine.svg'"
check "no interval leaves its metric's range, with bands from 3 seeds" python3 - "$WORK/both/report.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
bounded = {"ratio", "accuracy_before", "accuracy_after", "cosine", "sparsity", "agreement_parent", "js_parent", "cka_parent",
           "accuracy", "optimal_ratio", "safe_ratio"}
banded = [r for r in rows if r["interval"] == "percentile-bootstrap"]
assert len(banded) > 40, len(banded)
for r in banded:
    lo, hi, m = float(r["lower"]), float(r["upper"]), float(r["mean"])
    assert lo <= m <= hi, r
    if r["metric"] in bounded: assert 0 <= lo and hi <= 1, r
    if r["metric"] in ("compression", "speed_up"): assert lo >= 1, r
PY
check "the report is reproducible (seeded bootstrap): a second run writes the same csv and json" \
  bash -c "'$BIN' report '$DIR' '$MLP' --out '$WORK/both2' >/dev/null && cmp '$WORK/both/report.csv' '$WORK/both2/report.csv' && cmp '$WORK/both/report.json' '$WORK/both2/report.json'"
check "--format json prints the JSON alone on stdout and writes only report.json" python3 - "$BIN" "$DIR" "$MLP" "$WORK/json-only" <<'PY'
import json, os, subprocess, sys
out = subprocess.run([sys.argv[1], "report", sys.argv[2], sys.argv[3], "--format", "json", "--out", sys.argv[4]], capture_output=True, text=True, check=True).stdout
doc = json.loads(out)
assert [s["architecture"] for s in doc["studies"]] == ["lenet5", "mlp:64"], doc["studies"]
assert doc["bootstrap"]["resamples"] == 2000 and "seed" in doc["bootstrap"]
assert all(c["metrics"]["speed_up"]["mean"] >= 1 for s in doc["studies"] for c in s["cells"])
assert os.listdir(sys.argv[4]) == ["report.json"], os.listdir(sys.argv[4])
PY

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
check "chromium renders report.html" shot "$WORK/both/report.html" "$WORK/report.png"
check "chromium console shows no messages" no_console
check "screenshot is a non-trivial 1280x2000 PNG" png_ok "$WORK/report.png"
printf '<!DOCTYPE html><html><body><p>x</p><script>console.error("deliberate")</script></body></html>' >"$WORK/bad.html"
check "the console check catches a console error (negative control)" bash -c "$(declare -f shot no_console); WORK='$WORK'; shot '$WORK/bad.html' '$WORK/bad.png'; ! no_console"
chromium --headless=new --no-sandbox --disable-gpu --dump-dom "file://$WORK/both/report.html" >"$WORK/dom.html" 2>/dev/null
check "the DOM of the two-study report holds every table and every plot written" python3 - "$WORK/dom.html" "$WORK/both/plots" <<'PY'
import os, re, sys
dom = open(sys.argv[1]).read()
ids = ["table-studies"] + [f"table-{t}-fashion-mnist-{a}" for a in ("lenet5", "mlp-64") for t in ("parents", "accuracy", "cost", "similarity")]
missing = [i for i in ids if f'id="{i}"' not in dom]
assert not missing, missing
plots = sorted(os.listdir(sys.argv[2]))
assert len(plots) == 12, plots   # 6 for lenet5 (3 teachers), 5 for mlp:64 (one teacher), kurtosis
for p in plots: assert f'id="plot-{p[:-4]}"' in dom, p
assert len(re.findall("<svg", dom)) == len(plots)
PY

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
  bash -c "[[ \$(ls '$WORK/partial-out') == \$'plots\nreport.csv\nreport.html\nreport.json\nreport.md' ]] && '$BIN' report '$WORK/partial' --format csv --out '$WORK/csv-only' 2>/dev/null >/dev/null && [[ \$(ls '$WORK/csv-only') == report.csv ]]"

mkdir -p "$WORK/empty"
check "a directory with no results: clear message, exit status 2" \
  bash -c "'$BIN' report '$WORK/empty' 2>'$WORK/err' >/dev/null; [[ \$? -eq 2 ]] && grep -q 'no results' '$WORK/err'"
check "a missing directory: clear message" bash -c "! '$BIN' report '$WORK/nope' 2>'$WORK/err' >/dev/null && grep -q 'no such directory' '$WORK/err'"
check "--format xml is refused: exit 2, the formats named, nothing written" \
  bash -c "'$BIN' report '$DIR' --format xml --out '$WORK/xml' >/dev/null 2>'$WORK/err'; [[ \$? -eq 2 ]] && grep -q \"format must be one of md, csv, html, json, all, got 'xml'\" '$WORK/err' && test ! -e '$WORK/xml'"
finish
