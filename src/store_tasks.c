/*-------------------------------------------------------------------------
 * store_tasks.c
 *		The task rows of a save: it cancels the entity's pending timers (all
 *		its pending tasks when it is deleted; its timers after move_entity,
 *		whatever its new workflow) and queues the async
 *		transitions and timers the engine asked for.
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"
#include "catalog.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "store_int.h"

static SPIPlanPtr plan_disarm = NULL;
static SPIPlanPtr plan_task = NULL;

/*
 * The transition a client fired is asynchronous: say which task will run
 * it (the INSERT just made returned its id; none when one was pending).
 */
static void
cw_store_task_notice(CwSave *s, CwTaskEntry *e)
{
	bool		isnull = true;
	Datum		d = (Datum) 0;

	if (SPI_processed == 1)
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		ereport(NOTICE,
				(errmsg("transition \"%s\" of entity %s is already queued", e->transition, s->id),
				 errdetail("The entity stays in state \"%s\" until its pending task completes.",
						   e->from_state)));
	else
		ereport(NOTICE,
				(errmsg("transition \"%s\" of entity %s queued as task " INT64_FORMAT,
						e->transition, s->id, DatumGetInt64(d)),
				 errdetail("The entity stays in state \"%s\" until the task completes; cyoda_wf.task shows its progress.",
						   e->from_state)));
}

/*
 * Disarm the entity's pending timers (all its pending tasks on delete) and
 * queue what the save asked for.  Called inside cw_store_record's SPI
 * connection, as the engine owner.
 */
static void
cw_store_tasks(CwSave *s, Datum id, bool deleted)
{
	int			rc;
	ListCell   *lc;

	if (deleted || s->moved || (s->wf != NULL && s->wf->has_schedules))
	{
		Datum		a[2] = {id, BoolGetDatum(deleted)};

		if (plan_disarm == NULL)
		{
			Oid			t[2] = {UUIDOID, BOOLOID};

			cw_kept_plan(&plan_disarm,
						 "UPDATE cyoda_wf.task SET state = 'cancelled', finished_at = pg_catalog.clock_timestamp() "
				"WHERE entity_id OPERATOR(pg_catalog.=) $1 AND state OPERATOR(pg_catalog.=) 'pending' "
				"AND ($2 OR kind OPERATOR(pg_catalog.=) 'timer')", 2, t);
		}
		rc = SPI_execute_plan(plan_disarm, a, NULL, false, 0);
		if (rc != SPI_OK_UPDATE)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	}
	if (deleted)
		return;
	foreach(lc, s->tasks)
	{
		CwTaskEntry *e = lfirst(lc);
		Datum		a[8];
		char		n[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

		if (plan_task == NULL)
		{
			Oid			t[8] = {UUIDOID, TEXTOID, TEXTOID, TEXTOID, INT4OID, INT4OID, INT8OID, INT8OID};

			/*
			 * An async transition already queued from this state is not queued
			 * twice.  run_at and created_at come from one clock reading, so that
			 * run_at - created_at is the delay the task was armed with.
			 */
			cw_kept_plan(&plan_task,
						 "INSERT INTO cyoda_wf.task (entity_id, transition, from_state, kind, max_attempts, "
				"retry_delay_ms, timeout_ms, run_at, created_at) SELECT $1, $2, $3, $4, $5, $6, $7, "
				"c.now OPERATOR(pg_catalog.+) "
				"($8 OPERATOR(pg_catalog.*) interval '1 millisecond'), c.now "
				"FROM (SELECT pg_catalog.clock_timestamp() AS now) c "
				"WHERE $4 OPERATOR(pg_catalog.=) 'timer' OR NOT EXISTS (SELECT 1 FROM cyoda_wf.task q "
				"WHERE q.entity_id OPERATOR(pg_catalog.=) $1 AND q.state OPERATOR(pg_catalog.=) 'pending' "
				"AND q.kind OPERATOR(pg_catalog.=) 'process' AND q.transition OPERATOR(pg_catalog.=) $2 "
				"AND q.from_state OPERATOR(pg_catalog.=) $3) RETURNING id", 8, t);
		}
		a[0] = id;
		a[1] = CStringGetTextDatum(e->transition);
		a[2] = CStringGetTextDatum(e->from_state);
		a[3] = CStringGetTextDatum(e->timer ? "timer" : "process");
		a[4] = Int32GetDatum(e->max_attempts);
		a[5] = Int32GetDatum(e->retry_delay_ms);
		a[6] = Int64GetDatum(e->timeout_ms);
		n[6] = e->timeout_ms < 0 ? 'n' : ' ';
		a[7] = Int64GetDatum(e->delay_ms);
		rc = SPI_execute_plan(plan_task, a, n, false, 0);
		if (rc != SPI_OK_INSERT_RETURNING)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
		if (e->named)
			cw_store_task_notice(s, e);
	}
	if (s->tasks != NIL)
	{
		bool		process = false;

		foreach(lc, s->tasks)
			process |= !((CwTaskEntry *) lfirst(lc))->timer;
		cw_workers_wake_on_commit(process);
	}
}

/*
 * cw_store_tasks in an SPI connection of its own, as the engine owner.  Not
 * inlined: its PG_TRY stays out of the callers' frames.
 */
pg_noinline void
cw_store_tasks_as_owner(CwSave *s, Datum id, bool deleted)
{
	CwSavedUser saved;

	cw_become_engine_owner(&saved);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		cw_store_tasks(s, id, deleted);
		SPI_finish();
	}
	PG_FINALLY();
	{
		cw_restore_user(&saved);
	}
	PG_END_TRY();
}
