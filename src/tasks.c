/*-------------------------------------------------------------------------
 * tasks.c
 *		Running queued work: async transitions and due timers.
 *
 * One task runs in one transaction: the task row and its entity row are
 * claimed as FOR UPDATE SKIP LOCKED claims them (task_claim.c), and the
 * transition runs in a subtransaction through the ordinary save path (an
 * UPDATE whose trigger is told which transition to run).  Success marks the
 * task done in the same transaction, so claim, process and state change
 * commit together.  A failed attempt is rolled back and leaves only its
 * PROCESS_FAILED audit row and the task's new attempt count; a killed
 * worker leaves nothing, and the row lock it held is released for another
 * worker to retry.  Nothing a task sets (SET, set_config, a statement
 * timeout) outlives it.  A failed task's last_error is the error's message
 * and, for a Python process, the traceback its context carries
 * (cw_task_error_text).
 *
 * A task that fails for good is logged (LOG) and announced with a NOTIFY on
 * channel cyoda_wf; retry_task and retry_failed re-queue failed tasks and
 * wake the workers at commit.
 *
 * Finished tasks are deleted once older than cyoda_wf.task_retention (by the
 * workers, a batch at a time, or by prune_tasks()); failed ones stay until
 * retried or pruned by hand.
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"
#include "catalog.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/timeout.h"
#include "utils/uuid.h"

#include "store.h"
#include "task_claim.h"

PG_FUNCTION_INFO_V1(cyoda_wf_run_tasks);
PG_FUNCTION_INFO_V1(cyoda_wf_prune_tasks);
PG_FUNCTION_INFO_V1(cyoda_wf_retry_task);
PG_FUNCTION_INFO_V1(cyoda_wf_retry_failed);

int			cw_task_retention = 7 * 86400;

enum
{
	TP_ORPHANS, TP_DONE, TP_FINISH, TP_AUDIT, TP_NEXT, TP_PRUNE,
	TP_PRUNE_FAILED, TP_RETRY_ONE, TP_RETRY_MANY, NTP
};

/* Longest error text a failure's NOTIFY carries (the payload limit is 8000 bytes). */
#define CW_NOTIFY_ERROR_MAX 2000
static SPIPlanPtr tplans[NTP];

