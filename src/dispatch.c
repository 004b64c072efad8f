/*-------------------------------------------------------------------------
 * dispatch.c
 *		Calling process and criterion functions named by workflows.
 *
 * A processor named P is the function P(meta jsonb, data jsonb) RETURNS
 * jsonb in the workflow's function schema; a criterion function C is
 * C(meta jsonb, data jsonb) RETURNS boolean.  Names are resolved in that
 * schema only (never through search_path), once, and the FmgrInfo is kept
 * in the compiled model until pg_proc changes.
 *
 * This is the security boundary between the role that saves an entity and
 * the role that imported its workflow.  A function runs only while the
 * importer may run it (EXECUTE on it, USAGE on its schema: checked at
 * import and before every call, the answer cached until functions, schemas,
 * roles or memberships change), as the importer, as a security-restricted
 * operation, in a GUC nest level of its own that is rolled back when it
 * returns -- the way PostgreSQL runs index expressions for VACUUM and
 * REINDEX -- so whatever it SETs ends with it.
 *
 * A function in LANGUAGE sql whose body is one SELECT is run from a plan
 * kept for the session (as PL/pgSQL keeps its statements' plans), not
 * through fmgr_sql, which parses and plans the body again in every
 * transaction.  Anything else (several statements, SECURITY DEFINER, SET
 * clauses, BEGIN ATOMIC bodies, functions an fmgr hook watches) is called
 * through the function manager.
 *
 * An error of a PL/Python function is raised again tidied (see
 * cw_python_error_rethrow): without PL/Python's "plpy.Error: " prefix, and,
 * for functions made by load_functions, with the loaded module's own
 * traceback in place of PL/Python's.  The tidying runs on the error path
 * only.
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"
#include "catalog.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_language.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/functions.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "nodes/makefuncs.h"
#include "nodes/params.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/syscache.h"

/*
 * The schema whose search_path ("pg_catalog, schema, pg_temp") the running
 * save has already set for its functions (engine.c), or NULL: calls of
 * functions of that schema need not set it again.
 */
const char *cw_dispatch_pinned_schema = NULL;

/* Bumped whenever pg_proc changes: cached resolutions older than it are redone. */
static uint64 dispatch_gen = 1;

/*
 * Bumped whenever a privilege check may answer differently: a function,
 * schema, role or role membership changed.  Checks older than it are redone.
 */
static uint64 access_gen = 1;

static void
cw_proc_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	dispatch_gen++;
	access_gen++;
}

static void
cw_access_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	access_gen++;
}

/* Register the invalidation callbacks; called once from _PG_init. */
void
cw_dispatch_init(void)
{
	CacheRegisterSyscacheCallback(PROCOID, cw_proc_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, cw_access_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHOID, cw_access_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMMEMROLE, cw_access_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, cw_access_callback, (Datum) 0);
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

/* Is function fnoid in one of the PL/Python languages (plpython3u, ...)? */
static bool
cw_is_python_function(Oid fnoid)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fnoid));
	char	   *name;

	if (!HeapTupleIsValid(tup))
		return false;
	name = get_language_name(((Form_pg_proc) GETSTRUCT(tup))->prolang, true);
	ReleaseSysCache(tup);
	return name != NULL && strncmp(name, "plpython", 8) == 0;
}

/* Resolve fn to a function OID and FmgrInfo, unless already current. */
void
cw_resolve_function(CwFunc *fn)
{
	Oid			oid;
	Oid			rettype;
	Oid			want = fn->is_criterion ? BOOLOID : JSONBOID;
	const char *what = fn->is_criterion ? "criterion" : "process";

	if (fn->resolved_gen == dispatch_gen)
		return;

	oid = cw_function_lookup(fn->schema, fn->name);
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
	fn->is_python = cw_is_python_function(oid);
	fmgr_info_cxt(oid, &fn->finfo, fn->cxt);
	fn->resolved_gen = dispatch_gen;
}

#if PG_VERSION_NUM >= 160000
#define cw_proc_aclcheck(oid, role, mode) object_aclcheck(ProcedureRelationId, oid, role, mode)
#define cw_namespace_aclcheck(oid, role, mode) object_aclcheck(NamespaceRelationId, oid, role, mode)
#else
#define cw_proc_aclcheck(oid, role, mode) pg_proc_aclcheck(oid, role, mode)
#define cw_namespace_aclcheck(oid, role, mode) pg_namespace_aclcheck(oid, role, mode)
#endif

/*
 * The GRANT statements that would let `role` run function schema.name
 * (OID fnoid): USAGE on its schema, EXECUTE on it; NULL when it may run it.
 */
