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

static object_access_hook_type prev_object_access_hook = NULL;

/* Every job schedule_job makes has a command that starts so. */
#define CW_JOB_PREFIX "SELECT cyoda_wf.add_scheduled_item("

#if PG_VERSION_NUM >= 160000
#define cw_proc_aclcheck(f, r) object_aclcheck(ProcedureRelationId, (f), (r), ACL_EXECUTE)
#define cw_nsp_aclcheck(n, r) object_aclcheck(NamespaceRelationId, (n), (r), ACL_USAGE)
#else
#define cw_proc_aclcheck(f, r) pg_proc_aclcheck((f), (r), ACL_EXECUTE)
#define cw_nsp_aclcheck(n, r) pg_namespace_aclcheck((n), (r), ACL_USAGE)
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
 * schedule_job(job_name, schedule, model, model_version, data DEFAULT '{}'):
 * create (or replace) the caller's pg_cron job that creates one entity per
 * tick; returns the job id.
 */
Datum
cyoda_wf_schedule_job(PG_FUNCTION_ARGS)
{
	const char *dbname = get_database_name(MyDatabaseId);
	const char *crondb;
	Oid			caller = GetUserId();
	Oid			run_as;
	char	   *model;
	int32		version;
	Jsonb	   *data;
	char	   *cmd;
	Datum		args[5];
	int64		existing;
	int64		jobid;

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

	if (!cw_cron_installed())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cyoda_wf.schedule_job needs the pg_cron extension in database \"%s\"", dbname),
				 errdetail("The extension pg_cron is not installed in this database."),
				 errhint("Add pg_cron to shared_preload_libraries, set cron.database_name to this database, restart, then CREATE EXTENSION pg_cron.")));

	/* pg_cron's setting is for superusers to read; we only compare it */
	crondb = GetConfigOption("cron.database_name", true, false);
	if (crondb == NULL || strcmp(crondb, dbname) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_cron runs jobs in database \"%s\", not in \"%s\"",
						crondb ? crondb : "postgres", dbname),
				 errdetail("pg_cron reads the jobs of the database named by cron.database_name only."),
				 errhint("Set cron.database_name to this database and restart the server.")));

	if (!cw_cron_has_schedule_in_database())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_cron in database \"%s\" is older than version 1.4", dbname),
				 errdetail("schedule_job uses cron.schedule_in_database."),
				 errhint("ALTER EXTENSION pg_cron UPDATE;")));

	/* superusers write their own job; others through pg_cron's table owner */
	run_as = superuser_arg(caller) ? caller : cw_cron_owner(false);
	if (!superuser_arg(run_as))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("schedule_job cannot create a pg_cron job for role \"%s\"",
						GetUserNameFromId(caller, false)),
				 errdetail("The owner of cron.job, \"%s\", is not a superuser.",
						   GetUserNameFromId(run_as, false)),
				 errhint("Call schedule_job as a superuser.")));

	args[0] = PG_GETARG_DATUM(0);
	args[1] = CStringGetTextDatum(GetUserNameFromId(caller, false));

	/* a job of that name the caller made otherwise is not replaced */
	if (cw_cron_exec(run_as,
					 "SELECT j.jobid FROM cron.job j WHERE j.jobname::pg_catalog.text OPERATOR(pg_catalog.=) $1 "
					 "AND j.username OPERATOR(pg_catalog.=) $2 "
					 "AND NOT (j.database OPERATOR(pg_catalog.=) pg_catalog.current_database() "
					 "AND pg_catalog.starts_with(j.command, '" CW_JOB_PREFIX "'))",
					 2, args, SPI_OK_SELECT, &existing) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("pg_cron job \"%s\" of role \"%s\" was not made by schedule_job",
						text_to_cstring(PG_GETARG_TEXT_PP(0)), GetUserNameFromId(caller, false)),
				 errdetail("Its job id is " INT64_FORMAT ".", existing),
				 errhint("Choose another job_name.")));

	cmd = psprintf(CW_JOB_PREFIX "%s, %d, %s::jsonb)",
				   quote_literal_cstr(model), version,
				   quote_literal_cstr(JsonbToCString(NULL, &data->root, VARSIZE(data))));
	args[0] = PG_GETARG_DATUM(0);
	args[1] = PG_GETARG_DATUM(1);
	args[2] = CStringGetTextDatum(cmd);
	args[3] = CStringGetTextDatum(GetUserNameFromId(caller, false));
	cw_cron_exec(run_as,
				 "SELECT cron.schedule_in_database($1, $2, $3, pg_catalog.current_database(), $4, true)",
				 4, args, SPI_OK_SELECT, &jobid);
	PG_RETURN_INT64(jobid);
}

/* unschedule_job(job_name): remove the caller's job made by schedule_job. */
Datum
cyoda_wf_unschedule_job(PG_FUNCTION_ARGS)
{
	Oid			caller = GetUserId();
	Datum		args[2];

	if (PG_ARGISNULL(0) || !cw_cron_installed())
		PG_RETURN_BOOL(false);
	args[0] = PG_GETARG_DATUM(0);
	args[1] = CStringGetTextDatum(GetUserNameFromId(caller, false));
	PG_RETURN_BOOL(cw_cron_exec(superuser_arg(caller) ? caller : cw_cron_owner(false),
								"DELETE FROM cron.job j WHERE j.jobname::pg_catalog.text OPERATOR(pg_catalog.=) $1 "
								"AND j.username OPERATOR(pg_catalog.=) $2 "
								"AND j.database OPERATOR(pg_catalog.=) pg_catalog.current_database() "
								"AND pg_catalog.starts_with(j.command, '" CW_JOB_PREFIX "')",
								2, args, SPI_OK_DELETE, NULL) > 0);
}


/* Remove the jobs schedule_job made in this database (whoever made them). */
static void
cw_remove_jobs(void)
{
	Oid			owner;

	if (!cw_cron_installed())
		return;
	/* pg_cron's table may be going in the same DROP */
	owner = cw_cron_owner(true);
	if (!OidIsValid(owner))
		return;
	cw_cron_exec(owner,
				 "DELETE FROM cron.job j "
				 "WHERE j.database OPERATOR(pg_catalog.=) pg_catalog.current_database() "
				 "AND pg_catalog.starts_with(j.command, '" CW_JOB_PREFIX "')",
				 0, NULL, SPI_OK_DELETE, NULL);
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
