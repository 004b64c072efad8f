/*-------------------------------------------------------------------------
 * schedules.c
 *		Scheduled JOB sources: pg_cron jobs that create entities.
 *
 * schedule_job makes a pg_cron job whose command is exactly
 *		SELECT cyoda_wf.add_scheduled_item('<model>', <version>, '<data>'::jsonb)
 * (literals quoted), in this database, run as the role that called it.  A
 * role granted EXECUTE on schedule_job needs no rights on pg_cron: the job
 * row is written through pg_cron's own cron.schedule_in_database, called as
 * the owner of pg_cron's job table with the caller as the job's user, so the
 * role can schedule nothing but that call and can run it only as itself.
 *
 * pg_cron keeps its jobs in one database of the cluster (cron.database_name).
 * Called in another database, schedule_job and unschedule_job reach it
 * through a short-lived dynamic background worker connected there AS THE
 * CALLING ROLE (which must have CONNECT on it): the arguments and the
 * result (job id or count, or the error's SQLSTATE, message, detail and
 * hint, raised again in the caller) travel in a DSM segment; the caller
 * waits for the worker to exit, interruptibly (a cancel stops the worker).
 * The worker does there exactly what the direct path does here, for the
 * caller's database, and commits on its own: a ROLLBACK of the caller does
 * not undo the job it made or removed.
 *
 * The jobs are recognized by that command in cron.job.  They are removed
 * when the extension is dropped, however the drop reaches it (DROP
 * EXTENSION, with CASCADE from an extension it requires, DROP SCHEMA ...
 * CASCADE, DROP OWNED BY its owner), in the dropping transaction, so a drop
 * that fails keeps them: an object access hook sees the extension's own
 * deletion.  The hook is installed when this library is loaded; an event
 * trigger of the extension on those DROP commands makes sure it is loaded
 * in the dropping session, also without shared_preload_libraries.
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/snapmgr.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/catcache.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(cyoda_wf_schedule_job);
PG_FUNCTION_INFO_V1(cyoda_wf_unschedule_job);
PG_FUNCTION_INFO_V1(cyoda_wf_drop_schedules);

PGDLLEXPORT void cw_cron_worker_main(Datum arg);

static object_access_hook_type prev_object_access_hook = NULL;

/* Every job schedule_job makes has a command that starts so. */
#define CW_JOB_PREFIX "SELECT cyoda_wf.add_scheduled_item("

#if PG_VERSION_NUM >= 160000
#define cw_proc_aclcheck(f, r) object_aclcheck(ProcedureRelationId, (f), (r), ACL_EXECUTE)
#define cw_nsp_aclcheck(n, r) object_aclcheck(NamespaceRelationId, (n), (r), ACL_USAGE)
#define cw_db_aclcheck(d, r) object_aclcheck(DatabaseRelationId, (d), (r), ACL_CONNECT)
#else
#define cw_proc_aclcheck(f, r) pg_proc_aclcheck((f), (r), ACL_EXECUTE)
#define cw_nsp_aclcheck(n, r) pg_namespace_aclcheck((n), (r), ACL_USAGE)
#define cw_db_aclcheck(d, r) pg_database_aclcheck((d), (r), ACL_CONNECT)
#endif

/* Is pg_cron installed in this database? */
static bool
cw_cron_installed(void)
{
	return OidIsValid(get_extension_oid("pg_cron", true));
}

/* Does pg_cron have cron.schedule_in_database (1.4 and later)?  No ACL check. */
static bool
cw_cron_has_schedule_in_database(void)
{
	Oid			nsp = get_namespace_oid("cron", true);
	CatCList   *procs;
	bool		found = false;

	if (!OidIsValid(nsp))
		return false;
	procs = SearchSysCacheList1(PROCNAMEARGSNSP, CStringGetDatum("schedule_in_database"));
	for (int i = 0; i < procs->n_members && !found; i++)
		found = ((Form_pg_proc) GETSTRUCT(&procs->members[i]->tuple))->pronamespace == nsp;
	ReleaseSysCacheList(procs);
	return found;
}

