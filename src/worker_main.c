/*-------------------------------------------------------------------------
 * worker_main.c
 *		The life of a cyoda_wf background worker (started by workers.c):
 *		run due tasks in bursts, record itself in cyoda_wf.worker, prune
 *		finished tasks, sleep until the next timer or a wake-up.
 *
 * Each transaction of a worker first makes sure that the extension exists,
 * and holds it against a DROP EXTENSION until it ends: the worker of a
 * database without cyoda_wf (not yet created, or dropped) waits quietly
 * until it is created (again).  A static worker whose database does not
 * exist says so once (WARNING) and looks for it again at doubling intervals
 * (CW_DB_WAIT_FIRST_MS up to CW_DB_WAIT_MAX_MS) from a connection to no
 * database; once it exists the worker exits to be started again, connected.
 * The loop's state lives in one static struct
 * (not in locals), so an error caught by the worker's sigsetjmp loses none
 * of it.
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"
#include "catalog.h"

#include "access/xact.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"

PGDLLEXPORT void cw_worker_main(Datum arg);

/* Rows deleted per batch when a worker prunes old tasks. */
#define CW_PRUNE_BATCH 1000
/* A worker prunes at most this often unless its last batch was full. */
#define CW_PRUNE_EVERY_MS 60000
/* How often a worker looks for the extension while it is not installed. */
#define CW_ATTACH_POLL_MS 1000
/* Tasks run in a row before the worker reports and prunes (it goes on at once). */
#define CW_BURST 1000
/* A missing database is looked for after this long, then at doubling intervals up to the max. */
#define CW_DB_WAIT_FIRST_MS 1000
#define CW_DB_WAIT_MAX_MS 300000

/* The cyoda_wf extension this worker has registered with (its pg_extension OID). */
static Oid	attached_ext = InvalidOid;
static bool ever_attached = false;	/* attached to any since the process started */

/* What the worker's loop carries from one round to the next. */
static struct
{
	const char *kind;			/* "static" or "dynamic" */
	int64		done;			/* tasks run */
	int64		reported;		/* tasks run, as cyoda_wf.worker says */
	uint64		idle_rounds;	/* rounds that ended with the queue drained */
	uint64		busy_rounds;	/* rounds that ended with tasks still due */
	bool		prune_more;		/* the last prune batch was full */
	TimestampTz last_prune;
} w;

/* Record this worker in cyoda_wf.worker (in the current transaction). */
static void
cw_worker_register(const char *kind, int64 done, bool first)
{
	Datum		a[3];
	Oid			t[3] = {INT4OID, TEXTOID, INT8OID};
	int			rc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	a[0] = Int32GetDatum(MyProcPid);
	a[1] = CStringGetTextDatum(kind);
	a[2] = Int64GetDatum(done);
	/*
	 * rows of exited workers are ignored; the next worker to start removes
	 * them, and passes over those another starting worker is removing (it
	 * would otherwise wait for that worker's first transaction)
	 */
	if (first)
	{
		rc = SPI_execute_with_args(
			"DELETE FROM cyoda_wf.worker w WHERE w.pid OPERATOR(pg_catalog.=) ANY (ARRAY("
			"SELECT s.pid FROM cyoda_wf.worker s WHERE s.pid OPERATOR(pg_catalog.=) $1 OR NOT EXISTS "
			"(SELECT 1 FROM pg_catalog.pg_stat_get_activity(s.pid)) FOR UPDATE SKIP LOCKED))",
			1, t, a, NULL, false, 0);
		if (rc != SPI_OK_DELETE)
			elog(ERROR, "cyoda_wf worker registration failed: %s", SPI_result_code_string(rc));
	}
	rc = SPI_execute_with_args(
		"INSERT INTO cyoda_wf.worker (pid, database, kind, tasks_done, last_active_at) "
		"VALUES ($1, pg_catalog.current_database(), $2, $3, pg_catalog.now()) "
		"ON CONFLICT (pid) DO UPDATE SET tasks_done = EXCLUDED.tasks_done, "
		"last_active_at = EXCLUDED.last_active_at, kind = EXCLUDED.kind",
		3, t, a, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "cyoda_wf worker registration failed: %s", SPI_result_code_string(rc));
	SPI_finish();
}

/*
 * Start a transaction for work on the extension's tables.  When cyoda_wf is
 * not installed in this database (not yet, or dropped) it returns false
 * with the transaction closed again, before anything touched a table of
 * the extension.  Otherwise it holds a share lock on the extension until the
 * transaction ends, so a DROP EXTENSION (or DROP SCHEMA ... CASCADE) waits
 * for the running task instead of pulling the tables from under it.  The
 * first transaction on an extension the worker has not worked with records
 * the worker in its cyoda_wf.worker; when the worker worked with another
 * before (dropped, and created again), it first drops every cached catalog
 * entry, relation OID and plan.
 */