static SPIPlanPtr
cw_task_plan(int which)
{
	static const char *const sql[NTP] = {
		/* TP_ORPHANS: pending tasks whose entity is gone */
		"UPDATE cyoda_wf.task t SET state = 'cancelled', finished_at = pg_catalog.clock_timestamp() "
		"WHERE t.state OPERATOR(pg_catalog.=) 'pending' AND NOT EXISTS "
		"(SELECT 1 FROM cyoda_wf.entity e WHERE e.id OPERATOR(pg_catalog.=) t.entity_id)",
		/* TP_DONE */
		"UPDATE cyoda_wf.task SET state = 'done', attempts = attempts OPERATOR(pg_catalog.+) 1, "
		"last_error = NULL, finished_at = pg_catalog.clock_timestamp() WHERE id OPERATOR(pg_catalog.=) $1",
		/* TP_FINISH: state, attempts, last_error, run_at delay */
		"UPDATE cyoda_wf.task SET state = $2, attempts = $3, last_error = $4, "
		"run_at = pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) ($5 OPERATOR(pg_catalog.*) interval '1 millisecond'), "
		"finished_at = CASE WHEN $2 OPERATOR(pg_catalog.=) 'pending' THEN NULL ELSE pg_catalog.clock_timestamp() END "
		"WHERE id OPERATOR(pg_catalog.=) $1",
		/* TP_AUDIT */
		"INSERT INTO cyoda_wf.audit_log (entity_id, at, transaction_id, event_type, transition, "
		"from_state, to_state, role, detail) VALUES ($1, pg_catalog.clock_timestamp(), "
		"pg_catalog.txid_current(), $2, $3, $4, $4, CURRENT_USER, $5)",
		/*
		 * TP_NEXT: the first task cw_task_claim would take once it is due: a
		 * pending task of an entity whose model has imported workflows
		 */
		"SELECT (EXTRACT(epoch FROM (SELECT t.run_at FROM cyoda_wf.task t "
		"JOIN cyoda_wf.entity e ON e.id OPERATOR(pg_catalog.=) t.entity_id "
		"WHERE t.state OPERATOR(pg_catalog.=) 'pending' "
		"AND EXISTS (SELECT 1 FROM cyoda_wf.workflow w WHERE w.model OPERATOR(pg_catalog.=) e.model "
		"AND w.model_version OPERATOR(pg_catalog.=) e.model_version) "
		"ORDER BY t.run_at LIMIT 1) OPERATOR(pg_catalog.-) "
		"pg_catalog.clock_timestamp()) OPERATOR(pg_catalog.*) 1000)::bigint",
		/*
		 * TP_PRUNE: done, cancelled and expired tasks that finished more than
		 * $1 ago, oldest first, at most $2 (NULL: all), through
		 * task_finished_idx (its predicate, and a stable horizon)
		 */
		"DELETE FROM cyoda_wf.task t WHERE t.id OPERATOR(pg_catalog.=) ANY (ARRAY("
		"SELECT q.id FROM cyoda_wf.task q "
		"WHERE q.state OPERATOR(pg_catalog.=) ANY ('{done,cancelled,expired}'::pg_catalog.text[]) "
		"AND q.finished_at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) $1) "
		"ORDER BY q.finished_at LIMIT $2 FOR UPDATE SKIP LOCKED))",
		/* TP_PRUNE_FAILED: failed tasks that finished more than $1 ago (by hand only) */
		"DELETE FROM cyoda_wf.task t WHERE t.state OPERATOR(pg_catalog.=) 'failed' "
		"AND t.finished_at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) $1)",
		/* TP_RETRY_ONE: re-queue failed task $1 */
		"UPDATE cyoda_wf.task t SET state = 'pending', attempts = 0, "
		"run_at = pg_catalog.clock_timestamp(), finished_at = NULL "
		"WHERE t.id OPERATOR(pg_catalog.=) $1 AND t.state OPERATOR(pg_catalog.=) 'failed'",
		/* TP_RETRY_MANY: re-queue the failed tasks of model $1 (NULL: all) failed since $2 */
		"UPDATE cyoda_wf.task t SET state = 'pending', attempts = 0, "
		"run_at = pg_catalog.clock_timestamp(), finished_at = NULL "
		"WHERE t.state OPERATOR(pg_catalog.=) 'failed' "
		"AND ($2 IS NULL OR t.finished_at OPERATOR(pg_catalog.>=) $2) "
		"AND ($1 IS NULL OR EXISTS (SELECT 1 FROM cyoda_wf.entity e "
		"WHERE e.id OPERATOR(pg_catalog.=) t.entity_id AND e.model OPERATOR(pg_catalog.=) $1))",
	};
	static const int nargs[NTP] = {0, 1, 5, 5, 0, 2, 1, 1, 2};
	static Oid	types[NTP][5] = {
		{0}, {INT8OID},
		{INT8OID, TEXTOID, INT4OID, TEXTOID, INT8OID},
		{UUIDOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID},
		{0},
		{INTERVALOID, INT8OID}, {INTERVALOID},
		{INT8OID}, {TEXTOID, TIMESTAMPTZOID}
	};

	return cw_kept_plan(&tplans[which], sql[which], nargs[which], types[which]);
}

static void
cw_exec(int which, Datum *args, const char *nulls, int expect)
{
	int			rc = SPI_execute_plan(cw_task_plan(which), args, nulls, false, 0);

	if (rc != expect)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
}

/* Cancel pending tasks whose entity no longer exists (rows removed without triggers). */
void
cw_task_sweep(void)
{
	CwSavedUser saved;

	cw_become_engine_owner(&saved);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		cw_exec(TP_ORPHANS, NULL, NULL, SPI_OK_UPDATE);
		SPI_finish();
	}
	PG_FINALLY();
	{
		cw_restore_user(&saved);
	}
	PG_END_TRY();
}