/*
 * The owner of pg_cron's job table: job rows are written as it, as pg_cron
 * does.  InvalidOid when the table is missing and missing_ok.
 */
static Oid
cw_cron_owner(bool missing_ok)
{
	Oid			nsp = get_namespace_oid("cron", true);
	Oid			rel = OidIsValid(nsp) ? get_relname_relid("job", nsp) : InvalidOid;
	HeapTuple	tup;
	Oid			owner;

	if (!OidIsValid(rel) && missing_ok)
		return InvalidOid;
	if (!OidIsValid(rel))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_cron's table cron.job does not exist in database \"%s\"",
						get_database_name(MyDatabaseId)),
				 errdetail("The extension pg_cron is registered, but its job table is missing."),
				 errhint("Reinstall pg_cron in this database.")));
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(rel));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", rel);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Run `sql` (parameters $1..$n of type text) on pg_cron's tables as `role`;
 * returns SPI_processed and, when `first` is given, column 1 of the first row
 * as int8 (0 when there is none).
 */
static uint64
cw_cron_exec(Oid role, const char *sql, int nargs, Datum *args, int expect, int64 *first)
{
	Oid			save_userid;
	int			save_sec;
	Oid			types[6] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	volatile uint64 n = 0;

	Assert(nargs <= lengthof(types));
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(role, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		int			rc;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		rc = SPI_execute_with_args(sql, nargs, types, args, NULL, false, 0);
		if (rc != expect)
			elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
		n = SPI_processed;
		if (first != NULL)
		{
			bool		isnull = true;
			Datum		d = (Datum) 0;

			if (n > 0)
				d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
			*first = isnull ? 0 : DatumGetInt64(d);
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	return n;
}

/*
 * The role a job of `caller` runs as must be able to run it: log in (pg_cron
 * connects as it), use schema cyoda_wf and execute add_scheduled_item.
 */
static void
cw_check_job_role(Oid caller)
{
	const char *name = GetUserNameFromId(caller, false);
	HeapTuple	tup;
	bool		canlogin;
	Oid			argtypes[3] = {TEXTOID, INT4OID, JSONBOID};
	Oid			nsp = get_namespace_oid(CW_SCHEMA, false);
	Oid			fn;

	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(caller));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for role %u", caller);
	canlogin = ((Form_pg_authid) GETSTRUCT(tup))->rolcanlogin;
	ReleaseSysCache(tup);
	if (!canlogin)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" cannot run pg_cron jobs: it cannot log in", name),
				 errdetail("A job made by schedule_job runs as the role that made it, and pg_cron connects as that role."),
				 errhint("Call schedule_job as a role with the LOGIN attribute.")));

	fn = LookupFuncName(list_make2(makeString(CW_SCHEMA), makeString("add_scheduled_item")),
						3, argtypes, false);
	if (cw_nsp_aclcheck(nsp, caller) != ACLCHECK_OK ||
		cw_proc_aclcheck(fn, caller) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" may not run the job it schedules", name),
				 errdetail("Every tick runs cyoda_wf.add_scheduled_item(text, integer, jsonb) as \"%s\".", name),
				 errhint("GRANT USAGE ON SCHEMA cyoda_wf TO %s; GRANT EXECUTE ON FUNCTION cyoda_wf.add_scheduled_item(text, integer, jsonb) TO %s;",
						 quote_identifier(name), quote_identifier(name))));
}

/*
 * Here, in pg_cron's database: create (or replace) the job of `caller` named
 * job_name that runs `cmd` in database `dbname`; returns its id.  What
 * schedule_job does once it knows where pg_cron is.
 */
