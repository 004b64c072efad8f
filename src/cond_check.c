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
 * and its answer is cond_eval.c's by construction.  Its planner support
 * function estimates the share of rows it keeps from the condition's
 * operators, as PostgreSQL's defaults for the same tests in SQL would
 * (a boolean function would otherwise keep a third of the rows, which makes
 * a parallel scan look dear).
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"
#include "cond.h"

#include "miscadmin.h"
#include "nodes/supportnodes.h"
#include "utils/memutils.h"
#include "utils/selfuncs.h"

PG_FUNCTION_INFO_V1(cyoda_wf_check_condition);
PG_FUNCTION_INFO_V1(cyoda_wf_matches_condition);
PG_FUNCTION_INFO_V1(cyoda_wf_matches_condition_support);

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

/*
 * The share of rows a compiled condition keeps, with PostgreSQL's default
 * selectivities of the matching SQL tests (selfuncs.h): equality, a range,
 * a pattern, IS NULL 0.005; one-sided comparisons a third; negations the
 * rest; AND multiplies, OR adds as independent events.
 */
static Selectivity
condition_selectivity(const CwCondition *c)
{
	Selectivity s;

	check_stack_depth();
	switch (c->kind)
	{
		case CK_AND:
			s = 1.0;
			for (int i = 0; i < c->nchildren; i++)
				s *= condition_selectivity(c->children[i]);
			return s;
		case CK_OR:
			s = 1.0;
			for (int i = 0; i < c->nchildren; i++)
				s *= 1.0 - condition_selectivity(c->children[i]);
			return 1.0 - s;
		case CK_NOT:
			return 1.0 - condition_selectivity(c->children[0]);
		case CK_SIMPLE:
		case CK_LIFECYCLE:
			break;
		default:
			return DEFAULT_EQ_SEL;	/* array: element equalities */
	}
	switch (c->op->base)
	{
		case OPB_GT:
		case OPB_GE:
		case OPB_LT:
		case OPB_LE:
			s = DEFAULT_INEQ_SEL;
			break;
		case OPB_BETWEEN:
		case OPB_BETWEEN_INCL:
			s = DEFAULT_RANGE_INEQ_SEL;
			break;
		case OPB_NOT_NULL:
			s = DEFAULT_NOT_UNK_SEL;
			break;
		case OPB_EQ:
			s = DEFAULT_EQ_SEL;
			break;
		default:
			s = DEFAULT_MATCH_SEL;
			break;
	}
	if (c->set != NULL)			/* a merged OR: every operand once */
		s *= c->set->nsubs + c->set->nconts;
	s = Min(s, 1.0);
	return c->op->negate ? 1.0 - s : s;
}

/*
 * The planner support function of matches_condition: its selectivity,
 * from the condition when the plan has its value (a custom plan), else
 * DEFAULT_UNK_SEL (a generic plan: the value is a parameter).
 */
Datum
cyoda_wf_matches_condition_support(PG_FUNCTION_ARGS)
{
	Node	   *rawreq = (Node *) PG_GETARG_POINTER(0);
	SupportRequestSelectivity *req;
	Node	   *arg;

	if (!IsA(rawreq, SupportRequestSelectivity))
		PG_RETURN_POINTER(NULL);
	req = (SupportRequestSelectivity *) rawreq;
	req->selectivity = DEFAULT_UNK_SEL;
	arg = list_length(req->args) == 2 ? lsecond(req->args) : NULL;
	if (arg != NULL && IsA(arg, Const) && !((Const *) arg)->constisnull)
	{
		MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
												  "cyoda_wf condition estimate",
												  ALLOCSET_SMALL_SIZES);
		CwCondition *c;

		/* an invalid condition raises its 22023 here rather than at run */
		c = cw_condition_compile(DatumGetJsonbP(((Const *) arg)->constvalue),
								 "$", "public", cxt);
		req->selectivity = Max(Min(condition_selectivity(c), 1.0), 0.0);
		MemoryContextDelete(cxt);
	}
	PG_RETURN_POINTER(req);
}
