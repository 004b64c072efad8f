/*-------------------------------------------------------------------------
 * cond_check.c
 *		cyoda_wf.check_condition: a condition compiled (cond_compile.c) and
 *		evaluated (cond_eval.c) against given data, to try criteria out;
 *		cyoda_wf_internal.matches_condition: the same test as search's
 *		row predicate.
 *
 * The one caller of both halves of the condition language outside the
 * engine, so that the compiler and the evaluator do not call each other.
 *
 * matches_condition(data, condition) is what a search query calls, once per
 * row, for the parts of its condition that no index serves (search_sql.c):
 * the condition is the same value at every row of a query (a parameter),
 * so its compiled form is kept in fn_extra, keyed by the condition's bytes
 * and compiled again whenever they differ.  It is PARALLEL SAFE (it reads
 * nothing but its arguments), so such a search can run a parallel scan,
 * and its answer is cond_eval.c's by construction.
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"
#include "cond.h"

#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(cyoda_wf_check_condition);
PG_FUNCTION_INFO_V1(cyoda_wf_matches_condition);

/* A compiled condition kept in fn_extra, with the bytes it was compiled from. */
typedef struct CondCache
{
	MemoryContext cxt;			/* the compiled tree; child of fn_mcxt */
	CwCondition *cond;
	Size		len;			/* bytes of the condition's Jsonb (no header) */
	char	   *bytes;
} CondCache;

/*
 * cyoda_wf.check_condition(condition jsonb, data jsonb) RETURNS boolean:
 * compile a condition and test it against data, to try criteria out.
 * Lifecycle fields are unknown; function criteria raise 22023.
 */
Datum
cyoda_wf_check_condition(PG_FUNCTION_ARGS)
{
	Jsonb	   *cond = PG_GETARG_JSONB_P(0);
	Jsonb	   *data = PG_GETARG_JSONB_P(1);
	MemoryContext tmp;
	CwCondition *c;
	CwEvalContext ctx;
	bool		result;

	tmp = AllocSetContextCreate(CurrentMemoryContext,
								"cyoda_wf check_condition",
								ALLOCSET_SMALL_SIZES);
	c = cw_condition_compile(cond, "$", "public", tmp);

	memset(&ctx, 0, sizeof(ctx));
	ctx.data = data;
	result = cw_condition_eval(c, &ctx);

	MemoryContextDelete(tmp);
	PG_RETURN_BOOL(result);
}

/*
 * The compiled form of the condition in argument argno of fcinfo, from
 * fn_extra when it holds the same bytes, else compiled (groups merged, as
 * the engine evaluates them) and kept there.  An invalid condition raises
 * the compiler's 22023 and leaves the cache as it was.
 */
static CwCondition *
cached_condition(FunctionCallInfo fcinfo, int argno)
{
	struct varlena *raw = (struct varlena *) DatumGetPointer(PG_GETARG_DATUM(argno));
	CondCache  *cc = (CondCache *) fcinfo->flinfo->fn_extra;
	Jsonb	   *cond;
	MemoryContext cxt;
	CwCondition *c;
	Size		len;

	/* a plain or short in-line value compares without a copy */
	if (!VARATT_IS_EXTERNAL(raw) && !VARATT_IS_COMPRESSED(raw) && cc != NULL &&
		VARSIZE_ANY_EXHDR(raw) == cc->len &&
		memcmp(VARDATA_ANY(raw), cc->bytes, cc->len) == 0)
		return cc->cond;
	cond = DatumGetJsonbP(PointerGetDatum(raw));
	len = VARSIZE(cond) - VARHDRSZ;
	if (cc != NULL && len == cc->len && memcmp(VARDATA(cond), cc->bytes, len) == 0)
		return cc->cond;

	/* under the current context until compiled: an error frees it */
	cxt = AllocSetContextCreate(CurrentMemoryContext,
								"cyoda_wf matches_condition",
								ALLOCSET_SMALL_SIZES);
	c = cw_condition_compile(cond, "$", "public", cxt);
	MemoryContextSetParent(cxt, fcinfo->flinfo->fn_mcxt);
	if (cc == NULL)
		cc = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(CondCache));
	else
		MemoryContextDelete(cc->cxt);
	cc->cxt = cxt;
	cc->cond = c;
	cc->len = len;
	cc->bytes = MemoryContextAlloc(cxt, Max(len, 1));
	memcpy(cc->bytes, VARDATA(cond), len);
	fcinfo->flinfo->fn_extra = cc;
	return c;
}

/*
 * cyoda_wf_internal.matches_condition(data jsonb, condition jsonb) RETURNS
 * boolean: whether data matches the condition, as check_condition answers
 * (lifecycle fields unknown, function criteria 22023), its compilation
 * kept for the next row.  NULL data has no field at all (every path is
 * missing: the null rule); a NULL condition gives NULL.
 */
Datum
cyoda_wf_matches_condition(PG_FUNCTION_ARGS)
{
	CwCondition *c;
	CwEvalContext ctx;

	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();
	c = cached_condition(fcinfo, 1);
	memset(&ctx, 0, sizeof(ctx));
	ctx.data = PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0);
	PG_RETURN_BOOL(cw_condition_eval(c, &ctx));
}