static int64
cw_cron_schedule_here(const char *dbname, Oid caller, Datum job_name, Datum schedule,
					  const char *cmd)
{
	const char *here = get_database_name(MyDatabaseId);
	const char *user = GetUserNameFromId(caller, false);
	Oid			run_as;
	Datum		args[5];
	int64		existing;
	int64		jobid;

	if (!cw_cron_installed())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cyoda_wf.schedule_job needs the pg_cron extension in database \"%s\"", here),
				 errdetail("The extension pg_cron is not installed in the database named by cron.database_name."),
				 errhint("Add pg_cron to shared_preload_libraries, restart, then CREATE EXTENSION pg_cron in database \"%s\".", here)));
	if (!cw_cron_has_schedule_in_database())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_cron in database \"%s\" is older than version 1.4", here),
				 errdetail("schedule_job uses cron.schedule_in_database."),
				 errhint("ALTER EXTENSION pg_cron UPDATE; in database \"%s\"", here)));

	/* superusers write their own job; others through pg_cron's table owner */
	run_as = superuser_arg(caller) ? caller : cw_cron_owner(false);
	if (!superuser_arg(run_as))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("schedule_job cannot create a pg_cron job for role \"%s\"", user),
				 errdetail("The owner of cron.job, \"%s\", is not a superuser.",
						   GetUserNameFromId(run_as, false)),
				 errhint("Call schedule_job as a superuser.")));

	args[0] = job_name;
	args[1] = CStringGetTextDatum(user);
	args[2] = CStringGetTextDatum(dbname);

	/* a job of that name the caller made otherwise is not replaced */
	if (cw_cron_exec(run_as,
					 "SELECT j.jobid FROM cron.job j WHERE j.jobname::pg_catalog.text OPERATOR(pg_catalog.=) $1 "
					 "AND j.username OPERATOR(pg_catalog.=) $2 "
					 "AND NOT (j.database OPERATOR(pg_catalog.=) $3 "
					 "AND pg_catalog.starts_with(j.command, '" CW_JOB_PREFIX "'))",
					 3, args, SPI_OK_SELECT, &existing) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("pg_cron job \"%s\" of role \"%s\" was not made by schedule_job",
						TextDatumGetCString(job_name), user),
				 errdetail("Its job id is " INT64_FORMAT ".", existing),
				 errhint("Choose another job_name.")));

	args[0] = job_name;
	args[1] = schedule;
	args[2] = CStringGetTextDatum(cmd);
	args[3] = CStringGetTextDatum(dbname);
	args[4] = CStringGetTextDatum(user);
	cw_cron_exec(run_as,
				 "SELECT cron.schedule_in_database($1, $2, $3, $4, $5, true)",
				 5, args, SPI_OK_SELECT, &jobid);
	return jobid;
}

/*
 * Here, in pg_cron's database: remove the schedule_job jobs of database
 * `dbname`: the one of `caller` named job_name, or (job_name 0) all of them,
 * whoever made them.  Returns how many.
 */
static int64
cw_cron_unschedule_here(const char *dbname, Oid caller, Datum job_name)
{
	Datum		args[3];
	Oid			owner;

	if (!cw_cron_installed())
		return 0;
	/* pg_cron's table may be going in the same DROP */
	owner = cw_cron_owner(true);
	if (!OidIsValid(owner))
		return 0;
	args[0] = CStringGetTextDatum(dbname);
	if (job_name == (Datum) 0)
		return (int64) cw_cron_exec(owner,
									"DELETE FROM cron.job j "
									"WHERE j.database OPERATOR(pg_catalog.=) $1 "
									"AND pg_catalog.starts_with(j.command, '" CW_JOB_PREFIX "')",
									1, args, SPI_OK_DELETE, NULL);
	args[1] = job_name;
	args[2] = CStringGetTextDatum(GetUserNameFromId(caller, false));
	return (int64) cw_cron_exec(superuser_arg(caller) ? caller : owner,
								"DELETE FROM cron.job j WHERE j.database OPERATOR(pg_catalog.=) $1 "
								"AND j.jobname::pg_catalog.text OPERATOR(pg_catalog.=) $2 "
								"AND j.username OPERATOR(pg_catalog.=) $3 "
								"AND pg_catalog.starts_with(j.command, '" CW_JOB_PREFIX "')",
								3, args, SPI_OK_DELETE, NULL);
}

