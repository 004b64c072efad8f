/*-------------------------------------------------------------------------
 * router.c
 *		cyoda_wf.call_shard(shard, fn, args, dry_run) of the router extension
 *		(cyoda_wf_router): one API call on one shard, its error raised again
 *		as the shard raised it.
 *
 * Every entity call made through the router passes here, so it is C rather
 * than PL/pgSQL: no subtransaction, no SPI query, no settings.  It calls the
 * router's PL/Proxy function cyoda_wf.shard_call(shard, fn, args, dry_run),
 * which runs cyoda_wf.remote_call on the shard (src/remote.c) and returns
 * one row (result, sqlstate, message, detail, hint), and then
 *   - returns result when sqlstate is NULL;
 *   - raises the shard's error with the same SQLSTATE, message, detail and
 *     hint otherwise;
 *   - turns an error of PL/Proxy itself (XX000: the shard cannot be reached
 *     or the connection broke) into 08006 naming the shard.
 *
 * NOTICEs and WARNINGs the call raised on the shard come back in the row
 * (remote.c keeps them from PL/Proxy, which would prefix them) and are
 * raised here as they were raised there, before the result or the error.
 *
 * The PL/Proxy function is looked up once per call site and kept in
 * fn_extra (so a prepared statement looks it up once).  The error of
 * PL/Proxy is caught without a subtransaction: the handler does nothing but
 * copy it and raise another ERROR at once, which aborts the transaction as
 * the first one would have.
 *
 * This file is only used in a router database; the shard side of the
 * protocol is remote.c.
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

PG_FUNCTION_INFO_V1(cyoda_wf_call_shard);

/* the PL/Proxy function of one call site */
typedef struct CallShardCache
{
	FmgrInfo	flinfo;
} CallShardCache;

static CallShardCache *
call_shard_cache(FunctionCallInfo fcinfo)
{
	CallShardCache *cache = (CallShardCache *) fcinfo->flinfo->fn_extra;

	if (cache == NULL)
	{
		Oid			argtypes[4] = {INT4OID, TEXTOID, TEXTARRAYOID, BOOLOID};
		List	   *name = list_make2(makeString(CW_SCHEMA), makeString("shard_call"));
		Oid			fnoid = LookupFuncName(name, 4, argtypes, false);

		cache = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(CallShardCache));
		fmgr_info_cxt(fnoid, &cache->flinfo, fcinfo->flinfo->fn_mcxt);
		fcinfo->flinfo->fn_extra = cache;
	}
	return cache;
}

/* PL/Proxy's message without its "PL/Proxy function f(...): " prefix */
static char *
proxy_detail(const char *message)
{
	const char *m = message ? message : "";
	const char *colon;
	char	   *out;
	int			n;

	if (strncmp(m, "PL/Proxy function ", 18) == 0 &&
		(colon = strstr(m, ": ")) != NULL)
		m = colon + 2;
	out = pstrdup(m);
	n = strlen(out);
	while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '\n'))
		out[--n] = '\0';
	return out;
}

static void
raise_shard_unreachable(int32 shard, MemoryContext cxt)
{
	ErrorData  *edata;
	char	   *detail;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	FlushErrorState();
	detail = proxy_detail(edata->message);
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("shard %d cannot be reached", shard),
			 errdetail_internal("%s", detail),
			 errhint("cyoda_wf.shards() shows which shards answer.")));
}

