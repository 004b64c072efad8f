/*-------------------------------------------------------------------------
 * workers.c
 *		Background workers that run queued tasks and due timers.
 *
 * Static workers start with the server when cyoda_wf is preloaded
 * (cyoda_wf.workers per database named in cyoda_wf.database_name); dynamic
 * ones are started by cyoda_wf.start_workers() for the current database.
 * A worker records itself in cyoda_wf.worker; a transaction that queues work
 * sets the latches of those workers when it commits, so they start at once.
 * Between bursts a worker sleeps until the next timer is due (at most
 * cyoda_wf.worker_idle_ms), and deletes the tasks that finished longer than
 * cyoda_wf.task_retention ago, a batch at a time.  Each transaction of a
 * worker first makes sure that the extension exists, and holds it against a
 * DROP EXTENSION until it ends: the worker of a database without cyoda_wf
 * (not yet created, or dropped) waits quietly until it is created (again).
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"

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
#include "storage/proc.h"
#include "utils/backend_status.h"
#include "utils/memutils.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/varlena.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"

PG_FUNCTION_INFO_V1(cyoda_wf_start_workers);

PGDLLEXPORT void cw_worker_main(Datum arg);

int			cw_workers = 2;
char	   *cw_database_name = NULL;
int			cw_worker_idle_ms = 5000;

/* Rows deleted per batch when a worker prunes old tasks. */
#define CW_PRUNE_BATCH 1000
/* A worker prunes at most this often unless its last batch was full. */
#define CW_PRUNE_EVERY_MS 60000
/* How often a worker looks for the extension while it is not installed. */
#define CW_ATTACH_POLL_MS 1000
/* Tasks run in a row before the worker reports and prunes (it goes on at once). */
#define CW_BURST 1000

