/*-------------------------------------------------------------------------
 * dispatch.c
 *		Calling process and criterion functions named by workflows.
 *
 * A processor named P is the function P(meta jsonb, data jsonb) RETURNS
 * jsonb in the workflow's function schema; a criterion function C is
 * C(meta jsonb, data jsonb) RETURNS boolean.  Names are resolved in that
 * schema only (never through search_path), once, and the FmgrInfo is kept
 * in the compiled model until pg_proc changes.  Functions run as the role
 * that imported the workflow.
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

/*
 * The schema whose search_path ("pg_catalog, schema, pg_temp") the running
 * save has already set for its functions (engine.c), or NULL: calls of
 * functions of that schema need not set it again.
 */
const char *cw_dispatch_pinned_schema = NULL;

/* Bumped whenever pg_proc changes: cached resolutions older than it are redone. */
static uint64 dispatch_gen = 1;

static void
cw_proc_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	dispatch_gen++;
}

/* Register the pg_proc invalidation callback; called once from _PG_init. */
void
cw_dispatch_init(void)
{
	CacheRegisterSyscacheCallback(PROCOID, cw_proc_callback, (Datum) 0);
}

/* The CREATE FUNCTION a user should write for a missing function. */
static char *
cw_create_hint(CwFunc *fn)
{
	return psprintf("Create it, for example:\n"
					"CREATE FUNCTION %s.%s(meta jsonb, data jsonb) RETURNS %s\n"
					"LANGUAGE plpython3u TRANSFORM FOR TYPE jsonb AS $$\n"
					"    return %s\n$$;",
					quote_identifier(fn->schema), quote_identifier(fn->name),
					fn->is_criterion ? "boolean" : "jsonb",
					fn->is_criterion ? "True" : "data");
}

/* Resolve fn to a function OID and FmgrInfo, unless already current. */
void
cw_resolve_function(CwFunc *fn)
{
	Oid			argtypes[2] = {JSONBOID, JSONBOID};
	Oid			nsp;
	Oid			oid = InvalidOid;
	Oid			rettype;
	Oid			want = fn->is_criterion ? BOOLOID : JSONBOID;
	const char *what = fn->is_criterion ? "criterion" : "process";

	if (fn->resolved_gen == dispatch_gen)
		return;

	nsp = get_namespace_oid(fn->schema, true);
	if (OidIsValid(nsp))
		oid = LookupFuncName(list_make2(makeString((char *) fn->schema),
										makeString((char *) fn->name)),
							 2, argtypes, true);
	if (!OidIsValid(oid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("%s function %s.%s(meta jsonb, data jsonb) does not exist",
						what, quote_identifier(fn->schema), quote_identifier(fn->name)),
				 errdetail("Workflows call the function named after each %s, in the workflow's function schema.", what),
				 errhint("%s", cw_create_hint(fn))));

	rettype = get_func_rettype(oid);
	if (rettype != want || get_func_retset(oid))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s function %s.%s(meta jsonb, data jsonb) must return %s",
						what, quote_identifier(fn->schema), quote_identifier(fn->name),
						format_type_be(want)),
				 errhint("%s", cw_create_hint(fn))));

	fn->oid = oid;
	fmgr_info_cxt(oid, &fn->finfo, fn->cxt);
	fn->resolved_gen = dispatch_gen;
}

/* Call fn(meta, data) as role `owner`; *isnull set when it returned NULL. */
static Datum
cw_call(CwFunc *fn, Oid owner, Jsonb *meta, Jsonb *data, bool *isnull)
{
	LOCAL_FCINFO(fcinfo, 2);
	Oid			save_userid;
	int			save_sec;
	int			save_nestlevel;
	Datum		result;

	cw_resolve_function(fn);

	InitFunctionCallInfoData(*fcinfo, &fn->finfo, 2, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = JsonbPGetDatum(meta);
	fcinfo->args[0].isnull = false;
	fcinfo->args[1].value = JsonbPGetDatum(data);
	fcinfo->args[1].isnull = false;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	if (OidIsValid(owner) && owner != save_userid)
	{
		if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(owner)))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("the role that imported the workflow calling %s.%s no longer exists",
							quote_identifier(fn->schema), quote_identifier(fn->name)),
					 errhint("Import the workflow again as an existing role: processes run as their importer.")));
		SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	}
	/* never resolve names through the saving role's search_path */
	save_nestlevel = -1;
	if (cw_dispatch_pinned_schema == NULL || strcmp(cw_dispatch_pinned_schema, fn->schema) != 0)
	{
		save_nestlevel = NewGUCNestLevel();
		(void) set_config_option("search_path",
								 psprintf("pg_catalog, %s, pg_temp", quote_identifier(fn->schema)),
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	}
	PG_TRY();
	{
		result = FunctionCallInvoke(fcinfo);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	if (save_nestlevel >= 0)
		AtEOXact_GUC(true, save_nestlevel);
	*isnull = fcinfo->isnull;
	return result;
}

/* Run a process: its new data, or NULL when it left the data unchanged. */
Jsonb *
cw_call_process(CwFunc *fn, Oid owner, Jsonb *meta, Jsonb *data)
{
	bool		isnull;
	Datum		d = cw_call(fn, owner, meta, data, &isnull);

	if (isnull)
		return NULL;
	return DatumGetJsonbP(d);
}

/* Run a criterion function: NULL counts as not matched. */
bool
cw_call_criterion(CwFunc *fn, Oid owner, Jsonb *meta, Jsonb *data)
{
	bool		isnull;
	Datum		d = cw_call(fn, owner, meta, data, &isnull);

	return !isnull && DatumGetBool(d);
}