/* Milliseconds until the next pending task is due (0: now; -1: none). */
int64
cw_task_next_due_ms(void)
{
	int64		ms = -1;
	bool		isnull;
	int			rc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_plan(cw_task_plan(TP_NEXT), NULL, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			ms = Max(DatumGetInt64(d), 0);
	}
	SPI_finish();
	return ms;
}

static void
cw_task_audit(Datum entity, const char *event, const char *transition,
			  const char *state, Jsonb *detail)
{
	Datum		a[5];

	a[0] = entity;
	a[1] = CStringGetTextDatum(event);
	a[2] = CStringGetTextDatum(transition);
	a[3] = CStringGetTextDatum(state);
	a[4] = JsonbPGetDatum(detail);
	cw_exec(TP_AUDIT, a, NULL, SPI_OK_INSERT);
}

static void
cw_task_finish(int64 id, const char *state, int attempts, const char *error, int64 delay_ms)
{
	Datum		a[5];
	char		n[5] = {' ', ' ', ' ', ' ', ' '};

	a[0] = Int64GetDatum(id);
	a[1] = CStringGetTextDatum(state);
	a[2] = Int32GetDatum(attempts);
	a[3] = error ? CStringGetTextDatum(error) : (Datum) 0;
	n[3] = error ? ' ' : 'n';
	a[4] = Int64GetDatum(delay_ms);
	cw_exec(TP_FINISH, a, n, SPI_OK_UPDATE);
}

/*
 * One attempt of a claimed task: the transition runs in a subtransaction,
 * under the task's response timeout (a statement timeout, unless one is
 * armed already).  Returns NULL on success, else the error, in `cxt`.  The
 * timeout is disarmed on every path.
 */
static ErrorData *
cw_task_attempt(CwRequest *req, Datum entity, int64 timeout_ms, MemoryContext cxt)
{
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile bool timeout_set = false;
	ErrorData  *volatile edata = NULL;
	char	   *reached;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		if (timeout_ms > 0 && !get_timeout_active(STATEMENT_TIMEOUT))
		{
			enable_timeout_after(STATEMENT_TIMEOUT, (int) Min(timeout_ms, INT_MAX));
			timeout_set = true;
		}
		/* the save, as update_item does it */
		(void) cw_store_update_entity(entity, true, (Datum) 0, req, &reached);
		if (timeout_set)
		{
			disable_timeout(STATEMENT_TIMEOUT, false);
			timeout_set = false;
		}
		/* a timeout that fired just now fails this attempt, not the next one */
		CHECK_FOR_INTERRUPTS();
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		cw_store_set_request(NULL);
		if (timeout_set)
			disable_timeout(STATEMENT_TIMEOUT, false);
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = oldowner;
	}
	PG_END_TRY();
	return edata;
}

/*
 * A task that failed for good (attempts exhausted, or an error that is not
 * retried): one LOG line, and a NOTIFY on channel cyoda_wf sent when the
 * task's transaction commits (unless cyoda_wf.notify is off; with
 * notify_payload = id only the entity id and the change kind).
 */
static void
cw_task_failed_for_good(CwClaimed *t, ErrorData *edata)
{
	char	   *entity = DatumGetCString(DirectFunctionCall1(uuid_out, t->entity));
	const char *error = edata->message ? edata->message : "";
	StringInfoData p;

	ereport(LOG,
			(errmsg("cyoda_wf task " INT64_FORMAT " failed for good: entity %s (model %s version %d), transition \"%s\": %s",
					t->id, entity, t->model, t->model_version, t->transition, error),
			 errdetail("Attempt %d of %d; SQLSTATE %s.", t->attempts + 1, t->max_attempts,
					   unpack_sql_state(edata->sqlerrcode)),
			 errhint("Re-queue it with cyoda_wf.retry_task(" INT64_FORMAT ").", t->id),
			 errhidestmt(true)));
	if (!cw_notify)
		return;
	initStringInfo(&p);
	appendStringInfoString(&p, "{\"id\": ");
	escape_json(&p, entity);
	if (cw_notify_payload != CW_NOTIFY_PAYLOAD_ID)
	{
		appendStringInfoString(&p, ", \"model\": ");
		escape_json(&p, t->model);
		appendStringInfo(&p, ", \"modelVersion\": %d, \"transition\": ", t->model_version);
		escape_json(&p, t->transition);
		appendStringInfo(&p, ", \"task\": " INT64_FORMAT ", \"failed\": true, \"error\": ", t->id);
		escape_json(&p, pnstrdup(error, pg_mbcliplen(error, strlen(error), CW_NOTIFY_ERROR_MAX)));
	}
	appendStringInfoString(&p, ", \"changeType\": \"TASK_FAILED\"}");
	Async_Notify("cyoda_wf", p.data);
}

