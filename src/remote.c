/*-------------------------------------------------------------------------
 * remote.c
 *		cyoda_wf.remote_call(fn, args, dry_run): one API call made for the
 *		router (cyoda_wf_router), with its error returned as data.
 *
 * The router reaches a shard through PL/Proxy, which rewrites the message of
 * a remote error and drops the connection after one.  So the router calls
 * its functions on a shard through remote_call: fn names a function of
 * schema cyoda_wf by its signature ('cyoda_wf.fire(uuid,text)'), args holds
 * every argument as text (NULL for SQL NULL), and the call runs in a
 * subtransaction.  It returns one row (result, sqlstate, message, detail,
 * hint, notices): the function's result as jsonb (a set-returning function: a JSON
 * array of its rows, NULL for no row) and NULL error fields, or a NULL
 * result and the error the call raised, its effects rolled back.  With
 * dry_run the call's effects (and its notices) are rolled back even when it
 * succeeds: the router checks definitions on every shard before it changes
 * any.  The NOTICEs and WARNINGs the call raises are not sent to the client
 * (PL/Proxy would pass them on as "REMOTE NOTICE" with its own prefixes) but
 * returned in notices, five text elements each (level, SQLSTATE, message,
 * detail, hint), for the router to raise again as they were raised here.
 *
 * remote_call runs as its caller (not SECURITY DEFINER): the caller needs
 * EXECUTE on fn as on a direct call, and only functions of schema cyoda_wf
 * can be named.  The query of each fn is planned once per backend (PL/Proxy
 * keeps its connections, so a router's calls reuse the plan).
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/resowner.h"
#include "utils/syscache.h"

#define CW_REMOTE_MAX_ARGS 16

/* One function's prepared query, by the signature text the router sends. */
typedef struct RemotePlan
{
	char		key[CW_MAX_NAME_LEN];
	int			nargs;
	Oid			typinput[CW_REMOTE_MAX_ARGS];
	Oid			typioparam[CW_REMOTE_MAX_ARGS];
	SPIPlanPtr	plan;
} RemotePlan;

static HTAB *remote_plans = NULL;

PG_FUNCTION_INFO_V1(cyoda_wf_remote_call);

/* the notices of the running call (remote_notice_hook collects them) */
static emit_log_hook_type prev_emit_log_hook = NULL;
static bool hook_installed = false;
static bool collecting = false;
static MemoryContext notice_cxt = NULL;
static List *notices = NIL;		/* of char *: level, sqlstate, message, detail, hint */
static int	server_log_min = WARNING;	/* log_min_messages outside the call */

/*
 * emit_log_hook: while a call runs, keep its NOTICE / WARNING / INFO for the
 * result instead of sending it to the client.  Nothing here may raise an
 * error (it runs inside error reporting) but an out-of-memory.
 */
