/*-------------------------------------------------------------------------
 * workers.c
 *		Background workers that run queued tasks and due timers: starting
 *		them, and waking them when a transaction that queued work commits.
 *		What a worker does once started is in worker_main.c.
 *
 * Static workers start with the server when cyoda_wf is preloaded
 * (cyoda_wf.workers per database named in cyoda_wf.database_name); dynamic
 * ones are started by cyoda_wf.start_workers() for the current database.
 * A worker records itself in cyoda_wf.worker; a transaction that queues work
 * sets the latches of those workers when it commits, so they start at once
 * (cw_workers_wake_on_commit, called by store_tasks.c and tasks.c); it warns
 * when an async transition is queued in a database no worker serves.
 *
 * Each static worker has a flag in shared memory that says "my database
 * was missing when I last tried to connect".  A worker that finds it set
 * does not connect to the database (which would end it with a FATAL, and
 * the postmaster would start it again every few seconds): worker_main.c
 * waits for the database with a back-off instead.
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
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "storage/procarray.h"
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

int			cw_workers = 2;
char	   *cw_database_name = NULL;
int			cw_worker_idle_ms = 5000;

/* Static workers were registered (cyoda_wf preloaded, cyoda_wf.workers > 0). */
static bool static_workers = false;

/* Worker pids to wake when this transaction commits. */
static bool wake_pending = false;
static bool unserved_warned = false;	/* this transaction warned already */
static bool worker_here = false;	/* a live worker serves this database */
static int	nwake = 0;
static int	wake_pids[64];
static SPIPlanPtr plan_workers = NULL;

/* Static workers (one "database missing" flag each), and the shared flags. */
static int	nstatic = 0;
static pg_atomic_uint32 *db_missing = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
cw_workers_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(mul_size(Max(nstatic, 1), sizeof(pg_atomic_uint32)));
}

static void
cw_workers_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	db_missing = ShmemInitStruct("cyoda_wf workers",
								 mul_size(Max(nstatic, 1), sizeof(pg_atomic_uint32)), &found);
	if (!found)
		for (int i = 0; i < Max(nstatic, 1); i++)
			pg_atomic_init_u32(&db_missing[i], 0);
	LWLockRelease(AddinShmemInitLock);
}

/* Static worker `slot` found its database missing last time (false: unknown slot). */
bool
cw_workers_db_missing(int slot)
{
	return db_missing != NULL && slot >= 0 && slot < nstatic &&
		pg_atomic_read_u32(&db_missing[slot]) != 0;
}

/* Record whether static worker `slot`'s database is missing. */
void
cw_workers_set_db_missing(int slot, bool missing)
{
	if (db_missing != NULL && slot >= 0 && slot < nstatic)
		pg_atomic_write_u32(&db_missing[slot], missing ? 1 : 0);
}

/* Commit callback: wake the workers of this database when work was queued. */
static void
cw_workers_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && wake_pending)
	{
		for (int i = 0; i < nwake; i++)
		{
			PGPROC	   *proc = BackendPidGetProc(wake_pids[i]);

			if (proc != NULL)
				SetLatch(&proc->procLatch);
		}
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		wake_pending = false;
		unserved_warned = false;
		nwake = 0;
	}
}

/* Whether static workers serve this database (it is in cyoda_wf.database_name). */
static bool
cw_static_workers_here(void)
{
	char	   *rawnames;
	List	   *names;
	ListCell   *lc;
	const char *db = get_database_name(MyDatabaseId);

	if (!static_workers || db == NULL)
		return false;
	rawnames = pstrdup(cw_database_name ? cw_database_name : "postgres");
	if (!SplitIdentifierString(rawnames, ',', &names))
		return false;
	foreach(lc, names)
		if (strcmp((const char *) lfirst(lc), db) == 0)
			return true;
	return false;
}

/*
 * Async work was queued in a database no worker serves: say so, once per
 * transaction.
 */
static void
cw_warn_unserved(void)
{
	if (unserved_warned)
		return;
	unserved_warned = true;
	if (worker_here || cw_static_workers_here())
		return;
	ereport(WARNING,
			(errmsg("no cyoda_wf worker serves database \"%s\": the queued task waits",
					get_database_name(MyDatabaseId)),
			 errdetail("Asynchronous processes and timers run in background workers or in CALL cyoda_wf.run_tasks()."),
			 errhint("Add the database to cyoda_wf.database_name (then restart), run cyoda_wf.start_workers(), or CALL cyoda_wf.run_tasks().")));
}

/*
 * A save queued tasks: remember which workers of this database to wake when
 * the transaction commits.  With process (an async transition was queued),
 * warn when no worker serves this database.  Called inside an SPI
 * connection (store_tasks.c).
 */
void
cw_workers_wake_on_commit(bool process)
{
	int			rc;

	if (wake_pending)
	{
		if (process)
			cw_warn_unserved();
		return;
	}
	wake_pending = true;
	worker_here = false;
	nwake = 0;
	rc = SPI_execute_plan(cw_kept_plan(&plan_workers,
									   "SELECT pid FROM cyoda_wf.worker WHERE database "
									   "OPERATOR(pg_catalog.=) pg_catalog.current_database()",
									   0, NULL),
						  NULL, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	for (uint64 i = 0; i < SPI_processed && nwake < lengthof(wake_pids); i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

		if (isnull)
			continue;
		if (DatumGetInt32(d) == MyProcPid)
			worker_here = true; /* a worker queues work for itself */
		else if (BackendPidGetProc(DatumGetInt32(d)) != NULL)
		{
			wake_pids[nwake++] = DatumGetInt32(d);
			worker_here = true;
		}
	}
	if (process)
		cw_warn_unserved();
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

	RegisterXactCallback(cw_workers_xact_callback, NULL);
	if (!process_shared_preload_libraries_in_progress || cw_workers <= 0)
		return;
	static_workers = true;
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
			/* its flag, and whether it is the first worker of its database */
			w.bgw_main_arg = Int32GetDatum(nstatic * 2 + (i == 0 ? 1 : 0));
			nstatic++;
			RegisterBackgroundWorker(&w);
		}
	}
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = cw_workers_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = cw_workers_shmem_startup;
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