/*
 * The task's last_error for a failed attempt: the error's message and, when
 * its context holds a Python traceback (a PL/Python process: the frames of
 * the loaded module's own code, dispatch.c), that traceback, at most
 * CW_LAST_ERROR_MAX bytes in all.
 */
#define CW_LAST_ERROR_MAX 4000
#define CW_PY_TRACEBACK "Traceback (most recent call last):"

static char *
cw_task_error_text(ErrorData *edata)
{
	StringInfoData s;
	const char *tb = NULL;
	const char *end;

	initStringInfo(&s);
	appendStringInfoString(&s, edata->message ? edata->message : "");
	if (edata->context != NULL)
	{
		const char *p = edata->context;

		/* the first line that is a traceback header */
		while ((p = strstr(p, CW_PY_TRACEBACK)) != NULL)
		{
			if (p == edata->context || p[-1] == '\n')
			{
				tb = p;
				break;
			}
			p++;
		}
	}
	if (tb != NULL)
	{
		/* the header and the indented lines after it */
		end = strchr(tb, '\n');
		while (end != NULL && end[1] == ' ')
			end = strchr(end + 1, '\n');
		appendStringInfoChar(&s, '\n');
		appendBinaryStringInfo(&s, tb, end ? (int) (end - tb) : (int) strlen(tb));
	}
	if (s.len > CW_LAST_ERROR_MAX)
	{
		int			keep = pg_mbcliplen(s.data, s.len, CW_LAST_ERROR_MAX - 4);

		s.len = keep;
		s.data[keep] = '\0';
		appendStringInfoString(&s, "\n...");
	}
	return s.data;
}

/* A failed attempt: audited, and retried later or failed for good. */
static void
cw_task_failed(CwClaimed *t, ErrorData *edata)
{
	CwJsonBuilder b;
	const char *proc = cw_engine_failing_process();
	bool		loop_limit = edata->sqlerrcode == ERRCODE_PROGRAM_LIMIT_EXCEEDED;
	bool		retry = !loop_limit && t->attempts + 1 < t->max_attempts;

	cw_jbb_begin(&b);
	cw_jbb_int(&b, "task", t->id);
	cw_jbb_str(&b, "process", proc);
	cw_jbb_str(&b, "error", edata->message);
	cw_jbb_str(&b, "sqlstate", unpack_sql_state(edata->sqlerrcode));
	cw_jbb_int(&b, "attempt", t->attempts + 1);
	cw_jbb_int(&b, "max_attempts", t->max_attempts);
	cw_jbb_bool(&b, "will_retry", retry);
	cw_task_audit(t->entity, loop_limit ? "CANCEL" : "PROCESS_FAILED",
				  t->transition, t->from_state, cw_jbb_end(&b));
	cw_task_finish(t->id, retry ? "pending" : "failed", t->attempts + 1,
				   cw_task_error_text(edata), retry ? t->retry_delay : 0);
	if (!retry)
		cw_task_failed_for_good(t, edata);
}

/*
 * Claim one due task and run it (inside an SPI connection, as the engine
 * owner).  Returns false when no task is due.
 */