/*
 * A call to pg_cron's database, in a DSM segment: the fixed part, then the
 * NUL-terminated job name, schedule and command at the offsets given.
 */
typedef enum CwCronOp
{
	CW_CRON_SCHEDULE,
	CW_CRON_UNSCHEDULE,
	CW_CRON_UNSCHEDULE_ALL
} CwCronOp;

typedef enum CwCronState
{
	CW_CRON_PENDING,
	CW_CRON_DONE,
	CW_CRON_FAILED
} CwCronState;

#define CW_CRON_MSGLEN 1024

typedef struct CwCronCall
{
	CwCronOp	op;
	Oid			crondb;			/* the worker connects to it ... */
	Oid			caller;			/* ... as this role */
	char		dbname[NAMEDATALEN];	/* the database the jobs run in */
	Size		job_name;		/* offsets of the strings */
	Size		schedule;
	Size		cmd;
	/* written by the worker */
	CwCronState state;
	int64		result;
	int			sqlerrcode;
	char		message[CW_CRON_MSGLEN];
	char		detail[CW_CRON_MSGLEN];
	char		hint[CW_CRON_MSGLEN];
} CwCronCall;

#define CW_CRON_STR(c, off) ((char *) (c) + (off))

/* Copy an error into the call for the caller to raise. */
static void
cw_cron_call_failed(CwCronCall *call, ErrorData *e)
{
	call->sqlerrcode = e->sqlerrcode;
	strlcpy(call->message, e->message ? e->message : "", CW_CRON_MSGLEN);
	strlcpy(call->detail, e->detail ? e->detail : "", CW_CRON_MSGLEN);
	strlcpy(call->hint, e->hint ? e->hint : "", CW_CRON_MSGLEN);
	pg_write_barrier();
	call->state = CW_CRON_FAILED;
}

/*
 * The background worker of a call: connected to pg_cron's database as the
 * calling role, runs the call in one transaction and leaves the result or
 * the error in the segment.
 */
void
cw_cron_worker_main(Datum arg)
{
	dsm_segment *seg;
	CwCronCall *call;
	MemoryContext cxt;

	BackgroundWorkerUnblockSignals();
	seg = dsm_attach(DatumGetUInt32(arg));
	if (seg == NULL)
		proc_exit(0);			/* the caller is gone */
	call = (CwCronCall *) dsm_segment_address(seg);
	BackgroundWorkerInitializeConnectionByOid(call->crondb, call->caller, 0);
	pgstat_report_appname("cyoda_wf cron call");

	cxt = CurrentMemoryContext;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	PG_TRY();
	{
		int64		r;

		if (call->op == CW_CRON_SCHEDULE)
			r = cw_cron_schedule_here(call->dbname, call->caller,
									  CStringGetTextDatum(CW_CRON_STR(call, call->job_name)),
									  CStringGetTextDatum(CW_CRON_STR(call, call->schedule)),
									  CW_CRON_STR(call, call->cmd));
		else
			r = cw_cron_unschedule_here(call->dbname, call->caller,
										call->op == CW_CRON_UNSCHEDULE_ALL ? (Datum) 0
										: CStringGetTextDatum(CW_CRON_STR(call, call->job_name)));
		PopActiveSnapshot();
		CommitTransactionCommand();
		call->result = r;
		pg_write_barrier();
		call->state = CW_CRON_DONE;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		cw_cron_call_failed(call, CopyErrorData());
		FlushErrorState();
		AbortCurrentTransaction();
	}
	PG_END_TRY();
	dsm_detach(seg);
	proc_exit(0);
}

/* Raise (or, for a drop, only warn about) the outcome of a failed call. */
static void
cw_cron_raise(int elevel, int sqlerrcode, const char *message, const char *detail,
			  const char *hint)
{
	ereport(elevel,
			(errcode(sqlerrcode),
			 errmsg_internal("%s", message),
			 detail[0] ? errdetail_internal("%s", detail) : 0,
			 hint[0] ? errhint("%s", hint) : 0));
}

