/*-------------------------------------------------------------------------
 * cond_check.c
 *		cyoda_wf.check_condition: a condition compiled (cond_compile.c) and
 *		evaluated (cond_eval.c) against given data, to try criteria out.
 *
 * The one caller of both halves of the condition language outside the
 * engine, so that the compiler and the evaluator do not call each other.
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"
#include "cond.h"

#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(cyoda_wf_check_condition);

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