static bool
cw_task_claim_and_run(Oid caller)
{
	CwClaimed	t;
	MemoryContext cxt = CurrentMemoryContext;

	if (!cw_task_claim(&t))
		return false;
	/* which task a worker runs, for metrics() (a session's own CALL keeps its text) */
	if (IsBackgroundWorker)
	{
		char		activity[64];

		snprintf(activity, sizeof(activity), "cyoda_wf: running task " INT64_FORMAT, t.id);
		pgstat_report_activity(STATE_RUNNING, activity);
	}

	if (t.cur_state == NULL || strcmp(t.cur_state, t.from_state) != 0)
	{
		/* the entity moved on: nothing left to do */
		cw_task_finish(t.id, "cancelled", t.attempts, NULL, 0);
	}
	else if (t.timer && t.expired)
	{
		CwJsonBuilder b;

		cw_jbb_begin(&b);
		cw_jbb_int(&b, "task", t.id);
		cw_jbb_int(&b, "timeout_ms", t.timeout_ms);
		cw_task_audit(t.entity, "TIMER_EXPIRED", t.transition, t.from_state, cw_jbb_end(&b));
		cw_task_finish(t.id, "expired", t.attempts, NULL, 0);
	}
	else
	{
		CwRequest	req;
		ErrorData  *edata;

		memset(&req, 0, sizeof(req));
		req.kind = CW_REQ_TASK;
		memcpy(&req.id, DatumGetUUIDP(t.entity), sizeof(pg_uuid_t));
		req.locked_tid = t.entity_tid;
		req.transition = t.transition;
		req.task_timer = t.timer;
		req.attempt = t.attempts + 1;
		req.role = GetUserNameFromId(caller, false);

		/* a timer's timeout_ms is its expiry, not a response timeout */
		edata = cw_task_attempt(&req, t.entity, t.timer ? -1 : t.timeout_ms, cxt);
		if (edata == NULL && !cw_task_mark_done(&t))
		{
			Datum		a[1] = {Int64GetDatum(t.id)};

			cw_exec(TP_DONE, a, NULL, SPI_OK_UPDATE);
		}
		else if (edata != NULL)
		{
			cw_task_failed(&t, edata);
			FreeErrorData(edata);
		}
	}
	return true;
}

/*
 * Claim one due task and run it in the current transaction.  Returns false
 * when no task is due.  Runs as the engine owner; processes run as their
 * workflow's owner as always.  The task runs in a GUC nest level of its
 * own that is rolled back afterwards, so no setting a process made (SET,
 * set_config) survives it to poison the next task or the caller's session.
 */
bool
cw_task_run_one(void)
{
	CwSavedUser saved;
	int			nestlevel;
	volatile bool found = false;

	nestlevel = NewGUCNestLevel();
	cw_become_engine_owner(&saved);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		found = cw_task_claim_and_run(saved.userid);
		SPI_finish();
	}
	PG_FINALLY();
	{
		cw_restore_user(&saved);
	}
	PG_END_TRY();
	AtEOXact_GUC(false, nestlevel);
	return found;
}

/*
 * Delete finished tasks (done, cancelled, expired; failed too when
 * include_failed) that finished more than `older_than` ago, oldest first, at
 * most `limit` of them (-1: all; failed ones are never limited).  Rows
 * another session is deleting are skipped.  Returns how many were deleted.
 * Needs a transaction; runs as the engine owner.
 */
