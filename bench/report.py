#!/usr/bin/env python3
"""bench/report.py RAW_DIR OUT_DIR: turn the raw data of bench/run.sh into
OUT_DIR/latest.json and OUT_DIR/latest.md (Python standard library only).

RAW_DIR holds meta.txt (key=value), settings.txt (name=value), free.txt,
runs.tsv (one line per measured pgbench run: id, kind, a, b, rep, clients,
seconds, audit rows written, exit code, script), out/<id>.txt (pgbench's
output), logs/<id>.* (pgbench --log per-transaction lines: the third field is
the latency in microseconds), scale_sizes.txt and cache.tsv.

If OUT_DIR/before.json exists (an earlier latest.json kept by hand, e.g.
before a fix), the report adds a before/after table of cyoda_wf's numbers.
bench/why.json may explain, per target id, why a target is missed; the text
is shown only while that target is missed.

bench/report.py --render OUT_DIR writes OUT_DIR/latest.md again from
OUT_DIR/latest.json, with the current bench/why.json texts.
"""
import glob
import json
import os
import re
import statistics
import sys

SCENARIOS = {
    "cascade": ("create + 5-step cascade, no processes", 1),
    "cascade_sql": ("create + 5-step cascade, 5 SQL processes", 1),
    "cascade_py": ("create + 5-step cascade, 5 PL/Python processes", 1),
    "batch100": ("100 entities per INSERT ... SELECT, 5-step cascade each", 100),
    "fire": ("manual fire on an existing entity", 1),
    "loopback": ("loopback UPDATE re-evaluating criteria", 1),
    "criteria": ("create + criteria-heavy cascade (group conditions)", 1),
}
VARIANT_NAMES = {
    "cw": "cyoda_wf",
    "hw": "hand-written SQL",
    "pl": "PL/pgSQL engine",
}
# (id, scenario, baseline, minimum ratio cyoda_wf / baseline)
RATIO_TARGETS = [
    ("T1", "cascade", "hw", 1.0),
    ("T2a", "batch100", "hw", 1.0),
    ("T2b", "batch100", "pl", 2.5),
    ("T3a", "cascade_sql", "hw", 0.85),
    ("T3b", "cascade_py", "hw", 0.85),
    ("T4", "fire", "hw", 1.0),
]
FLAT_LIMIT = 1.10   # per-transition cost: largest / smallest point


def read_kv(path):
    out = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.rstrip("\n")
                if "=" in line:
                    k, v = line.split("=", 1)
                    out[k] = v
    return out


def parse_pgbench(path):
    res = {"tps": None, "txns": None, "failed": 0, "latency_avg_ms": None, "errors": []}
    if not os.path.exists(path):
        return res
    text = open(path, errors="replace").read()
    m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", text)
    if m:
        res["tps"] = float(m.group(1))
    m = re.search(r"number of transactions actually processed: (\d+)", text)
    if m:
        res["txns"] = int(m.group(1))
    m = re.search(r"number of failed transactions: (\d+)", text)
    if m:
        res["failed"] = int(m.group(1))
    m = re.search(r"latency average = ([0-9.]+) ms", text)
    if m:
        res["latency_avg_ms"] = float(m.group(1))
    res["errors"] = [l for l in text.splitlines() if "error" in l.lower()][:5]
    return res


def read_log(raw, run_id):
    """Latencies (us) and completion times (ns since the epoch) of a run."""
    lat, done = [], []
    for path in glob.glob(os.path.join(raw, "logs", run_id + ".*")):
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6:
                    try:
                        lat.append(int(parts[2]))
                        done.append(int(parts[4]) * 1000000000 + int(parts[5]) * 1000)
                    except ValueError:
                        pass
    return lat, done