static bool
cw_worker_begin(const char *kind, int64 done)
{
	Oid			ext;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	/*
	 * Lock the extension, then look it up: the lookup after the lock sees a
	 * DROP that committed while we waited.  A worker that is attached locks
	 * the extension it knows first, and needs no lookup at all while the
	 * OIDs of the extension's tables it keeps are valid: taking the lock
	 * read the invalidations, and a DROP would have dropped those tables.
	 */
	ext = InvalidOid;
	if (OidIsValid(attached_ext))
	{
		LockDatabaseObject(ExtensionRelationId, attached_ext, 0, AccessShareLock);
		if (cw_catalog_rels_known() || get_extension_oid("cyoda_wf", true) == attached_ext)
			ext = attached_ext;
	}
	if (!OidIsValid(ext))
	{
		ext = get_extension_oid("cyoda_wf", true);
		if (OidIsValid(ext))
		{
			LockDatabaseObject(ExtensionRelationId, ext, 0, AccessShareLock);
			/* a DROP that committed while we waited for the lock */
			if (get_extension_oid("cyoda_wf", true) != ext)
				ext = InvalidOid;
		}
	}
	if (!OidIsValid(ext))
	{
		PopActiveSnapshot();
		CommitTransactionCommand();
		attached_ext = InvalidOid;
		return false;
	}
	if (ext != attached_ext)
	{
		/* what this process cached of an extension it worked with before */
		if (ever_attached)
			InvalidateSystemCaches();
		ever_attached = true;
		cw_worker_register(kind, done, true);
		attached_ext = ext;
	}
	return true;
}

/* Commit the transaction cw_worker_begin started. */
static void
cw_worker_end(void)
{
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/* Sleep until the latch is set or ms pass; handle a reload. */
static void
cw_worker_sleep(long ms)
{
	if (ms > 0)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	CHECK_FOR_INTERRUPTS();
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
	}
}

static void
cw_worker_exit(int code, Datum arg)
{
	/* rows of exited workers are ignored and cleaned by the next worker */
}

/*
 * Run what is due, one task per transaction, at most CW_BURST in a row;
 * true when the queue was drained (a claim found nothing).
 */
static bool
cw_worker_run_due(void)
{
	bool		did = false;
	int			burst = 0;

	do
	{
		CHECK_FOR_INTERRUPTS();
		if (!cw_worker_begin(w.kind, w.done))
			return true;
		pgstat_report_activity(STATE_RUNNING, "cyoda_wf: running a task");
		did = cw_task_run_one();
		cw_worker_end();
		/* table statistics for autovacuum: at most once a second while busy */
		(void) pgstat_report_stat(false);
		if (did)
			w.done++;
	} while (did && ++burst < CW_BURST);
	return !did;
}

/* Record the tasks run in cyoda_wf.worker; false if the extension is gone. */
static bool
cw_worker_report(void)
{
	if (w.done != w.reported)
	{
		if (!cw_worker_begin(w.kind, w.done))
			return false;
		cw_worker_register(w.kind, w.done, false);
		cw_worker_end();
		w.reported = w.done;
	}
	return true;
}

/*
 * Finished tasks past cyoda_wf.task_retention, a batch at a time; false if
 * the extension is gone.
 */
static bool
cw_worker_prune(void)
{
	if (cw_task_retention >= 0 &&
		(w.prune_more || TimestampDifferenceExceeds(w.last_prune, GetCurrentTimestamp(),
													CW_PRUNE_EVERY_MS)))
	{
		if (!cw_worker_begin(w.kind, w.done))
			return false;
		pgstat_report_activity(STATE_RUNNING, "cyoda_wf: pruning finished tasks");
		w.prune_more = cw_task_prune(cw_task_retention_interval(), false,
									 CW_PRUNE_BATCH) == CW_PRUNE_BATCH;
		cw_worker_end();
		w.last_prune = GetCurrentTimestamp();
	}
	return true;
}

/*
 * Sweep orphaned tasks now and then, and sleep until the next timer is due
 * (at most cyoda_wf.worker_idle_ms); false if the extension is gone.  The
 * sweep reads every pending task, so it runs when the queue is drained
 * (`drained`: the first time, then every 64th time), and under a load that
 * never drains it, after every 64th burst: not in the middle of a backlog.
 */
