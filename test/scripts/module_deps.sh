#!/usr/bin/env bash
# test/scripts/module_deps.sh: no two source files call each other, and no
# longer circle of calls runs through src/.
#
# Reads the object files the build left in src/ with nm: for each file, the
# files that define the non-static symbols it uses.  Prints that list, then
# every pair of files that call each other and every longer circle (a
# strongly connected set of files); fails if there is any.  Run after a
# build (scripts/test.sh builds first).
set -euo pipefail
cd "${CW_REPO:-$(dirname "$0")/../..}"
shopt -s nullglob
objs=(src/*.o)
((${#objs[@]})) || { echo "module_deps.sh: FAILED: no src/*.o (build first)"; exit 1; }
python3 - "${objs[@]}" <<'PY'
import os, subprocess, sys

defs, uses = {}, {}
for o in sys.argv[1:]:
    m = os.path.basename(o)[:-2]
    defs[m], uses[m] = set(), set()
    for line in subprocess.run(["nm", o], capture_output=True, text=True, check=True).stdout.splitlines():
        p = line.split()
        if len(p) == 3 and p[1] in "TDBRC":
            defs[m].add(p[2])
        elif len(p) == 2 and p[0] == "U":
            uses[m].add(p[1])
owner = {s: m for m, ss in defs.items() for s in ss}
dep = {m: sorted({owner[s] for s in uses[m] if s in owner and owner[s] != m}) for m in defs}
for m in sorted(dep):
    print(f"{m} -> {' '.join(dep[m])}")

bad = [f"{a} <-> {b}" for a in sorted(dep) for b in dep[a] if a < b and a in dep[b]]
# longer circles: strongly connected components (Tarjan)
index, low, stack, on, comps = {}, {}, [], set(), []
def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v); on.add(v)
    for w in dep[v]:
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            comps.append(" -> ".join(sorted(comp)))
for v in sorted(dep):
    if v not in index:
        visit(v)
for b in bad:
    print("calls each other:", b)
for c in comps:
    print("circle:", c)
if bad or comps:
    print("module_deps.sh: FAILED")
    sys.exit(1)
print("module_deps.sh: no two files call each other, no circle")
PY