static void
remote_notice_hook(ErrorData *edata)
{
	if (collecting && edata->elevel >= NOTICE && edata->elevel < ERROR &&
		edata->output_to_client)
	{
		MemoryContext old = MemoryContextSwitchTo(notice_cxt);

		notices = lappend(notices, pstrdup(edata->elevel == NOTICE ? "NOTICE" :
										   edata->elevel == INFO ? "INFO" : "WARNING"));
		notices = lappend(notices, pstrdup(unpack_sql_state(edata->sqlerrcode)));
		notices = lappend(notices, edata->message ? pstrdup(edata->message) : NULL);
		notices = lappend(notices, edata->detail ? pstrdup(edata->detail) : NULL);
		notices = lappend(notices, edata->hint ? pstrdup(edata->hint) : NULL);
		MemoryContextSwitchTo(old);
		edata->output_to_client = false;
		/* in the server log only if it would have been without the call */
		if (edata->elevel < server_log_min)
			edata->output_to_server = false;
	}
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

/*
 * Collect the call's notices.  emit_log_hook only sees what goes to the
 * server log, so log_min_messages is lowered to notice for the call, in a
 * GUC nest level of its own (notices_restore, or the subtransaction's
 * rollback, puts it back); the hook keeps a collected notice out of the
 * server log unless it would have been logged anyway.
 */
static int
notices_start(void)
{
	int			nest;

	if (!hook_installed)
	{
		prev_emit_log_hook = emit_log_hook;
		emit_log_hook = remote_notice_hook;
		notice_cxt = AllocSetContextCreate(TopMemoryContext, "cyoda_wf remote notices",
										   ALLOCSET_SMALL_SIZES);
		hook_installed = true;
	}
	MemoryContextReset(notice_cxt);
	notices = NIL;
	server_log_min = log_min_messages;
	nest = NewGUCNestLevel();
	if (log_min_messages > NOTICE)
		(void) set_config_option("log_min_messages", "notice",
								 PGC_SUSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	collecting = true;
	return nest;
}

/* stop collecting; the notices as text[] in the current context, or NULL */
static ArrayType *
notices_end(void)
{
	Datum	   *elems;
	bool	   *enulls;
	int			n = list_length(notices);
	int			dims[1];
	int			lbs[1] = {1};
	int			i = 0;
	ListCell   *lc;
	ArrayType  *a;

	collecting = false;
	if (n == 0)
		return NULL;
	elems = palloc(n * sizeof(Datum));
	enulls = palloc(n * sizeof(bool));
	foreach(lc, notices)
	{
		char	   *v = lfirst(lc);

		enulls[i] = (v == NULL);
		elems[i] = v ? CStringGetTextDatum(v) : (Datum) 0;
		i++;
	}
	dims[0] = n;
	a = construct_md_array(elems, enulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT);
	MemoryContextReset(notice_cxt);
	notices = NIL;
	return a;
}

/*
 * The plan of fn, prepared on first use (inside the caller's subtransaction
 * and SPI connection, so that a bad name is an error returned as data).  It
 * enters the cache only once prepared: a name that fails leaves nothing.
 */
static RemotePlan *
remote_plan(const char *fn)
{
	RemotePlan *rp;
	RemotePlan	made;
	bool		found;
	Oid			fnoid;
	HeapTuple	tup;
	Form_pg_proc proc;
	StringInfoData sql;
	Oid			argtypes[CW_REMOTE_MAX_ARGS];
	SPIPlanPtr	plan;
	int			i;

	if (strlen(fn) >= CW_MAX_NAME_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("function signature too long for remote_call")));
	if (remote_plans == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = CW_MAX_NAME_LEN;
		ctl.entrysize = sizeof(RemotePlan);
		ctl.hcxt = TopMemoryContext;
		remote_plans = hash_create("cyoda_wf remote plans", 32, &ctl,
								   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	rp = hash_search(remote_plans, fn, HASH_FIND, NULL);
	if (rp != NULL)
		return rp;
	rp = &made;

	fnoid = DatumGetObjectId(DirectFunctionCall1(regprocedurein,
												 CStringGetDatum(fn)));
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fnoid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", fnoid);
	proc = (Form_pg_proc) GETSTRUCT(tup);
	if (proc->pronamespace != get_namespace_oid(CW_SCHEMA, false) ||
		proc->prokind != PROKIND_FUNCTION ||
		proc->pronargs > CW_REMOTE_MAX_ARGS)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("remote_call cannot call %s", fn),
				 errdetail("Only functions of schema %s can be called this way.",
						   CW_SCHEMA)));

	initStringInfo(&sql);
	appendStringInfo(&sql, proc->proretset
					 ? "SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(r)) FROM %s.%s("
					 : "SELECT pg_catalog.to_jsonb(%s.%s(",
					 quote_identifier(CW_SCHEMA),
					 quote_identifier(NameStr(proc->proname)));
	for (i = 0; i < proc->pronargs; i++)
	{
		argtypes[i] = proc->proargtypes.values[i];
		getTypeInputInfo(argtypes[i], &rp->typinput[i], &rp->typioparam[i]);
		appendStringInfo(&sql, "%s$%d", i > 0 ? ", " : "", i + 1);
	}
	appendStringInfoString(&sql, proc->proretset ? ") r" : "))");
	rp->nargs = proc->pronargs;
	ReleaseSysCache(tup);

	plan = SPI_prepare(sql.data, rp->nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "remote_call: SPI_prepare failed: %s",
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "remote_call: SPI_keepplan failed");
	rp->plan = plan;
	rp = hash_search(remote_plans, fn, HASH_ENTER, &found);
	/* everything but the key, which hash_search filled in */
	memcpy((char *) rp + offsetof(RemotePlan, nargs),
		   (char *) &made + offsetof(RemotePlan, nargs),
		   sizeof(RemotePlan) - offsetof(RemotePlan, nargs));
	return rp;
}

/* Run fn with its arguments given as text; returns its result (or NULL). */
static Datum
remote_run(const char *fn, ArrayType *args, bool *isnull)
{
	RemotePlan *rp;
	Datum	   *elems = NULL;
	bool	   *elnulls = NULL;
	int			nelems = 0;
	Datum		values[CW_REMOTE_MAX_ARGS];
	char		nulls[CW_REMOTE_MAX_ARGS];
	Datum		result = (Datum) 0;
	int			i;
	int			rc;

	rp = remote_plan(fn);
	if (args != NULL && ARR_NDIM(args) > 0)
		deconstruct_array(args, TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &elnulls, &nelems);
	if (nelems != rp->nargs)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("remote_call of %s got %d arguments, the function takes %d",
						fn, nelems, rp->nargs)));
	for (i = 0; i < nelems; i++)
	{
		nulls[i] = elnulls[i] ? 'n' : ' ';
		values[i] = elnulls[i] ? (Datum) 0
			: OidInputFunctionCall(rp->typinput[i], TextDatumGetCString(elems[i]),
								   rp->typioparam[i], -1);
	}
	rc = SPI_execute_plan(rp->plan, values, nulls, false, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "remote_call: query of %s failed: %s", fn,
			 SPI_result_code_string(rc));
	result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull);
	if (!*isnull)
		result = SPI_datumTransfer(result, false, -1);
	return result;
}