/* Was the catalog row of `oid` (a role or database) written by this transaction? */
static bool
cw_changed_here(int cacheid, Oid oid)
{
	HeapTuple	tup = SearchSysCache1(cacheid, ObjectIdGetDatum(oid));
	bool		here = false;

	if (HeapTupleIsValid(tup))
	{
		here = TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tup->t_data));
		ReleaseSysCache(tup);
	}
	return here;
}

/* A DSM segment holding a call: its fixed part, then its strings. */
static dsm_segment *
cw_cron_call_new(CwCronOp op, Oid dbid, Oid caller, Datum job_name, Datum schedule,
				 const char *cmd)
{
	const char *strs[3];
	Size		size = sizeof(CwCronCall);
	Size		off = sizeof(CwCronCall);
	dsm_segment *seg;
	CwCronCall *call;
	Size	   *offs[3];

	strs[0] = job_name ? TextDatumGetCString(job_name) : "";
	strs[1] = schedule ? TextDatumGetCString(schedule) : "";
	strs[2] = cmd ? cmd : "";
	for (int i = 0; i < 3; i++)
		size += strlen(strs[i]) + 1;
	seg = dsm_create(size, 0);
	call = (CwCronCall *) dsm_segment_address(seg);
	memset(call, 0, sizeof(CwCronCall));
	call->op = op;
	call->crondb = dbid;
	call->caller = caller;
	strlcpy(call->dbname, get_database_name(MyDatabaseId), NAMEDATALEN);
	call->state = CW_CRON_PENDING;
	offs[0] = &call->job_name;
	offs[1] = &call->schedule;
	offs[2] = &call->cmd;
	for (int i = 0; i < 3; i++)
	{
		*offs[i] = off;
		strcpy(CW_CRON_STR(call, off), strs[i]);
		off += strlen(strs[i]) + 1;
	}
	return seg;
}

/*
 * Run a call in pg_cron's database `crondb` through a background worker
 * connected there as the calling role; returns its result.  Its errors are
 * raised here with their SQLSTATE, or, when `elevel` is WARNING, reported
 * as warnings (the result is then 0).
 */