char *
cw_function_access_grant(const char *schema, const char *name, Oid fnoid, Oid role)
{
	const char *rolename = GetUserNameFromId(role, false);
	bool		usage = cw_namespace_aclcheck(get_func_namespace(fnoid), role, ACL_USAGE) == ACLCHECK_OK;
	bool		execute = cw_proc_aclcheck(fnoid, role, ACL_EXECUTE) == ACLCHECK_OK;

	if (usage && execute)
		return NULL;
	return psprintf("%s%s%s",
					usage ? "" : psprintf("GRANT USAGE ON SCHEMA %s TO %s;",
										  quote_identifier(schema), quote_identifier(rolename)),
					usage || execute ? "" : " ",
					execute ? "" : psprintf("GRANT EXECUTE ON FUNCTION %s.%s(jsonb, jsonb) TO %s;",
											quote_identifier(schema), quote_identifier(name),
											quote_identifier(rolename)));
}

/*
 * Raise 42501 unless `role`, the importer of a workflow, may run its process
 * or criterion function schema.name (OID fnoid).
 */
void
cw_check_function_access(const char *schema, const char *name, bool is_criterion,
						 Oid fnoid, Oid role)
{
	char	   *grant = cw_function_access_grant(schema, name, fnoid, role);

	if (grant != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied: role \"%s\" may not run %s function %s.%s(meta jsonb, data jsonb)",
						GetUserNameFromId(role, false), is_criterion ? "criterion" : "process",
						quote_identifier(schema), quote_identifier(name)),
				 errdetail("Processes and criteria run as the role that imports the workflow; it needs EXECUTE on each function and USAGE on its schema, at import and at every call."),
				 errhint("%s Or import the workflow as a role that may run the function.", grant)));
}

/* Check, at import, that `role` may run every function of wf that exists. */
void
cw_check_import_access(CwWorkflow *wf, Oid role)
{
	List	   *fns = cw_condition_functions(wf->criterion, NIL);
	ListCell   *lc;

	for (int i = 0; i < wf->nstates; i++)
	{
		CwState    *st = &wf->states[i];

		for (int j = 0; j < st->ntransitions; j++)
		{
			CwTransition *t = &st->transitions[j];

			fns = cw_condition_functions(t->criterion, fns);
			for (int k = 0; k < t->nprocessors; k++)
				fns = lappend(fns, &t->processors[k].func);
		}
	}
	foreach(lc, fns)
	{
		CwFunc	   *fn = lfirst(lc);
		Oid			oid = cw_function_lookup(fn->schema, fn->name);

		/* a function that does not exist yet fails when called (42883) */
		if (OidIsValid(oid))
			cw_check_function_access(fn->schema, fn->name, fn->is_criterion, oid, role);
	}
	list_free(fns);
}

/*
 * Check that `owner` (the importer) still exists and may run fn, unless
 * nothing has changed since it was last found allowed.
 */
static inline void
cw_check_call_access(CwFunc *fn, Oid owner)
{
	if (fn->access_gen == access_gen && fn->access_role == owner)
		return;
	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(owner)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the role that imported the workflow calling %s.%s no longer exists",
						quote_identifier(fn->schema), quote_identifier(fn->name)),
				 errhint("Import the workflow again as an existing role: processes run as their importer.")));
	cw_check_function_access(fn->schema, fn->name, fn->is_criterion, fn->oid, owner);
	fn->access_gen = access_gen;
	fn->access_role = owner;
}

/* A SQL function run from a kept plan, by function OID. */
typedef struct CwSqlFn
{
	Oid			oid;			/* hash key */
	uint64		gen;			/* dispatch generation it was checked at; 0 = never */
	MemoryContext cxt;			/* the parse info the plan's parser hook uses */
	SPIPlanPtr	plan;			/* NULL: call through the function manager */
	bool		readonly;		/* not VOLATILE: no new snapshot, no CCI */
	char	   *name;			/* for the error context */
} CwSqlFn;

static HTAB *sql_fns = NULL;

static void
cw_sql_fn_forget(CwSqlFn *q)
{
	if (q->plan != NULL)
		SPI_freeplan(q->plan);
	q->plan = NULL;
	if (q->cxt != NULL)
		MemoryContextDelete(q->cxt);
	q->cxt = NULL;
	q->name = NULL;
}

static void
cw_sql_fn_context(void *arg)
{
	errcontext("SQL function \"%s\"", ((CwSqlFn *) arg)->name);
}

/*
 * Prepare q->plan for fn if fn qualifies.  Called with the search_path the
 * calls run with, which the plan cache then checks on every use.
 */