/*
 * cyoda_wf.remote_call(fn text, args text[], dry_run boolean DEFAULT false,
 *     OUT result jsonb, OUT sqlstate text, OUT message text, OUT detail text,
 *     OUT hint text, OUT notices text[])
 */
Datum
cyoda_wf_remote_call(PG_FUNCTION_ARGS)
{
	char	   *fn;
	ArrayType  *args;
	bool		dry_run = !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6] = {true, true, true, true, true, true};
	ArrayType  *kept;
	int			nest;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("remote_call needs a function")));
	fn = text_to_cstring(PG_GETARG_TEXT_PP(0));
	args = PG_ARGISNULL(1) ? NULL : PG_GETARG_ARRAYTYPE_P(1);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "remote_call must return a row");

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	nest = notices_start();
	PG_TRY();
	{
		bool		isnull = true;
		Datum		result;

		/* a check says nothing: its notices go with the subtransaction */
		if (dry_run)
			(void) set_config_option("client_min_messages", "warning",
									 PGC_USERSET, PGC_S_SESSION,
									 GUC_ACTION_LOCAL, true, 0, false);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "remote_call: SPI_connect failed");
		result = remote_run(fn, args, &isnull);
		SPI_finish();
		collecting = false;
		AtEOXact_GUC(true, nest);
		if (dry_run)
			RollbackAndReleaseCurrentSubTransaction();
		else
			ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = oldowner;
		values[0] = result;
		nulls[0] = isnull;
		kept = notices_end();
		if (kept != NULL && !dry_run)
		{
			values[5] = PointerGetDatum(kept);
			nulls[5] = false;
		}
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = oldowner;
		kept = notices_end();
		if (kept != NULL && !dry_run)
		{
			values[5] = PointerGetDatum(kept);
			nulls[5] = false;
		}
		values[1] = CStringGetTextDatum(unpack_sql_state(edata->sqlerrcode));
		nulls[1] = false;
		values[2] = CStringGetTextDatum(edata->message ? edata->message : "");
		nulls[2] = false;
		if (edata->detail)
		{
			values[3] = CStringGetTextDatum(edata->detail);
			nulls[3] = false;
		}
		if (edata->hint)
		{
			values[4] = CStringGetTextDatum(edata->hint);
			nulls[4] = false;
		}
		FreeErrorData(edata);
	}
	PG_END_TRY();
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc),
													  values, nulls)));
}