/* The cyoda_wf extension this worker has registered with (its pg_extension OID). */
static Oid	attached_ext = InvalidOid;

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
	/* rows of exited workers are ignored; the next worker to start removes them */
	if (first)
	{
		rc = SPI_execute_with_args(
			"DELETE FROM cyoda_wf.worker w WHERE w.pid OPERATOR(pg_catalog.=) $1 OR NOT EXISTS "
			"(SELECT 1 FROM pg_catalog.pg_stat_activity a WHERE a.pid OPERATOR(pg_catalog.=) w.pid)",
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
 * first transaction on an extension the worker has not worked with (created,
 * or dropped and created again) drops every cached catalog entry, relation
 * OID and plan, and records the worker in the new cyoda_wf.worker.
 */
static bool
cw_worker_begin(const char *kind, int64 done)
{
	Oid			ext;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	ext = get_extension_oid("cyoda_wf", true);
	if (OidIsValid(ext))
	{
		LockDatabaseObject(ExtensionRelationId, ext, 0, AccessShareLock);
		/* a DROP that committed while we waited for the lock */
		if (get_extension_oid("cyoda_wf", true) != ext)
			ext = InvalidOid;
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
		InvalidateSystemCaches();
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

/* Entry point of every cyoda_wf worker. */
void
cw_worker_main(Datum arg)
{
	const char *kind;
	sigjmp_buf	local_sigjmp_buf;
	volatile int64 done = 0;
	volatile int64 reported = 0;
	volatile uint64 sweeps = 0;
	volatile bool prune_more = false;
	volatile TimestampTz last_prune = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	if (MyBgworkerEntry->bgw_extra[0] != '\0')
	{
		kind = "static";
		BackgroundWorkerInitializeConnection(MyBgworkerEntry->bgw_extra, NULL, 0);
	}
	else
	{
		kind = "dynamic";
		BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(arg), InvalidOid, 0);
	}
	pgstat_report_appname(strcmp(kind, "static") == 0 ?
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
		bool		did = false;
		int			burst = 0;
		int64		wait_ms;

		/* run what is due, one task per transaction */
		do
		{
			CHECK_FOR_INTERRUPTS();
			if (!cw_worker_begin(kind, done))
				break;
			pgstat_report_activity(STATE_RUNNING, "cyoda_wf: running a task");
			did = cw_task_run_one();
			cw_worker_end();
			if (did)
				done++;
		} while (did && ++burst < CW_BURST);

		if (!OidIsValid(attached_ext))
		{
			/* cyoda_wf is not installed here (yet, or any more): wait for it */
			pgstat_report_activity(STATE_IDLE, NULL);
			cw_worker_sleep(CW_ATTACH_POLL_MS);
			continue;
		}

		if (done != reported)
		{
			if (!cw_worker_begin(kind, done))
				continue;
			cw_worker_register(kind, done, false);
			cw_worker_end();
			reported = done;
		}

		/* finished tasks past cyoda_wf.task_retention, a batch at a time */
		if (cw_task_retention >= 0 &&
			(prune_more || TimestampDifferenceExceeds(last_prune, GetCurrentTimestamp(),
													  CW_PRUNE_EVERY_MS)))
		{
			if (!cw_worker_begin(kind, done))
				continue;
			pgstat_report_activity(STATE_RUNNING, "cyoda_wf: pruning finished tasks");
			prune_more = cw_task_prune(cw_task_retention_interval(), false,
									   CW_PRUNE_BATCH) == CW_PRUNE_BATCH;
			cw_worker_end();
			last_prune = GetCurrentTimestamp();
		}

		if (!cw_worker_begin(kind, done))
			continue;
		if (++sweeps % 64 == 1)
			cw_task_sweep();
		wait_ms = cw_task_next_due_ms();
		cw_worker_end();
		pgstat_report_activity(STATE_IDLE, NULL);

		if (wait_ms < 0 || wait_ms > cw_worker_idle_ms)
			wait_ms = cw_worker_idle_ms;
		if (prune_more)
			wait_ms = 0;		/* more to prune: after the tasks now due */
		cw_worker_sleep((long) wait_ms);
	}
}

static void
cw_fill_worker(BackgroundWorker *w, const char *dbname)
{
	memset(w, 0, sizeof(*w));
	w->bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w->bgw_start_time = BgWorkerStart_RecoveryFinished;
	snprintf(w->bgw_library_name, BGW_MAXLEN, "cyoda_wf");
	snprintf(w->bgw_function_name, BGW_MAXLEN, "cw_worker_main");
	snprintf(w->bgw_type, BGW_MAXLEN, "cyoda_wf worker");
	if (dbname)
	{
		snprintf(w->bgw_name, BGW_MAXLEN, "cyoda_wf worker for %s", dbname);
		strlcpy(w->bgw_extra, dbname, BGW_EXTRALEN);
	}
}

/* Register the static workers (only while preloading). */
void
cw_workers_init(void)
{
	char	   *rawnames;
	List	   *names;
	ListCell   *lc;

	if (!process_shared_preload_libraries_in_progress || cw_workers <= 0)
		return;
	rawnames = pstrdup(cw_database_name ? cw_database_name : "postgres");
	if (!SplitIdentifierString(rawnames, ',', &names))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid list syntax in cyoda_wf.database_name")));
	foreach(lc, names)
	{
		const char *db = lfirst(lc);

		for (int i = 0; i < cw_workers; i++)
		{
			BackgroundWorker w;

			cw_fill_worker(&w, db);
			w.bgw_restart_time = 5;
			RegisterBackgroundWorker(&w);
		}
	}
}

/* start_workers(n): n dynamic workers for this database; returns how many run. */
Datum
cyoda_wf_start_workers(PG_FUNCTION_ARGS)
{
	int			n = PG_ARGISNULL(0) ? 2 : PG_GETARG_INT32(0);
	int			started = 0;
	int			running = 0;
	int			rc;

	if (n < 0 || n > 64)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("number of workers must be between 0 and 64, not %d", n)));
	for (int i = 0; i < n; i++)
	{
		BackgroundWorker w;
		BackgroundWorkerHandle *handle;
		pid_t		pid;

		cw_fill_worker(&w, NULL);
		snprintf(w.bgw_name, BGW_MAXLEN, "cyoda_wf worker for %s",
				 get_database_name(MyDatabaseId));
		w.bgw_restart_time = BGW_NEVER_RESTART;
		w.bgw_main_arg = ObjectIdGetDatum(MyDatabaseId);
		w.bgw_notify_pid = MyProcPid;
		if (!RegisterDynamicBackgroundWorker(&w, &handle))
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("could not start cyoda_wf worker %d of %d", i + 1, n),
					 errhint("Raise max_worker_processes (now %d) and restart the server.",
							 max_worker_processes)));
		if (WaitForBackgroundWorkerStartup(handle, &pid) != BGWH_STARTED)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
					 errmsg("cyoda_wf worker %d of %d did not start", i + 1, n),
					 errhint("Check the server log.")));
		started++;
	}

	/* how many serve this database now (the new ones register themselves) */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	for (int tries = 0; tries < 100; tries++)
	{
		pgstat_clear_backend_activity_snapshot();
		rc = SPI_execute("SELECT pg_catalog.count(*)::int FROM pg_catalog.pg_stat_activity "
						 "WHERE backend_type OPERATOR(pg_catalog.=) 'cyoda_wf worker' "
						 "AND datid OPERATOR(pg_catalog.=) "
						 "(SELECT oid FROM pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database())",
						 true, 1);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
		{
			bool		isnull;

			running = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		}
		if (running >= started)
			break;
		pg_usleep(10000L);
	}
	SPI_finish();
	PG_RETURN_INT32(running);
}