/* the text of field attno of a shard_call row, or NULL */
static char *
row_text(HeapTupleHeader row, int attno)
{
	bool		isnull;
	Datum		d = GetAttributeByNum(row, attno, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/* a SQLSTATE as text, as an error code (XX000 for anything else) */
static int
sqlstate_code(const char *sqlstate)
{
	if (sqlstate != NULL && strlen(sqlstate) == 5 &&
		strspn(sqlstate, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") == 5)
		return MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2],
							 sqlstate[3], sqlstate[4]);
	return ERRCODE_INTERNAL_ERROR;
}

/* raise the error a shard returned as data */
static void
raise_remote(HeapTupleHeader row, const char *sqlstate)
{
	char	   *message = row_text(row, 3);
	char	   *detail = row_text(row, 4);
	char	   *hint = row_text(row, 5);

	ereport(ERROR,
			(errcode(sqlstate_code(sqlstate)),
			 errmsg_internal("%s", message ? message : ""),
			 detail ? errdetail_internal("%s", detail) : 0,
			 hint ? errhint("%s", hint) : 0));
}

/*
 * One call of shard_call on shard; the row it returns.  An error of PL/Proxy
 * itself is left to the caller.
 */
static Datum
invoke_shard_call(FunctionCallInfo fcinfo, int32 shard, Datum fn, Datum args,
				  bool argsnull, bool dry_run, bool *rownull)
{
	CallShardCache *cache = call_shard_cache(fcinfo);
	LOCAL_FCINFO(inner, 4);
	Datum		row;

	InitFunctionCallInfoData(*inner, &cache->flinfo, 4, PG_GET_COLLATION(),
							 NULL, NULL);
	inner->args[0].value = Int32GetDatum(shard);
	inner->args[0].isnull = false;
	inner->args[1].value = fn;
	inner->args[1].isnull = false;
	inner->args[2].value = args;
	inner->args[2].isnull = argsnull;
	inner->args[3].value = BoolGetDatum(dry_run);
	inner->args[3].isnull = false;
	row = FunctionCallInvoke(inner);
	*rownull = inner->isnull;
	return row;
}

/*
 * Raise again the NOTICEs and WARNINGs the call raised on the shard (the
 * row's notices: level, SQLSTATE, message, detail, hint, five per notice).
 */
static void
raise_notices(HeapTupleHeader row)
{
	bool		isnull;
	Datum		d = GetAttributeByNum(row, 6, &isnull);
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (isnull)
		return;
	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	for (int i = 0; i + 4 < n; i += 5)
	{
		char	   *level = nulls[i] ? "NOTICE" : TextDatumGetCString(elems[i]);
		int			elevel = strcmp(level, "WARNING") == 0 ? WARNING :
			strcmp(level, "INFO") == 0 ? INFO : NOTICE;

		ereport(elevel,
				(errcode(sqlstate_code(nulls[i + 1] ? NULL : TextDatumGetCString(elems[i + 1]))),
				 errmsg_internal("%s", nulls[i + 2] ? "" : TextDatumGetCString(elems[i + 2])),
				 nulls[i + 3] ? 0 : errdetail_internal("%s", TextDatumGetCString(elems[i + 3])),
				 nulls[i + 4] ? 0 : errhint("%s", TextDatumGetCString(elems[i + 4]))));
	}
}

/* the result of a shard_call row, or the shard's error raised again */
static Datum
shard_result(Datum rowd, bool rownull, int32 shard, bool *isnull)
{
	HeapTupleHeader row;
	char	   *sqlstate;

	if (rownull)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("shard %d returned no answer", shard)));
	row = DatumGetHeapTupleHeader(rowd);
	raise_notices(row);
	sqlstate = row_text(row, 2);
	if (sqlstate != NULL)
		raise_remote(row, sqlstate);
	return GetAttributeByNum(row, 1, isnull);
}

Datum
cyoda_wf_call_shard(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = CurrentMemoryContext;
	int32		shard;
	volatile Datum rowd = (Datum) 0;
	volatile bool rownull = true;
	bool		isnull;
	Datum		result;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("call_shard needs a shard and a function")));
	shard = PG_GETARG_INT32(0);

	PG_TRY();
	{
		bool		nullrow;

		rowd = invoke_shard_call(fcinfo, shard, PG_GETARG_DATUM(1),
								 PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2),
								 PG_ARGISNULL(2),
								 !PG_ARGISNULL(3) && PG_GETARG_BOOL(3), &nullrow);
		rownull = nullrow;
	}
	PG_CATCH();
	{
		if (geterrcode() != ERRCODE_INTERNAL_ERROR)
			PG_RE_THROW();
		raise_shard_unreachable(shard, cxt);
	}
	PG_END_TRY();

	result = shard_result(rowd, rownull, shard, &isnull);
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

/*
 * Did PL/Proxy fail before the query left for the shard?  Its connection
 * errors name the libpq step (src/execute.c of PL/Proxy): a failed connect
 * (PQconnectStart, PQconnectPoll, a connect timeout) has run nothing there,
 * so the call can go to another shard; a failure after the query was sent
 * cannot tell whether the shard made the change.
 */