def percentile(sorted_vals, p):
    if not sorted_vals:
        return None
    k = (len(sorted_vals) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (k - lo)


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def load_runs(raw, clk_tck):
    runs = []
    path = os.path.join(raw, "runs.tsv")
    if not os.path.exists(path):
        return runs
    with open(path) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) < 10:
                continue
            r = {
                "id": p[0], "kind": p[1], "a": p[2], "b": p[3], "rep": int(p[4]),
                "clients": int(p[5]), "seconds": float(p[6]), "audit_rows": int(p[7]),
                "exit_code": int(p[8]), "script": p[9],
            }
            r.update(parse_pgbench(os.path.join(raw, "out", r["id"] + ".txt")))
            lat, done = read_log(raw, r["id"])
            r["latencies_us"] = sorted(lat)
            r["cpu_us_per_txn"] = None
            if len(p) >= 14:
                t0, t1, ticks = int(p[10]), int(p[11]), int(p[12])
                n = sum(1 for t in done if t0 <= t < t1)
                if n > 0 and ticks > 0:
                    r["cpu_us_per_txn"] = ticks * (1e6 / clk_tck) / n
            r["ok"] = r["exit_code"] == 0 and r["tps"] is not None and not r["failed"]
            if r["txns"]:
                r["transitions_per_txn"] = r["audit_rows"] / r["txns"]
                r["transitions_per_s"] = r["tps"] * r["transitions_per_txn"]
            else:
                r["transitions_per_txn"] = None
                r["transitions_per_s"] = None
            runs.append(r)
    return runs


def summarize(group):
    """Medians over the runs of one (scenario, clients, variant)."""
    ok = [r for r in group if r["ok"]]
    lat = sorted(v for r in ok for v in r["latencies_us"])
    return {
        "runs": len(group),
        "failed_runs": len(group) - len(ok),
        "tps_runs": [round(r["tps"], 2) for r in ok],
        "tps": med([r["tps"] for r in ok]),
        "cpu_us_per_txn": med([r["cpu_us_per_txn"] for r in ok]),
        "transitions_per_s": med([r["transitions_per_s"] for r in ok]),
        "transitions_per_txn": med([r["transitions_per_txn"] for r in ok]),
        "latency_p50_ms": (percentile(lat, 50) / 1000.0) if lat else None,
        "latency_p99_ms": (percentile(lat, 99) / 1000.0) if lat else None,
        "transactions": sum(r["txns"] or 0 for r in ok),
    }


def fmt(v, digits=0, suffix=""):
    if v is None:
        return "n/a"
    if digits == 0:
        return f"{v:,.0f}{suffix}"
    return f"{v:,.{digits}f}{suffix}"


def why_texts(bench_dir):
    why_path = os.path.join(bench_dir, "why.json")
    return json.load(open(why_path)) if os.path.exists(why_path) else {}


def why_for(why, tid):
    base_id = tid.split("@")[0]
    return why.get(tid) or why.get(base_id) or why.get(base_id.split("-")[0])


def load_before(out):
    bp = os.path.join(out, "before.json")
    if os.path.exists(bp):
        try:
            return json.load(open(bp))
        except ValueError:
            return None
    return None