static int64
cw_cron_remote(const char *crondb, CwCronOp op, Datum job_name, Datum schedule,
			   const char *cmd, int elevel)
{
	Oid			caller = GetUserId();
	Oid			dbid = get_database_oid(crondb, true);
	dsm_segment *seg;
	CwCronCall *call;
	BackgroundWorker w;
	BackgroundWorkerHandle *handle;
	BgwHandleStatus status;
	int64		result = 0;

	if (!OidIsValid(dbid))
	{
		cw_cron_raise(elevel, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
					  psprintf("pg_cron's database \"%s\" does not exist", crondb),
					  "cron.database_name names the database that holds pg_cron's jobs.",
					  "Create that database with the extension pg_cron, or set cron.database_name to one that has it, and restart.");
		return 0;
	}
	if (cw_db_aclcheck(dbid, caller) != ACLCHECK_OK)
	{
		const char *user = GetUserNameFromId(caller, false);

		cw_cron_raise(elevel, ERRCODE_INSUFFICIENT_PRIVILEGE,
					  psprintf("role \"%s\" cannot connect to pg_cron's database \"%s\"", user, crondb),
					  psprintf("pg_cron keeps its jobs in database \"%s\" (cron.database_name); cyoda_wf reaches it as the calling role.", crondb),
					  psprintf("GRANT CONNECT ON DATABASE %s TO %s;",
							   quote_identifier(crondb), quote_identifier(user)));
		return 0;
	}

	/* the worker sees only committed catalogs: the role and its rights */
	if (cw_changed_here(AUTHOID, caller) || cw_changed_here(DATABASEOID, dbid))
	{
		cw_cron_raise(elevel, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
					  psprintf("role \"%s\" or database \"%s\" was changed in this transaction",
							   GetUserNameFromId(caller, false), crondb),
					  "cyoda_wf reaches pg_cron's database with a background worker connected as the calling role, which sees only committed changes.",
					  "Commit the CREATE ROLE, ALTER ROLE or GRANT first.");
		return 0;
	}

	seg = cw_cron_call_new(op, dbid, caller, job_name, schedule, cmd);
	call = (CwCronCall *) dsm_segment_address(seg);

	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(w.bgw_library_name, BGW_MAXLEN, "cyoda_wf");
	snprintf(w.bgw_function_name, BGW_MAXLEN, "cw_cron_worker_main");
	snprintf(w.bgw_type, BGW_MAXLEN, "cyoda_wf cron call");
	snprintf(w.bgw_name, BGW_MAXLEN, "cyoda_wf cron call for %s", call->dbname);
	w.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	w.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&w, &handle))
	{
		dsm_detach(seg);
		cw_cron_raise(elevel, ERRCODE_CONFIGURATION_LIMIT_EXCEEDED,
					  "no background worker slot is free to reach pg_cron's database",
					  psprintf("pg_cron keeps its jobs in database \"%s\"; cyoda_wf reaches it with a short-lived background worker.", crondb),
					  "Raise max_worker_processes, or retry when fewer background workers run.");
		return 0;
	}

	/* a cancel or error while waiting stops the worker too */
	PG_TRY();
	{
		status = WaitForBackgroundWorkerShutdown(handle);
	}
	PG_CATCH();
	{
		TerminateBackgroundWorker(handle);
		PG_RE_THROW();
	}
	PG_END_TRY();
	pg_read_barrier();

	if (status == BGWH_POSTMASTER_DIED)
		ereport(FATAL,
				(errcode(ERRCODE_ADMIN_SHUTDOWN),
				 errmsg("the postmaster exited while cyoda_wf waited for pg_cron's database")));
	if (call->state == CW_CRON_DONE)
		result = call->result;
	else if (call->state == CW_CRON_FAILED)
		cw_cron_raise(elevel, call->sqlerrcode, call->message, call->detail, call->hint);
	else
		cw_cron_raise(elevel, ERRCODE_CONNECTION_FAILURE,
					  psprintf("the background worker that reaches pg_cron's database \"%s\" exited without a result", crondb),
					  "It connects to that database as the calling role; the server log says why it stopped.",
					  "Check that the role may log in and connect there (connection limits, pg_hba.conf does not apply).");
	dsm_detach(seg);
	return result;
}

/*
 * Where pg_cron keeps its jobs, for a call in this database: NULL when that
 * is this database (pg_cron installed here), else the name of pg_cron's
 * database.  Raises 55000 when there is no way to reach pg_cron.
 */
static const char *
cw_cron_database(bool missing_ok)
{
	const char *dbname = get_database_name(MyDatabaseId);
	/* pg_cron's setting is for superusers to read; we only use its value */
	const char *crondb = GetConfigOption("cron.database_name", true, false);

	if (crondb == NULL)
	{
		if (missing_ok)
			return cw_cron_installed() ? NULL : "";
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cyoda_wf.schedule_job needs the pg_cron extension, which is not loaded"),
				 errdetail("cron.database_name is not set: pg_cron is not in shared_preload_libraries."),
				 errhint("Add pg_cron to shared_preload_libraries, restart, then CREATE EXTENSION pg_cron in the database named by cron.database_name.")));
	}
	if (strcmp(crondb, dbname) == 0)
		return NULL;
	if (cw_cron_installed() && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_cron runs jobs in database \"%s\", not in \"%s\"", crondb, dbname),
				 errdetail("pg_cron is installed in this database too, but reads the jobs of the database named by cron.database_name only."),
				 errhint("DROP EXTENSION pg_cron in this database (schedule_job then reaches database \"%s\"), or set cron.database_name to this database and restart.", crondb)));
	return crondb;
}

/*
 * schedule_job(job_name, schedule, model, model_version, data DEFAULT '{}'):
 * create (or replace) the caller's pg_cron job that creates one entity per
 * tick; returns the job id.
 */