static void
cw_sql_fn_prepare(CwSqlFn *q, CwFunc *fn)
{
	HeapTuple	tup;
	Form_pg_proc proc;
	SQLFunctionParseInfoPtr pinfo;
	MemoryContext cxt,
				old;
	char	   *body;
	bool		readonly;
	bool		isnull;
	SPIPlanPtr	plan;
	List	   *sources;
	CachedPlanSource *ps;
	ErrorContextCallback ctx;
	Oid			want = fn->is_criterion ? BOOLOID : JSONBOID;

	cw_sql_fn_forget(q);
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn->oid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", fn->oid);
	proc = (Form_pg_proc) GETSTRUCT(tup);
	if (proc->prolang != SQLlanguageId || proc->prosecdef || proc->proretset ||
		!heap_attisnull(tup, Anum_pg_proc_proconfig, NULL) ||
		!heap_attisnull(tup, Anum_pg_proc_prosqlbody, NULL) ||
		FmgrHookIsNeeded(fn->oid))
	{
		ReleaseSysCache(tup);
		q->gen = dispatch_gen;
		return;
	}
	cxt = AllocSetContextCreate(TopMemoryContext, "cyoda_wf SQL process",
								ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	pinfo = prepare_sql_fn_parse_info(tup, NULL, InvalidOid);
	body = TextDatumGetCString(SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_prosrc, &isnull));
	q->name = pstrdup(NameStr(proc->proname));
	MemoryContextSwitchTo(old);
	readonly = proc->provolatile != PROVOLATILE_VOLATILE;
	ReleaseSysCache(tup);

	q->cxt = cxt;				/* freed with the entry if preparing fails */
	ctx.callback = cw_sql_fn_context;
	ctx.arg = q;
	ctx.previous = error_context_stack;
	error_context_stack = &ctx;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SPI_prepare_params(body, (ParserSetupHook) sql_fn_parser_setup, pinfo, 0);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare_params failed: %s", SPI_result_code_string(SPI_result));
	error_context_stack = ctx.previous;
	sources = SPI_plan_get_plan_sources(plan);
	ps = list_length(sources) == 1 ? linitial(sources) : NULL;
	if (ps != NULL && ps->commandTag == CMDTAG_SELECT && ps->resultDesc != NULL &&
		ps->resultDesc->natts == 1 && TupleDescAttr(ps->resultDesc, 0)->atttypid == want)
	{
		SPI_keepplan(plan);
		q->plan = plan;
		q->readonly = readonly;
	}
	else
		cw_sql_fn_forget(q);
	SPI_finish();
	q->gen = dispatch_gen;
}

/* The kept-plan entry of fn (q->plan NULL when fn is called through fmgr). */
static CwSqlFn *
cw_sql_fn(CwFunc *fn)
{
	CwSqlFn    *q;
	bool		found;

	if (sql_fns == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(CwSqlFn);
		sql_fns = hash_create("cyoda_wf SQL processes", 64, &ctl, HASH_ELEM | HASH_BLOBS);
	}
	q = hash_search(sql_fns, &fn->oid, HASH_ENTER, &found);
	if (!found)
	{
		q->gen = 0;
		q->cxt = NULL;
		q->plan = NULL;
		q->name = NULL;
	}
	if (q->gen != dispatch_gen)
		cw_sql_fn_prepare(q, fn);
	return q;
}


/* Run a kept-plan SQL function: the first column of its first row, or NULL. */
static Datum
cw_sql_fn_call(CwSqlFn *q, FunctionCallInfo fcinfo, bool is_criterion)
{
	PgStat_FunctionCallUsage fcu;
	ErrorContextCallback ctx;
	ParamListInfo params = makeParamList(2);
	Datum		result = (Datum) 0;
	bool		isnull = true;
	int			rc;

	ctx.callback = cw_sql_fn_context;
	ctx.arg = q;
	ctx.previous = error_context_stack;
	error_context_stack = &ctx;
	pgstat_init_function_usage(fcinfo, &fcu);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	for (int i = 0; i < 2; i++)
	{
		params->params[i].value = fcinfo->args[i].value;
		params->params[i].isnull = false;
		params->params[i].pflags = PARAM_FLAG_CONST;
		params->params[i].ptype = JSONBOID;
	}
	rc = SPI_execute_plan_with_paramlist(q->plan, params, q->readonly, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	if (SPI_processed > 0)
	{
		result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull)
			result = is_criterion ? result : SPI_datumTransfer(result, false, -1);
	}
	SPI_finish();
	pgstat_end_function_usage(&fcu, true);
	error_context_stack = ctx.previous;
	fcinfo->isnull = isnull;
	return isnull ? (Datum) 0 : result;
}

/*
 * PL/Python's errors, tidied: the error a PL/Python process or criterion
 * raised, as the user's own code raised it.
 *
 * PL/Python puts the exception's type before its message ("plpy.Error: ",
 * "spiexceptions.DivisionByZero: "); that prefix goes (the SQLSTATE says
 * the same).  A function made by load_functions ends the message with the
 * traceback of the loaded module's own frames (runtime.error: a line
 * "Traceback (most recent call last):" and the frames); it is taken off the
 * message and put in place of PL/Python's traceback at the start of the
 * context, whose frames begin in the generated function body.  A plain
 * Python exception keeps its "ValueError: " (it is the message).
 */