static bool
cw_worker_wait(bool drained)
{
	int64		wait_ms;

	if (!cw_worker_begin(w.kind, w.done))
		return false;
	if (drained ? w.idle_rounds++ % 64 == 0 : ++w.busy_rounds % 64 == 0)
		cw_task_sweep();
	wait_ms = cw_task_next_due_ms();
	cw_worker_end();
	pgstat_report_activity(STATE_IDLE, NULL);
	/* what is pending, before the worker goes idle (a client backend does so too) */
	(void) pgstat_report_stat(true);

	if (wait_ms < 0 || wait_ms > cw_worker_idle_ms)
		wait_ms = cw_worker_idle_ms;
	if (w.prune_more)
		wait_ms = 0;			/* more to prune: after the tasks now due */
	cw_worker_sleep((long) wait_ms);
	return true;
}

/*
 * Static worker `slot` found its database `db` missing when it last tried
 * to connect: connected to no database, look for it at doubling intervals
 * (the first worker of the database says so once); when it exists, exit,
 * for the postmaster to start the worker again (restart time 5 s), which
 * then connects.  Never returns.
 */
static void
cw_worker_await_database(const char *db, int slot, bool first)
{
	long		wait_ms = CW_DB_WAIT_FIRST_MS;

	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("cyoda_wf static worker");
	ereport(first ? WARNING : DEBUG1,
			(errmsg("database \"%s\" named in cyoda_wf.database_name does not exist", db),
			 errdetail("The cyoda_wf workers for it look for it again in %d s, then at doubling intervals up to %d min, and start when it is created.",
					   CW_DB_WAIT_FIRST_MS / 1000, CW_DB_WAIT_MAX_MS / 60000),
			 errhint("Create the database, or remove it from cyoda_wf.database_name and restart the server.")));
	for (;;)
	{
		bool		exists;

		pgstat_report_activity(STATE_IDLE, NULL);
		cw_worker_sleep(wait_ms);
		StartTransactionCommand();
		exists = OidIsValid(get_database_oid(db, true));
		CommitTransactionCommand();
		if (exists)
			break;
		wait_ms = Min(wait_ms * 2, CW_DB_WAIT_MAX_MS);
	}
	cw_workers_set_db_missing(slot, false);
	ereport(first ? LOG : DEBUG1,
			(errmsg("database \"%s\" named in cyoda_wf.database_name exists now: its cyoda_wf workers start", db)));
	proc_exit(1);				/* restarted by the postmaster, then connected */
}

/* Entry point of every cyoda_wf worker. */
void
cw_worker_main(Datum arg)
{
	sigjmp_buf	local_sigjmp_buf;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	if (MyBgworkerEntry->bgw_extra[0] != '\0')
	{
		int			slot = DatumGetInt32(arg) / 2;
		bool		first = DatumGetInt32(arg) % 2 == 1;

		w.kind = "static";
		if (cw_workers_db_missing(slot))
			cw_worker_await_database(MyBgworkerEntry->bgw_extra, slot, first);
		/* a connection to a missing database ends the worker (FATAL): the flag stays */
		cw_workers_set_db_missing(slot, true);
		BackgroundWorkerInitializeConnection(MyBgworkerEntry->bgw_extra, NULL, 0);
		cw_workers_set_db_missing(slot, false);
	}
	else
	{
		w.kind = "dynamic";
		BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(arg), InvalidOid, 0);
	}
	pgstat_report_appname(strcmp(w.kind, "static") == 0 ?
						  "cyoda_wf static worker" : "cyoda_wf dynamic worker");
	before_shmem_exit(cw_worker_exit, (Datum) 0);

	/*
	 * An error outside a task's own subtransaction (a lock timeout, running
	 * out of memory, ...) must not end the worker: report it, clean up and
	 * carry on after a pause, as the server's own workers do.
	 */
	if (sigsetjmp(local_sigjmp_buf, 1) != 0)
	{
		error_context_stack = NULL;
		HOLD_INTERRUPTS();
		disable_all_timeouts(false);
		EmitErrorReport();
		AbortOutOfAnyTransaction();
		FlushErrorState();
		MemoryContextSwitchTo(TopMemoryContext);
		RESUME_INTERRUPTS();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	PG_exception_stack = &local_sigjmp_buf;

	for (;;)
	{
		bool		drained = cw_worker_run_due();

		if (!OidIsValid(attached_ext))
		{
			/* cyoda_wf is not installed here (yet, or any more): wait for it */
			pgstat_report_activity(STATE_IDLE, NULL);
			cw_worker_sleep(CW_ATTACH_POLL_MS);
			continue;
		}
		if (!cw_worker_report() || !cw_worker_prune())
			continue;
		(void) cw_worker_wait(drained);
	}
}