int64
cw_task_prune(Interval *older_than, bool include_failed, int64 limit)
{
	CwSavedUser saved;
	volatile int64 n = 0;

	cw_become_engine_owner(&saved);
	PG_TRY();
	{
		Datum		a[2];
		char		nulls[2] = {' ', ' '};

		a[0] = IntervalPGetDatum(older_than);
		a[1] = Int64GetDatum(limit);
		if (limit < 0)
			nulls[1] = 'n';
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		cw_exec(TP_PRUNE, a, nulls, SPI_OK_DELETE);
		n = (int64) SPI_processed;
		if (include_failed)
		{
			cw_exec(TP_PRUNE_FAILED, a, NULL, SPI_OK_DELETE);
			n += (int64) SPI_processed;
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		cw_restore_user(&saved);
	}
	PG_END_TRY();
	return n;
}

/* cyoda_wf.task_retention as an interval; NULL when finished tasks are kept. */
Interval *
cw_task_retention_interval(void)
{
	Interval   *iv;

	if (cw_task_retention < 0)
		return NULL;
	iv = palloc0(sizeof(Interval));
	iv->time = (int64) cw_task_retention * USECS_PER_SEC;
	return iv;
}

/*
 * prune_tasks(older_than interval DEFAULT NULL, include_failed boolean
 * DEFAULT false): delete finished tasks by hand (what the workers do in
 * small batches); NULL older_than means cyoda_wf.task_retention.
 */
Datum
cyoda_wf_prune_tasks(PG_FUNCTION_ARGS)
{
	Interval   *older_than;
	bool		include_failed = !PG_ARGISNULL(1) && PG_GETARG_BOOL(1);

	if (PG_ARGISNULL(0))
	{
		older_than = cw_task_retention_interval();
		if (older_than == NULL)
			PG_RETURN_INT64(0);		/* task_retention = -1: keep them all */
	}
	else
	{
		Interval	zero;

		older_than = PG_GETARG_INTERVAL_P(0);
		memset(&zero, 0, sizeof(zero));
		if (DatumGetBool(DirectFunctionCall2(interval_lt, IntervalPGetDatum(older_than),
											 IntervalPGetDatum(&zero))))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("older_than must not be negative, not %s",
							DatumGetCString(DirectFunctionCall1(interval_out,
																IntervalPGetDatum(older_than)))),
					 errdetail("prune_tasks deletes tasks that finished more than older_than ago."),
					 errhint("Pass an interval such as '7 days', '0' for every finished task, or NULL for cyoda_wf.task_retention.")));
	}
	PG_RETURN_INT64(cw_task_prune(older_than, include_failed, -1));
}

/*
 * Re-queue failed tasks: task `id` (retry_task) or, with id < 0, every
 * failed task of `model` (NULL: any) that failed since `since` (NULL:
 * ever).  The workers are woken when the transaction commits, so they pick
 * the tasks up at once rather than at their next poll.  Returns how many.
 */
static int64
cw_task_retry(int64 id, text *model, Datum since, bool since_null)
{
	CwSavedUser saved;
	volatile int64 n = 0;

	cw_become_engine_owner(&saved);
	PG_TRY();
	{
		Datum		a[2];
		char		nulls[2] = {' ', ' '};

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (id >= 0)
		{
			a[0] = Int64GetDatum(id);
			cw_exec(TP_RETRY_ONE, a, NULL, SPI_OK_UPDATE);
		}
		else
		{
			a[0] = PointerGetDatum(model);
			nulls[0] = model ? ' ' : 'n';
			a[1] = since;
			nulls[1] = since_null ? 'n' : ' ';
			cw_exec(TP_RETRY_MANY, a, nulls, SPI_OK_UPDATE);
		}
		n = (int64) SPI_processed;
		if (n > 0)
			cw_workers_wake_on_commit(false);
		SPI_finish();
	}
	PG_FINALLY();
	{
		cw_restore_user(&saved);
	}
	PG_END_TRY();
	return n;
}

/* retry_task(id bigint) RETURNS boolean: re-queue one failed task. */
Datum
cyoda_wf_retry_task(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_GETARG_INT64(0) < 0)
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(cw_task_retry(PG_GETARG_INT64(0), NULL, (Datum) 0, true) > 0);
}

/*
 * retry_failed(model text DEFAULT NULL, since timestamptz DEFAULT NULL)
 * RETURNS bigint: re-queue every failed task (of that model, failed since
 * that time) at once.
 */
Datum
cyoda_wf_retry_failed(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(cw_task_retry(-1, PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0),
								  PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1),
								  PG_ARGISNULL(1)));
}

/* CALL run_tasks(max_tasks): run due tasks in this session. */
Datum
cyoda_wf_run_tasks(PG_FUNCTION_ARGS)
{
	int			max_tasks = PG_ARGISNULL(0) ? 1000 : PG_GETARG_INT32(0);
	bool		nonatomic = fcinfo->context && IsA(fcinfo->context, CallContext) &&
		!castNode(CallContext, fcinfo->context)->atomic;
	int			done = 0;

	if (SPI_connect_ext(nonatomic ? SPI_OPT_NONATOMIC : 0) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	cw_task_sweep();
	while (done < max_tasks)
	{
		CHECK_FOR_INTERRUPTS();
		if (!cw_task_run_one())
			break;
		done++;
		if (nonatomic)
			SPI_commit();
	}
	SPI_finish();
	PG_RETURN_VOID();
}
