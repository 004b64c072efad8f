#!/usr/bin/env python3
"""bench/perf_breakdown.py: where a backend's time goes, from `perf script -F ip,sym`
output on stdin (a `perf record -g` of one backend).  Prints a Markdown table.

Each sample is put in a *context* (the outermost of: cyoda_wf's version/audit
writes, cyoda_wf's engine, the entity UPDATE run by fire, the trigger, commit,
the client statement) and a *kind of work* (the innermost recognised frame:
index inserts, heap writes, executor start/end, CHECK constraints, ...).
Python standard library only.
"""
import collections
import sys

# the first of these present anywhere in the stack wins
CONTEXTS = [
    ("cw_store_flush", "cyoda_wf: version + audit rows, written once per statement (cw_store_flush)"),
    ("cw_store_record", "cyoda_wf: version + audit rows of a save (cw_store_record)"),
    ("cw_store_run_engine", "cyoda_wf: engine (cascade, criteria, processes)"),
    ("cw_run", "cyoda_wf API: the entity update of fire / update_item (cw_store_update_direct)"),
    ("ExecBRInsertTriggers", "entity trigger, other"),
    ("ExecBRUpdateTriggers", "entity trigger, other"),
    ("ExecBRUpdateTriggersNew", "entity trigger, other"),
    ("CommitTransactionCommand", "commit"),
    ("standard_ExecutorRun", "client statement, other"),
    ("standard_ExecutorFinish", "client statement, other"),
    ("standard_ExecutorStart", "client statement, other"),
    ("PostgresMain", "protocol, parse/bind, other"),
]
# innermost match wins (searched from the leaf)
KINDS = [
    ("ExecInsertIndexTuples", "index inserts"),
    ("heap_insert", "heap insert / update"),
    ("heap_multi_insert", "heap insert / update"),
    ("heap_update", "heap insert / update"),
    ("heap_lock_tuple", "heap insert / update"),
    ("ExecConstraints", "constraint checks"),
    ("nextval_internal", "identity nextval"),
    ("ExecMakeTableFunctionResult", "unnest() function scan"),
    ("ExecInitFunctionScan", "unnest() function scan"),
    ("index_getnext_slot", "index scan (row lookup)"),
    ("fmgr_sql", "process functions"),
    ("cw_sql_fn_call", "process functions"),
    ("PLy_exec_function", "process functions"),
    ("plpgsql_exec_function", "PL/pgSQL"),
    ("Async_Notify", "NOTIFY"),
    ("PreCommit_Notify", "NOTIFY"),
    ("AtCommit_Notify", "NOTIFY"),
    ("__GI___kill", "walwriter wake-up (kill)"),
    ("XLogFlush", "WAL flush"),
    ("GetCachedPlan", "plan cache"),
    ("standard_ExecutorStart", "executor start"),
    ("standard_ExecutorEnd", "executor end"),
    ("standard_ExecutorFinish", "executor run, other"),
    ("jsonb_build_object", "jsonb building"),
    ("SPI_connect", "SPI connect / finish"),
    ("SPI_connect_ext", "SPI connect / finish"),
    ("SPI_finish", "SPI connect / finish"),
    ("SPI_execute_plan", "SPI statement, other (snapshot, projection, CCI, ...)"),
    ("standard_ExecutorRun", "executor run, other"),
    ("pq_getbyte", "client I/O"),
    ("__send", "client I/O"),
    ("exec_bind_message", "parse / bind"),
    ("exec_parse_message", "parse / bind"),
    ("cw_", "cyoda_wf C code (and what it calls: jsonb, palloc, syscache)"),
]


def samples(stream):
    stack = []
    for line in stream:
        line = line.strip()
        if not line:
            if stack:
                yield stack
                stack = []
            continue
        parts = line.split(None, 1)
        sym = parts[1] if len(parts) > 1 else "?"
        sym = sym.split("+0x")[0]
        stack.append(sym)
    if stack:
        yield stack


def main():
    total = 0
    by = collections.Counter()
    ctx_tot = collections.Counter()
    for st in samples(sys.stdin):   # st[0] is the leaf
        total += 1
        frames = set(st)
        ctx = next((c for m, c in CONTEXTS if m in frames), "other")
        kind = "other"
        for frame in st:
            hit = next((k for m, k in KINDS if (frame == m or (m.endswith("_") and frame.startswith(m)))), None)
            if hit:
                kind = hit
                break
        by[(ctx, kind)] += 1
        ctx_tot[ctx] += 1
    if not total:
        print("(no samples)")
        return 0
    print("| context | share | kind of work (share of all samples) |")
    print("|---|---|---|")
    for ctx, n in ctx_tot.most_common():
        kinds = sorted(((k, m) for (c, k), m in by.items() if c == ctx), key=lambda x: -x[1])
        detail = ", ".join(f"{k} {100.0 * m / total:.1f}%" for k, m in kinds if 100.0 * m / total >= 0.5)
        print(f"| {ctx} | {100.0 * n / total:.1f}% | {detail} |")
    print()
    print(f"{total} samples.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
