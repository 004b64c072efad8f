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
 * cyoda_wf.worker_idle_ms).
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"

#include "access/xact.h"
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
#include "storage/proc.h"
#include "utils/backend_status.h"
#include "utils/memutils.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/varlena.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(start_workers);

PGDLLEXPORT void cw_worker_main(Datum arg);

int			cw_workers = 2;
char	   *cw_database_name = NULL;
int			cw_worker_idle_ms = 5000;

/* Record or remove this worker in cyoda_wf.worker; false when not installed. */
static bool
cw_worker_register(const char *kind, int64 done)
{
	bool		installed;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	installed = OidIsValid(get_extension_oid("cyoda_wf", true));
	if (installed)
	{
		Datum		a[3];
		Oid			t[3] = {INT4OID, TEXTOID, INT8OID};
		int			rc;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		a[0] = Int32GetDatum(MyProcPid);
		a[1] = CStringGetTextDatum(kind);
		a[2] = Int64GetDatum(done);
		if (done < 0)
			rc = SPI_execute_with_args(
				"DELETE FROM cyoda_wf.worker w WHERE w.pid = $1 OR NOT EXISTS "
				"(SELECT 1 FROM pg_catalog.pg_stat_activity a WHERE a.pid = w.pid)",
				1, t, a, NULL, false, 0);
		else
			rc = SPI_execute_with_args(
				"INSERT INTO cyoda_wf.worker (pid, database, kind, tasks_done, last_active_at) "
				"VALUES ($1, pg_catalog.current_database(), $2, $3, pg_catalog.now()) "
				"ON CONFLICT (pid) DO UPDATE SET tasks_done = EXCLUDED.tasks_done, "
				"last_active_at = EXCLUDED.last_active_at, kind = EXCLUDED.kind",
				3, t, a, NULL, false, 0);
		if (rc < 0)
			elog(ERROR, "cyoda_wf worker registration failed: %s", SPI_result_code_string(rc));
		SPI_finish();
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	return installed;
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
	pgstat_report_appname("cyoda_wf worker");
	before_shmem_exit(cw_worker_exit, (Datum) 0);

	/* wait for the extension to exist in this database */
	cw_worker_register(kind, -1);
	while (!cw_worker_register(kind, 0))
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}

	/*
	 * An error outside a task's own subtransaction (a lock timeout, running
	 * out of memory, ...) must not end the worker: report it, clean up and
	 * carry on after a pause, as the server's own workers do.
	 */
	if (sigsetjmp(local_sigjmp_buf, 1) != 0)
	{
		error_context_stack = NULL;
		HOLD_INTERRUPTS();
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
		bool		did;
		int64		wait_ms;

		/* run everything that is due, one task per transaction */
		do
		{
			CHECK_FOR_INTERRUPTS();
			SetCurrentStatementStartTimestamp();
			StartTransactionCommand();
			PushActiveSnapshot(GetTransactionSnapshot());
			pgstat_report_activity(STATE_RUNNING, "cyoda_wf: running a task");
			did = cw_task_run_one();
			PopActiveSnapshot();
			CommitTransactionCommand();
			if (did)
				done++;
		} while (did);

		if (done != reported)
		{
			cw_worker_register(kind, done);
			reported = done;
		}

		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		if (++sweeps % 64 == 1)
			cw_task_sweep();
		wait_ms = cw_task_next_due_ms();
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);

		if (wait_ms < 0 || wait_ms > cw_worker_idle_ms)
			wait_ms = cw_worker_idle_ms;
		if (wait_ms > 0)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 (long) wait_ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
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
start_workers(PG_FUNCTION_ARGS)
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