def render_again(out):
    """latest.md from latest.json, with the current why.json."""
    result = json.load(open(os.path.join(out, "latest.json")))
    why = why_texts(os.path.dirname(os.path.abspath(__file__)))
    for t in result["targets"]:
        t["why"] = None if t["met"] else why_for(why, t["id"])
    with open(os.path.join(out, "latest.json"), "w") as f:
        json.dump(result, f, indent=1, sort_keys=False)
        f.write("\n")
    with open(os.path.join(out, "latest.md"), "w") as f:
        f.write(render_md(result, load_before(out)))
    return 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--render":
        return render_again(sys.argv[2])
    raw, out = sys.argv[1], sys.argv[2]
    meta = read_kv(os.path.join(raw, "meta.txt"))
    settings = read_kv(os.path.join(raw, "settings.txt"))
    # where the throwaway cluster lived says nothing about the results
    for name in ("unix_socket_directories", "data_directory", "config_file",
                 "hba_file", "ident_file"):
        settings.pop(name, None)
    runs = load_runs(raw, int(meta.get("clk_tck", "100") or 100))
    why = why_texts(os.path.dirname(os.path.abspath(__file__)))

    # ---------------------------------------------------------- scenarios
    scen = {}
    for r in runs:
        if r["kind"] != "scenario":
            continue
        scen.setdefault((r["a"], r["clients"]), {}).setdefault(r["b"], []).append(r)
    scenario_rows = []
    order = list(SCENARIOS)
    for (s, c) in sorted(scen, key=lambda k: (order.index(k[0]) if k[0] in order else 99, k[1])):
        variants = {v: summarize(g) for v, g in scen[(s, c)].items()}
        row = {"scenario": s, "description": SCENARIOS.get(s, (s, 1))[0],
               "entities_per_txn": SCENARIOS.get(s, (s, 1))[1], "clients": c,
               "variants": variants, "ratios": {}}
        cw = variants.get("cw", {}).get("tps")
        cwc = variants.get("cw", {}).get("cpu_us_per_txn")
        for b in ("hw", "pl"):
            bt = variants.get(b, {}).get("tps")
            row["ratios"]["cw/" + b] = (cw / bt) if cw and bt else None
            bc = variants.get(b, {}).get("cpu_us_per_txn")
            # the same ratio from the backends' CPU per transaction (baseline CPU / cyoda_wf CPU)
            row["ratios"]["cw/" + b + "_cpu"] = (bc / cwc) if bc and cwc else None
        # ratio per repetition (cw and the baseline run next to each other)
        for b in ("hw", "pl"):
            per = []
            for rep in sorted({r["rep"] for r in scen[(s, c)].get("cw", [])}):
                a = [r["tps"] for r in scen[(s, c)].get("cw", []) if r["rep"] == rep and r["ok"]]
                z = [r["tps"] for r in scen[(s, c)].get(b, []) if r["rep"] == rep and r["ok"]]
                if a and z and z[0]:
                    per.append(round(a[0] / z[0], 3))
            row["ratios"]["cw/" + b + "_per_rep"] = per
        scenario_rows.append(row)

    def ratio_of(s, c, b, suffix=""):
        for row in scenario_rows:
            if row["scenario"] == s and row["clients"] == c:
                return row["ratios"].get("cw/" + b + suffix)
        return None

    targets = []
    for tid, s, b, need in RATIO_TARGETS:
        for c in sorted({row["clients"] for row in scenario_rows if row["scenario"] == s}):
            got = ratio_of(s, c, b)
            targets.append({
                "id": tid if c == 1 else f"{tid}@{c}c",
                "what": f"{SCENARIOS[s][0]}: cyoda_wf / {VARIANT_NAMES[b]}, {c} client(s)",
                "target": f">= {need:.2f}x",
                "value": got,
                "value_cpu": ratio_of(s, c, b, "_cpu"),
                "met": (got is not None and got >= need),
                "shortfall_pct": (None if got is None or got >= need else (got / need - 1) * 100),
                "binding": c == 1,
                "why": None,
            })

    # ---------------------------------------------------------- scaling
    def curve(kind):
        pts = {}
        for r in runs:
            if r["kind"] == kind and r["ok"]:
                pts.setdefault((r["a"], int(r["b"])), []).append(r)
        res = {}
        for (t, x), g in sorted(pts.items(), key=lambda kv: (kv[0][0], kv[0][1])):
            tr = med([r["transitions_per_s"] for r in g])
            lat = sorted(v for r in g for v in r["latencies_us"])
            res.setdefault(t, []).append({
                "x": x,
                "tps": med([r["tps"] for r in g]),
                "transitions_per_s": tr,
                "us_per_transition": (1e6 / tr) if tr else None,
                "cpu_us_per_transition": (lambda c, k: c / k if c and k else None)(
                    med([r["cpu_us_per_txn"] for r in g]), med([r["transitions_per_txn"] for r in g])),
                "transitions_per_txn": med([r["transitions_per_txn"] for r in g]),
                "latency_p50_ms": (percentile(lat, 50) / 1000.0) if lat else None,
                "latency_p99_ms": (percentile(lat, 99) / 1000.0) if lat else None,
                "runs": len(g),
            })
        for t, pts_ in res.items():
            base = pts_[0]["us_per_transition"]
            cbase = pts_[0]["cpu_us_per_transition"]
            for p in pts_:
                p["vs_first"] = (p["us_per_transition"] / base) if base and p["us_per_transition"] else None
                p["cpu_vs_first"] = ((p["cpu_us_per_transition"] / cbase)
                                     if cbase and p["cpu_us_per_transition"] else None)
        return res

    entities_curve = curve("entities")
    states_curve = curve("states")
    sizes = {}
    sp = os.path.join(raw, "scale_sizes.txt")
    if os.path.exists(sp):
        for line in open(sp):
            p = line.split()
            if len(p) == 7:
                sizes[int(p[0])] = {"entities": int(p[1]), "versions": int(p[2]), "audit": int(p[3]),
                                    "entity_bytes": int(p[4]), "version_bytes": int(p[5]),
                                    "audit_bytes": int(p[6])}

    first_save = {}
    fp = os.path.join(raw, "first_save.tsv")
    if os.path.exists(fp):
        acc = {}
        for line in open(fp):
            p = line.split()
            if len(p) == 3:
                acc.setdefault(int(p[0]), []).append((float(p[1]), float(p[2])))
        for k, v in sorted(acc.items()):
            first_save[k] = {"first_save_ms": med([a for a, _ in v]), "second_save_ms": med([b for _, b in v]),
                             "sessions": len(v)}

    def flat_target(tid, label, cur):
        # judged on the backend CPU per transition, which other load on the
        # machine disturbs less than the wall-clock rate (both are reported)
        for t, pts_ in sorted(cur.items()):
            if t.endswith(".hw"):
                continue        # the control, not a target
            vals = [p["cpu_us_per_transition"] for p in pts_ if p["cpu_us_per_transition"]]
            if len(vals) < 2:
                continue
            spread = max(vals) / min(vals)
            xs = [p["x"] for p in pts_]
            targets.append({
                "id": f"{tid}-{t}",
                "what": f"per-transition cost (backend CPU) flat, {label} {xs[0]:,} -> {xs[-1]:,} ({t})",
                "target": f"max/min <= {FLAT_LIMIT:.2f}",
                "value": spread,
                "met": spread <= FLAT_LIMIT,
                "shortfall_pct": None if spread <= FLAT_LIMIT else (spread / FLAT_LIMIT - 1) * 100,
                "binding": True,
                "why": None,
            })

    flat_target("T5", "stored entities", entities_curve)
    flat_target("T6", "workflow states", states_curve)
    for t in targets:
        if not t["met"]:
            t["why"] = why_for(why, t["id"])

    # ---------------------------------------------------------- cache
    cache = None
    cp = os.path.join(raw, "cache.tsv")
    if os.path.exists(cp):
        cache = {"contexts": []}
        for line in open(cp):
            p = line.rstrip("\n").split("\t")
            if p[0] == "workflows":
                cache["workflows"] = int(p[1])
            elif p[0] == "context":
                cache["contexts"].append({"name": p[1], "count": int(p[2]),
                                          "total_bytes": int(p[3]), "used_bytes": int(p[4])})
            elif p[0] == "total":
                cache["contexts_total"] = int(p[1])
                cache["total_bytes"] = int(p[2]) if p[2] else 0
                cache["used_bytes"] = int(p[3]) if p[3] else 0
            elif p[0] == "backend_growth":
                cache["backend_growth_bytes"] = int(p[1])
        if cache.get("workflows"):
            cache["bytes_per_workflow"] = cache.get("total_bytes", 0) / cache["workflows"]

    # ---------------------------------------------------------- before/after
    before = load_before(out)

    result = {
        "generated_by": "bench/run.sh",
        "mode": meta.get("mode"),
        "machine": {
            "cpu_model": meta.get("cpu_model"), "nproc": int(meta.get("nproc", "0") or 0),
            "memory_gib": meta.get("memory_gib"), "kernel": meta.get("kernel"),
            "free_g": open(os.path.join(raw, "free.txt")).read() if os.path.exists(os.path.join(raw, "free.txt")) else None,
        },
        "postgresql": {"version": meta.get("server_version"), "pgbench": meta.get("pgbench"),
                       "settings": settings},
        "run": {k: meta.get(k) for k in ("seconds_per_run", "reps", "nseed", "scale_seconds",
                                         "scale_reps", "started_at", "finished_at", "elapsed_s",
                                         "git_commit", "git_dirty", "loadavg_start", "loadavg_end")},
        "scenarios": scenario_rows,
        "targets": targets,
        "scaling": {"stored_entities": entities_curve, "table_sizes": sizes,
                    "workflow_states": states_curve, "first_save_in_session": first_save},
        "definition_cache": cache,
    }
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "latest.json"), "w") as f:
        json.dump(result, f, indent=1, sort_keys=False)
        f.write("\n")
    with open(os.path.join(out, "latest.md"), "w") as f:
        f.write(render_md(result, before))
    # a short summary on stdout
    for t in targets:
        if t["binding"]:
            print(f"  {t['id']:<24} {fmt(t['value'], 2):>7}  {t['target']:<12} {'met' if t['met'] else 'MISSED'}")
    return 0