Datum
cyoda_wf_schedule_job(PG_FUNCTION_ARGS)
{
	Oid			caller = GetUserId();
	const char *crondb;
	char	   *model;
	int32		version;
	Jsonb	   *data;
	char	   *cmd;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("job_name, schedule, model and model_version must not be NULL"),
				 errhint("Pass a job name, a cron schedule such as '*/5 * * * *', a model and its version.")));
	model = text_to_cstring(PG_GETARG_TEXT_PP(2));
	version = PG_GETARG_INT32(3);
	data = PG_ARGISNULL(4) ? DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")))
		: PG_GETARG_JSONB_P(4);

	/* the role the job will run as may run it (checked before pg_cron's state) */
	cw_check_job_role(caller);

	cmd = psprintf(CW_JOB_PREFIX "%s, %d, %s::jsonb)",
				   quote_literal_cstr(model), version,
				   quote_literal_cstr(JsonbToCString(NULL, &data->root, VARSIZE(data))));
	crondb = cw_cron_database(false);
	if (crondb == NULL)
		PG_RETURN_INT64(cw_cron_schedule_here(get_database_name(MyDatabaseId), caller,
											  PG_GETARG_DATUM(0), PG_GETARG_DATUM(1), cmd));
	PG_RETURN_INT64(cw_cron_remote(crondb, CW_CRON_SCHEDULE, PG_GETARG_DATUM(0),
								   PG_GETARG_DATUM(1), cmd, ERROR));
}

/* unschedule_job(job_name): remove the caller's job made by schedule_job. */
Datum
cyoda_wf_unschedule_job(PG_FUNCTION_ARGS)
{
	const char *crondb;

	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	crondb = cw_cron_database(true);
	if (crondb == NULL)
		PG_RETURN_BOOL(cw_cron_unschedule_here(get_database_name(MyDatabaseId), GetUserId(),
											   PG_GETARG_DATUM(0)) > 0);
	if (crondb[0] == '\0')
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(cw_cron_remote(crondb, CW_CRON_UNSCHEDULE, PG_GETARG_DATUM(0), (Datum) 0,
								  NULL, ERROR) > 0);
}


/*
 * Remove the jobs schedule_job made for this database (whoever made them).
 * In pg_cron's database elsewhere, through the worker, as the dropping
 * role; that commits at once, and a failure there is only a warning (the
 * drop goes on; the jobs then fail at each tick until removed).
 */
static void
cw_remove_jobs(void)
{
	const char *crondb = cw_cron_database(true);

	if (crondb == NULL)
		cw_cron_unschedule_here(get_database_name(MyDatabaseId), InvalidOid, (Datum) 0);
	else if (crondb[0] != '\0')
		cw_cron_remote(crondb, CW_CRON_UNSCHEDULE_ALL, (Datum) 0, (Datum) 0, NULL, WARNING);
}

/*
 * Object access hook: when the cyoda_wf extension itself is deleted (after
 * its members, within the dropping transaction), remove its jobs.
 */
static void
cw_object_access(ObjectAccessType access, Oid classId, Oid objectId, int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);
	if (access == OAT_DROP && classId == ExtensionRelationId && subId == 0)
	{
		char	   *name = get_extension_name(objectId);

		if (name != NULL && strcmp(name, "cyoda_wf") == 0)
			cw_remove_jobs();
	}
}

/* Install the object access hook; called once from _PG_init. */
void
cw_schedules_init(void)
{
	prev_object_access_hook = object_access_hook;
	object_access_hook = cw_object_access;
}

/*
 * Event trigger at ddl_command_start of DROP EXTENSION, DROP SCHEMA and DROP
 * OWNED: nothing to do but to have been called, which loaded this library
 * and so installed the hook above in this session before the drop runs.
 */
Datum
cyoda_wf_drop_schedules(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "drop_schedules: not called by the event trigger manager");
	PG_RETURN_VOID();
}