static bool
failed_before_sending(const char *message)
{
	return message != NULL &&
		(strstr(message, "] PQconnectStart: ") != NULL ||
		 strstr(message, "] PQconnectPoll: ") != NULL ||
		 strstr(message, ": connect timeout to: ") != NULL);
}

/*
 * call_shard_from(first, count, fn, args): fn on shard first, or, when that
 * shard cannot be reached, on the next one (modulo count), and so on; add_item
 * uses it, so that a new entity lands on a shard that answers.  Each try but
 * the last runs in a subtransaction (an error of PL/Proxy has to be caught
 * and the call continued); a skipped shard is logged.  When no shard can be
 * reached, the last one's error is raised (08006).
 */
PG_FUNCTION_INFO_V1(cyoda_wf_call_shard_from);

Datum
cyoda_wf_call_shard_from(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	int32		first;
	int32		count;
	Datum		fn;
	Datum		args;
	bool		argsnull = PG_ARGISNULL(3);
	int32		k;
	bool		isnull;
	Datum		result;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("call_shard_from needs a shard, a shard count and a function")));
	first = PG_GETARG_INT32(0);
	count = PG_GETARG_INT32(1);
	fn = PG_GETARG_DATUM(2);
	args = argsnull ? (Datum) 0 : PG_GETARG_DATUM(3);
	if (count < 1 || first < 0 || first >= count)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no shards are configured"),
				 errhint("cyoda_wf.configure_shards(conninfo text[]) sets the cluster up.")));

	for (k = 0; k < count; k++)
	{
		int32		shard = (first + k) % count;
		volatile Datum rowd = (Datum) 0;
		volatile bool rownull = true;
		volatile bool skipped = false;

		CHECK_FOR_INTERRUPTS();
		if (k == count - 1)
		{
			/* the last try: its error is the call's */
			PG_TRY();
			{
				bool		nullrow;

				rowd = invoke_shard_call(fcinfo, shard, fn, args, argsnull, false, &nullrow);
				rownull = nullrow;
			}
			PG_CATCH();
			{
				if (geterrcode() != ERRCODE_INTERNAL_ERROR)
					PG_RE_THROW();
				raise_shard_unreachable(shard, cxt);
			}
			PG_END_TRY();
		}
		else
		{
			BeginInternalSubTransaction(NULL);
			MemoryContextSwitchTo(cxt);
			PG_TRY();
			{
				bool		nullrow;

				rowd = invoke_shard_call(fcinfo, shard, fn, args, argsnull, false, &nullrow);
				rownull = nullrow;
				ReleaseCurrentSubTransaction();
				MemoryContextSwitchTo(cxt);
				CurrentResourceOwner = owner;
			}
			PG_CATCH();
			{
				ErrorData  *edata;

				MemoryContextSwitchTo(cxt);
				edata = CopyErrorData();
				FlushErrorState();
				RollbackAndReleaseCurrentSubTransaction();
				MemoryContextSwitchTo(cxt);
				CurrentResourceOwner = owner;
				if (edata->sqlerrcode != ERRCODE_INTERNAL_ERROR)
					ReThrowError(edata);
				if (!failed_before_sending(edata->message))
					ereport(ERROR,
							(errcode(ERRCODE_CONNECTION_FAILURE),
							 errmsg("shard %d cannot be reached", shard),
							 errdetail_internal("%s", proxy_detail(edata->message)),
							 errhint("cyoda_wf.shards() shows which shards answer.")));
				ereport(LOG,
						(errmsg("cyoda_wf_router: shard %d cannot be reached, the call goes to the next shard",
								shard),
						 errdetail_internal("%s", proxy_detail(edata->message)),
						 errhidestmt(true)));
				FreeErrorData(edata);
				skipped = true;
			}
			PG_END_TRY();
			if (skipped)
				continue;
		}
		result = shard_result(rowd, rownull, shard, &isnull);
		if (isnull)
			PG_RETURN_NULL();
		PG_RETURN_DATUM(result);
	}
	pg_unreachable();
}