def render_md(r, before):
    L = []
    w = L.append
    m = r["machine"]
    run = r["run"]
    w("# cyoda_wf benchmark results")
    w("")
    w(f"Mode **{r['mode']}**, made by `bench/run.sh{' --quick' if r['mode'] == 'quick' else ''}` "
      f"on {run.get('started_at')} ({run.get('elapsed_s')} s; commit {run.get('git_commit')}"
      f"{', with uncommitted changes in src/ or sql/' if run.get('git_dirty') not in (None, '0') else ''}).")
    w("")
    w(f"- Machine: {m['cpu_model']}, {m['nproc']} cores, {m['memory_gib']} GiB memory, Linux {m['kernel']}")
    w(f"- {r['postgresql']['version']}; {r['postgresql']['pgbench']}")
    w(f"- Machine load average (1/5/15 min) at start: {run.get('loadavg_start')}, at end: {run.get('loadavg_end')} "
      f"(above ~1 on this machine means other work shared the CPUs with the benchmark)")
    s = r["postgresql"]["settings"]
    keys = ["shared_buffers", "fsync", "synchronous_commit", "full_page_writes", "wal_level",
            "max_wal_size", "checkpoint_timeout", "jit", "autovacuum", "work_mem",
            "shared_preload_libraries"]
    w("- Settings: " + ", ".join(f"`{k}={s[k]}`" for k in keys if k in s)
      + " (all non-default settings are in latest.json)")
    w(f"- Each variant ran {run.get('reps')} times for {run.get('seconds_per_run')} s per scenario at 1 client "
      f"(fewer times at 2 and 4 clients), alternating (cw, hw, pl / hw, pl, cw / pl, cw, hw / ...) so that "
      f"machine noise hits every variant; the numbers are medians. `pgbench -M prepared`, one "
      f"transaction per script run, after a warm-up; autovacuum is off and every block of runs starts "
      f"with `VACUUM ANALYZE` and `CHECKPOINT`, every run with the GIN pending lists merged. Latency percentiles come from the per-transaction logs "
      f"(`--log`); transitions are counted from the audit rows written.")
    w("")
    w("Variants: **cw** = cyoda_wf (`INSERT INTO cyoda_wf.entity`, `cyoda_wf.fire`, `UPDATE cyoda_wf.entity`); "
      "**hw** = hand-written SQL, one statement doing the same writes (entity row, audit rows, version row) "
      "and calling the same process functions; **pl** = table-driven PL/pgSQL trigger engine "
      "(bench/sql/30_plpgsql_engine.sql). All three write to tables of identical definition. "
      "cyoda_wf also sends a NOTIFY per save, which the baselines do not.")
    w("")

    # targets
    w("## Targets")
    w("")
    w("| target | what | needed | measured | result | CPU cross-check |")
    w("|---|---|---|---|---|---|")
    for t in r["targets"]:
        if not t["binding"]:
            continue
        val = fmt(t["value"], 2, "x") if not t["id"].startswith(("T5", "T6")) else fmt(t["value"], 3)
        res = "met" if t["met"] else (f"**missed** by {abs(t['shortfall_pct']):.0f}%"
                                      if t["shortfall_pct"] is not None else "**no data**")
        cpu = fmt(t.get("value_cpu"), 2, "x") if t.get("value_cpu") else ""
        w(f"| {t['id']} | {t['what']} | {t['target']} | {val} | {res} | {cpu} |")
    w("")
    w("*measured* is the ratio of median throughputs (what the targets are about); the *CPU cross-check* "
      "is the same ratio from the backends' CPU time per transaction, which load from other "
      "processes on the machine disturbs much less. Where the two disagree, the machine was busy.")
    misses = [t for t in r["targets"] if t["binding"] and not t["met"]]
    if misses:
        w("")
        w("Why targets are missed:")
        w("")
        for t in misses:
            w(f"- **{t['id']}**: {t['why'] or 'not analysed yet (see bench/results/profile.md).'}")
    info = [t for t in r["targets"] if not t["binding"]]
    if info:
        w("")
        w("Same ratios with more clients (for information; the targets are for 1 client): "
          + "; ".join(f"{t['id']} {fmt(t['value'], 2, 'x')} ({'met' if t['met'] else 'below'})" for t in info))
    w("")

    # scenarios
    w("## Scenarios")
    w("")
    w("| scenario | clients | variant | tps | transitions/s | transitions/txn | p50 ms | p99 ms | backend CPU µs/txn | cw ratio (tps) | cw ratio (CPU) | runs (tps) |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in r["scenarios"]:
        for v in ("cw", "hw", "pl"):
            x = row["variants"].get(v)
            if not x:
                continue
            ratio = cratio = ""
            if v != "cw" and row["ratios"].get("cw/" + v):
                ratio = f"cw/{v} = **{row['ratios']['cw/' + v]:.2f}x**"
            if v != "cw" and row["ratios"].get("cw/" + v + "_cpu"):
                cratio = f"{row['ratios']['cw/' + v + '_cpu']:.2f}x"
            fails = f" ({x['failed_runs']} failed)" if x["failed_runs"] else ""
            w(f"| {row['scenario'] if v == 'cw' else ''} | {row['clients'] if v == 'cw' else ''} | {v} "
              f"| {fmt(x['tps'])} | {fmt(x['transitions_per_s'])} | {fmt(x['transitions_per_txn'], 2)} "
              f"| {fmt(x['latency_p50_ms'], 3)} | {fmt(x['latency_p99_ms'], 3)} | {fmt(x['cpu_us_per_txn'])} | {ratio} | {cratio} "
              f"| {', '.join(fmt(t) for t in x['tps_runs'])}{fails} |")
    w("")
    w("Scenario descriptions: " + "; ".join(f"`{k}` {v[0]}" for k, v in SCENARIOS.items()) + ". "
      "batch100's tps are statements of 100 entities. "
      "*cw ratio (tps)* = cyoda_wf tps / baseline tps (the targets); *cw ratio (CPU)* = baseline backend CPU "
      "per transaction / cyoda_wf's, measured from /proc over the middle of each run (a cross-check that "
      "other load on the machine disturbs less; it leaves out the client and background processes).")
    w("")

    # scaling
    sc = r["scaling"]
    if not (sc["stored_entities"] or sc["workflow_states"]):
        w("## Scaling")
        w("")
        w("Not measured in this mode: the scaling curves run in the full mode (`bench/run.sh`).")
        w("")
    else:
        w("## Scaling (cyoda_wf)")
        w("")
        w("Per-transition cost at 1 client: wall clock = 1 / (transitions per second); CPU = the backend's "
          "CPU time per transition (the flatness targets use this one, as other load on the machine "
          "disturbs it less). `scale_fire`: manual fire on "
          "a random stored entity; `scale_cascade`: create + 5-step cascade, rolled back so that the "
          "stored count stays fixed. Stored entities come with one version row and five audit rows each.")
        w("")
    if sc["stored_entities"]:
        w("| stored entities | version rows | audit rows | entity+version+audit size | script | tps | µs/transition (wall) | vs first | CPU µs/transition | vs first | p99 ms |")
        w("|---|---|---|---|---|---|---|---|---|---|---|")
        for t, pts in sorted(sc["stored_entities"].items()):
            for p in pts:
                z = sc["table_sizes"].get(p["x"]) or sc["table_sizes"].get(str(p["x"])) or {}
                size = (z.get("entity_bytes", 0) + z.get("version_bytes", 0) + z.get("audit_bytes", 0)) / 2**20
                w(f"| {p['x']:,} | {fmt(z.get('versions'))} | {fmt(z.get('audit'))} | {size:,.0f} MB | {t} "
                  f"| {fmt(p['tps'])} | {fmt(p['us_per_transition'], 1)} | {fmt(p['vs_first'], 3)} "
                  f"| {fmt(p['cpu_us_per_transition'], 1)} | {fmt(p['cpu_vs_first'], 3)} "
                  f"| {fmt(p['latency_p99_ms'], 3)} |")
        w("")
    if sc["workflow_states"]:
        w("| workflow states | script | tps | µs/transition (wall) | vs first | CPU µs/transition | vs first | p99 ms |")
        w("|---|---|---|---|---|---|---|---|")
        for t, pts in sorted(sc["workflow_states"].items()):
            for p in pts:
                w(f"| {p['x']:,} | {t} | {fmt(p['tps'])} | {fmt(p['us_per_transition'], 1)} "
                  f"| {fmt(p['vs_first'], 3)} | {fmt(p['cpu_us_per_transition'], 1)} "
                  f"| {fmt(p['cpu_vs_first'], 3)} | {fmt(p['latency_p99_ms'], 3)} |")
        w("")
    if sc.get("first_save_in_session"):
        w("The first save in a new session compiles the model's workflow into the session's cache "
          "(median of 3 sessions; a create + 5-step cascade, rolled back):")
        w("")
        w("| workflow states | first save ms | second save ms |")
        w("|---|---|---|")
        for k, v in sorted(sc["first_save_in_session"].items(), key=lambda kv: int(kv[0])):
            w(f"| {int(k):,} | {fmt(v['first_save_ms'], 2)} | {fmt(v['second_save_ms'], 2)} |")
        w("")

    c = r["definition_cache"]
    if c:
        w("## Definition cache memory (per backend)")
        w("")
        w(f"{c.get('workflows')} models of one small workflow each (3 states, 3 transitions, one criterion), "
          f"all loaded into one backend's cache: the `cyoda_wf cache` context subtree holds "
          f"**{c.get('total_bytes', 0) / 2**20:.1f} MB** ({c.get('used_bytes', 0) / 2**20:.1f} MB used) in "
          f"{c.get('contexts_total')} contexts, **{c.get('bytes_per_workflow', 0) / 1024:.1f} kB per workflow**; "
          f"the backend as a whole grew by {c.get('backend_growth_bytes', 0) / 2**20:.1f} MB.")
        w("")
        w("| context | count | total bytes | used bytes |")
        w("|---|---|---|---|")
        for x in c["contexts"]:
            w(f"| {x['name']} | {x['count']} | {x['total_bytes']:,} | {x['used_bytes']:,} |")
        w("")

    if before:
        w("## Before / after")
        w("")
        bmode = before.get("mode")
        w(f"Compared with `bench/results/before.json` (mode {bmode}, {before.get('run', {}).get('started_at')}, "
          f"commit {before.get('run', {}).get('git_commit')}"
          f"{'; ' + before['note'] if before.get('note') else ''}).")
        w("")
        w("| scenario | clients | cw tps before | cw tps now | change | cw CPU µs/txn before | now | cw/hw before | cw/hw now | cw/hw CPU before | now | cw/pl before | cw/pl now |")
        w("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        bidx = {(x["scenario"], x["clients"]): x for x in before.get("scenarios", [])}
        for row in r["scenarios"]:
            b = bidx.get((row["scenario"], row["clients"]))
            if not b:
                continue
            bt = b["variants"].get("cw", {}).get("tps")
            nt = row["variants"].get("cw", {}).get("tps")
            ch = f"{(nt / bt - 1) * 100:+.0f}%" if bt and nt else "n/a"
            bc = b["variants"].get("cw", {}).get("cpu_us_per_txn")
            nc = row["variants"].get("cw", {}).get("cpu_us_per_txn")
            w(f"| {row['scenario']} | {row['clients']} | {fmt(bt)} | {fmt(nt)} | {ch} | {fmt(bc)} | {fmt(nc)} "
              f"| {fmt(b['ratios'].get('cw/hw'), 2)} | {fmt(row['ratios'].get('cw/hw'), 2)} "
              f"| {fmt(b['ratios'].get('cw/hw_cpu'), 2)} | {fmt(row['ratios'].get('cw/hw_cpu'), 2)} "
              f"| {fmt(b['ratios'].get('cw/pl'), 2)} | {fmt(row['ratios'].get('cw/pl'), 2)} |")
        w("")
    w("Reproduce: `bench/run.sh` (full) or `bench/run.sh --quick`; see bench/README.md.")
    w("")
    return "\n".join(L)


if __name__ == "__main__":
    sys.exit(main())