#define CW_PY_TRACEBACK "Traceback (most recent call last):"

static const char *
cw_python_strip_prefix(const char *msg)
{
	const char *p;

	if (strncmp(msg, "plpy.Error: ", 12) == 0)
		return msg + 12;
	if (strncmp(msg, "plpy.SPIError: ", 15) == 0)
		return msg + 15;
	if (strncmp(msg, "spiexceptions.", 14) != 0)
		return msg;
	for (p = msg + 14; (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'); p++)
		;
	if (p > msg + 14 && p[0] == ':' && p[1] == ' ')
		return p + 2;
	return msg;
}

/* context without a leading PL/Python traceback (its header and indented lines). */
static const char *
cw_python_skip_traceback(const char *context)
{
	const char *p = context;

	if (strncmp(p, CW_PY_TRACEBACK, strlen(CW_PY_TRACEBACK)) != 0)
		return context;
	p = strchr(p, '\n');
	while (p != NULL && p[1] == ' ')
		p = strchr(p + 1, '\n');
	return p == NULL ? "" : p + 1;
}

/* Called in PG_CATCH: rethrow the current error, tidied.  Never returns. */
static void
cw_python_error_rethrow(MemoryContext ecxt)
{
	ErrorData  *edata;
	char	   *msg;
	char	   *tb = NULL;
	char	   *hit;
	const char *rest;

	MemoryContextSwitchTo(ecxt);
	edata = CopyErrorData();
	if (edata->elevel > ERROR || edata->message == NULL)
		PG_RE_THROW();
	FlushErrorState();

	msg = pstrdup(cw_python_strip_prefix(edata->message));
	/* the last "\nTraceback (most recent call last):" is runtime.error's */
	for (hit = strstr(msg, "\n" CW_PY_TRACEBACK); hit != NULL;
		 hit = strstr(hit + 1, "\n" CW_PY_TRACEBACK))
		tb = hit;
	if (tb != NULL)
	{
		*tb++ = '\0';
		rest = edata->context ? cw_python_skip_traceback(edata->context) : "";
		/* a traceback without frames (the header alone) is left out */
		if (strchr(tb, '\n') == NULL)
			edata->context = *rest ? pstrdup(rest) : NULL;
		else
			edata->context = *rest ? psprintf("%s\n%s", tb, rest) : tb;
	}
	edata->message = msg;
	ReThrowError(edata);
}

/*
 * Call fn(meta, data) as role `owner`, the workflow's importer; *isnull set
 * when it returned NULL.  The call runs as a security-restricted operation
 * in a GUC nest level of its own, with search_path "pg_catalog, <function
 * schema>, pg_temp" (already in place when the save pinned it), and every
 * setting it makes is rolled back when it returns.  On error the user id is
 * restored here and the settings by the (sub)transaction abort.
 */
static Datum
cw_call(CwFunc *fn, Oid owner, Jsonb *meta, Jsonb *data, bool *isnull)
{
	LOCAL_FCINFO(fcinfo, 2);
	Oid			save_userid;
	int			save_sec;
	int			nestlevel;
	volatile Datum result = (Datum) 0;	/* set inside PG_TRY, read after it */
	MemoryContext ecxt = CurrentMemoryContext;

	if (!OidIsValid(owner))
		elog(ERROR, "cyoda_wf: no role to run %s.%s as",
			 quote_identifier(fn->schema), quote_identifier(fn->name));
	cw_resolve_function(fn);
	cw_check_call_access(fn, owner);

	InitFunctionCallInfoData(*fcinfo, &fn->finfo, 2, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = JsonbPGetDatum(meta);
	fcinfo->args[0].isnull = false;
	fcinfo->args[1].value = JsonbPGetDatum(data);
	fcinfo->args[1].isnull = false;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		CwSqlFn    *q;

		nestlevel = NewGUCNestLevel();
		/* never resolve names through the saving role's search_path */
		if (cw_dispatch_pinned_schema == NULL || strcmp(cw_dispatch_pinned_schema, fn->schema) != 0)
			(void) set_config_option("search_path",
									 psprintf("pg_catalog, %s, pg_temp", quote_identifier(fn->schema)),
									 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
		q = cw_sql_fn(fn);
		if (q->plan != NULL)
			result = cw_sql_fn_call(q, fcinfo, fn->is_criterion);
		else
			result = FunctionCallInvoke(fcinfo);
		/* undo every SET and set_config() of the call, even session-wide ones */
		AtEOXact_GUC(false, nestlevel);
	}
	PG_CATCH();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
		if (fn->is_python)
			cw_python_error_rethrow(ecxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	SetUserIdAndSecContext(save_userid, save_sec);
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
