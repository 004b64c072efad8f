/*-------------------------------------------------------------------------
 * search_field.c
 *		The pieces search_sql.c and search.c write a search's SQL with.
 *
 * Query parameters (cw_sq_param: every value the caller wrote travels as
 * a $n parameter), the operands of a compiled condition, the SQL reading
 * of a jsonPath as cond_eval.c walks it (cw_sq_path_value: a [N] step only
 * enters arrays, a .N step enters an array or an object; sort keys read
 * data paths with it), and the test of a text lifecycle field (state,
 * previousTransition, id) by one operator (cw_sq_text_leaf), which
 * reproduces cond_eval.c's rules for a string (see its header): the null
 * rule (a NULL column matches no operator but IS_NULL, negative ones
 * included), numbers compared as numbers whether written 30 or "30" (any
 * spelling cond_eval.c reads as a number, e.g. "30.0" or "3e1"),
 * "true"/"false" compared with booleans, byte-wise text order (COLLATE
 * "C"), LIKE and MATCHES_PATTERN on the whole value, lower() for the
 * case-insensitive operators.  Each test is a boolean that is never NULL,
 * so NOT groups negate it exactly.  Conditions on the data are not
 * written in SQL: cond_eval.c decides them (search_sql.c).
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"
#include "catalog.h"
#include "cond.h"
#include "search_int.h"

#include <ctype.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/uuid.h"

/*
 * The SQL spelling of cond_eval.c's cw_looks_numeric(): JSON number syntax
 * (also ".5" and "5."), an exponent of at most 1000, at most 1000 bytes.
 * Written without backslashes so standard_conforming_strings cannot matter.
 */
#define SQL_NUMERIC_RE \
	"'^-?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?0*([0-9]{1,3}|1000))?$'"



static char *sql_like_pattern(const CwCondition *c);

/* ----------------------------------------------------------------
 * Parameters
 * ----------------------------------------------------------------
 */

/*
 * Add a parameter and return how the SQL refers to it: "$n", or for
 * search_sql a quoted literal with a cast (debug text only).
 */
char *
cw_sq_param(SqlQuery *q, Oid type, Datum value)
{
	if (q->inline_params)
	{
		Oid			outfn;
		bool		isvarlena;

		getTypeOutputInfo(type, &outfn, &isvarlena);
		return psprintf("%s::%s",
						quote_literal_cstr(OidOutputFunctionCall(outfn, value)),
						format_type_be(type));
	}
	if (q->nparams == q->maxparams)
	{
		q->maxparams = Max(16, q->maxparams * 2);
		if (q->types == NULL)
		{
			q->types = palloc(q->maxparams * sizeof(Oid));
			q->values = palloc(q->maxparams * sizeof(Datum));
		}
		else
		{
			q->types = repalloc(q->types, q->maxparams * sizeof(Oid));
			q->values = repalloc(q->values, q->maxparams * sizeof(Datum));
		}
	}
	q->types[q->nparams] = type;
	q->values[q->nparams] = value;
	q->nparams++;
	return psprintf("$%d", q->nparams);
}

static char *
q_text(SqlQuery *q, const char *s, int len)
{
	return cw_sq_param(q, TEXTOID, PointerGetDatum(cstring_to_text_with_len(s, len)));
}

char *
cw_sq_op_text(SqlQuery *q, Operand *v)
{
	if (v->p_text == NULL)
		v->p_text = q_text(q, v->text, v->textlen);
	return v->p_text;
}

static char *
op_lower(SqlQuery *q, Operand *v)
{
	if (v->p_lower == NULL)
		v->p_lower = q_text(q, v->lower, strlen(v->lower));
	return v->p_lower;
}

static char *
op_num(SqlQuery *q, Operand *v)
{
	if (v->p_num == NULL)
		v->p_num = cw_sq_param(q, NUMERICOID, NumericGetDatum(v->num));
	return v->p_num;
}

static char *
op_bool(SqlQuery *q, Operand *v)
{
	if (v->p_bool == NULL)
		v->p_bool = cw_sq_param(q, BOOLOID, BoolGetDatum(v->boolval == 1));
	return v->p_bool;
}

/* An array parameter of n elements of type elemtype (n > 0). */
char *
cw_sq_array(SqlQuery *q, Oid arraytype, Oid elemtype, Datum *elems, int n)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	return cw_sq_param(q, arraytype,
				   PointerGetDatum(construct_array(elems, n, elemtype, typlen,
												   typbyval, typalign)));
}

/* ----------------------------------------------------------------
 * Reading the compiled condition
 * ----------------------------------------------------------------
 */

void
cw_sq_not_validated(const char *what)
{
	elog(ERROR, "search: unexpected condition (%s) after validation", what);
	pg_unreachable();
}

/*
 * An operand of the compiled condition in the forms the SQL needs; the
 * numeric is copied, since parameters outlive the compiled tree.
 */
void
cw_sq_read_operand(const CondValue *cv, Operand *out)
{
	memset(out, 0, sizeof(Operand));
	out->boolval = cv->boolval;
	out->text = cv->text;
	out->textlen = cv->textlen;
	out->lower = cv->lower;
	if (cv->num != NULL)
		out->num = DatumGetNumeric(datumCopy(NumericGetDatum(cv->num), false, -1));
	switch (cv->jv.type)
	{
		case jbvString:
			out->kind = OV_STRING;
			break;
		case jbvNumeric:
			out->kind = OV_NUMBER;
			break;
		case jbvBool:
			out->kind = OV_BOOL;
			break;
		case jbvBinary:
			out->kind = OV_CONTAINER;
			out->container = JsonbValueToJsonb((JsonbValue *) &cv->jv);
			break;
		default:
			cw_sq_not_validated("operand type");
	}
}

/* The operand(s) of a simple condition on data or a text lifecycle field. */
void
cw_sq_read_operands(const CwCondition *c, Operand *val, Operand *hi)
{
	if (c->op->base == OPB_IS_NULL || c->op->base == OPB_NOT_NULL)
		return;
	cw_sq_read_operand(&c->val, val);
	if (c->op->base == OPB_LIKE)
		val->pattern = sql_like_pattern(c);
	else if (c->op->base == OPB_REGEX)
		val->pattern = c->re_text;
	if (c->op->base == OPB_BETWEEN || c->op->base == OPB_BETWEEN_INCL)
		cw_sq_read_operand(&c->hi, hi);
}

/* The jsonPath steps of a simple or array condition. */
Path
cw_sq_node_path(const CwCondition *c)
{
	Path		path;

	path.n = c->nsteps;
	path.steps = c->steps;
	return path;
}

/* ----------------------------------------------------------------
 * SQL for one field
 * ----------------------------------------------------------------
 */

/* Whether a name step may be read as an array index by #> but not here. */
static bool
key_needs_object(const PathStep *s)
{
	if (s->kind != PS_KEY || s->index >= 0)
		return false;
	for (int i = 0; i < s->keylen; i++)
		if (isdigit((unsigned char) s->key[i]))
			return true;
	return false;
}

/* A text[] parameter holding steps [from, to) as #> reads them. */
static char *
path_param(SqlQuery *q, const Path *path, int from, int to)
{
	int			n = to - from;
	Datum	   *elems = palloc(Max(n, 1) * sizeof(Datum));

	for (int k = from; k < to; k++)
	{
		const PathStep *s = &path->steps[k];

		CHECK_FOR_INTERRUPTS();
		if (s->kind == PS_KEY)
			elems[k - from] = PointerGetDatum(cstring_to_text_with_len(s->key, s->keylen));
		else
			elems[k - from] = CStringGetTextDatum(psprintf("%d", s->index));
	}
	return cw_sq_param(q, TEXTARRAYOID,
				   PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false,
												   TYPALIGN_INT)));
}

/*
 * The jsonb at steps [from, to) of path below base (no [*] among them), NULL
 * when nothing is there, walked as cond_eval.c walks it:
 *	- a run of names is read with one #> (a digits-only name addresses an
 *	  object member or an array element, as in cond_eval.c), a single name
 *	  without digits with ->;
 *	- #> would also read a name such as "-1" as an index of an array: such a
 *	  name is read alone with ->, whose text form only enters objects;
 *	- #> would read a [N] step as a key of an object, and -> N reads a
 *	  scalar as an array of itself: a run of [N] steps is read with
 *	  jsonb_path_query_first in strict mode, which only enters arrays and
 *	  yields NULL otherwise.
 * Each step is read once, so the expression grows with the path's length.
 */
char *
cw_sq_path_value(SqlQuery *q, const char *base, const Path *path, int from, int to)
{
	char	   *value = pstrdup(base);
	int			k = from;

	while (k < to)
	{
		const PathStep *s = &path->steps[k];
		int			run = k + 1;

		CHECK_FOR_INTERRUPTS();
		if (s->kind == PS_INDEX)
		{
			StringInfoData jp;

			initStringInfo(&jp);
			appendStringInfo(&jp, "strict $[%d]", s->index);
			for (; run < to && path->steps[run].kind == PS_INDEX; run++)
				appendStringInfo(&jp, "[%d]", path->steps[run].index);
			value = psprintf("jsonb_path_query_first(%s, %s, '{}', true)", value,
							 cw_sq_param(q, JSONPATHOID,
									 DirectFunctionCall1(jsonpath_in,
														 CStringGetDatum(jp.data))));
		}
		else if (!key_needs_object(s))
		{
			while (run < to && path->steps[run].kind == PS_KEY &&
				   !key_needs_object(&path->steps[run]))
				run++;
			if (run - k == 1 && s->index < 0)
				value = psprintf("(%s -> %s)", value, q_text(q, s->key, s->keylen));
			else
				value = psprintf("(%s #> %s)", value, path_param(q, path, k, run));
		}
		else
			value = psprintf("(%s -> %s)", value, q_text(q, s->key, s->keylen));
		k = run;
	}
	return value;
}

/* ----------------------------------------------------------------
 * SQL for a text lifecycle field
 * ----------------------------------------------------------------
 */

/* The SQL test of cond_eval.c's cw_looks_numeric() on a text expression. */
static char *
sql_is_numeric(const char *s)
{
	return psprintf("(octet_length(%s) <= %d AND %s COLLATE \"C\" ~ " SQL_NUMERIC_RE ")",
					s, CW_NUMERIC_TEXT_MAX, s);
}

/*
 * The comparison op of the string s (not NULL) with operand v, as
 * cond_eval.c's value_compare() makes it for a string: as numbers when
 * both read as numbers, as booleans when both are true/false, else
 * byte-wise when the operand is a string; "false" when it can never hold.
 * icase only for EQUALS.
 */
static char *
cmp_string(SqlQuery *q, const char *s, Operand *v, const char *op, bool icase)
{
	StringInfoData str;
	bool		cases = v->num != NULL || v->boolval >= 0;

	if (!cases && v->kind != OV_STRING)
		return "false";
	initStringInfo(&str);
	appendStringInfoChar(&str, '(');
	if (cases)
	{
		appendStringInfoString(&str, "CASE");
		if (v->num != NULL)
			appendStringInfo(&str, " WHEN %s THEN (%s)::numeric %s %s",
							 sql_is_numeric(s), s, op, op_num(q, v));
		if (v->boolval >= 0)
			appendStringInfo(&str, " WHEN %s IN ('true', 'false') THEN (%s = 'true') %s %s",
							 s, s, op, op_bool(q, v));
		appendStringInfoString(&str, " ELSE ");
	}
	if (v->kind == OV_STRING && icase)
		appendStringInfo(&str, "lower(%s) COLLATE \"C\" %s %s", s, op, op_lower(q, v));
	else if (v->kind == OV_STRING)
		appendStringInfo(&str, "%s COLLATE \"C\" %s %s", s, op, cw_sq_op_text(q, v));
	else
		appendStringInfoString(&str, "false");
	if (cases)
		appendStringInfoString(&str, " END");
	appendStringInfoChar(&str, ')');
	return str.data;
}

/*
 * The compiled LIKE pattern (cond_compile.c compile_like: % any run, _ one
 * character, the rest literal) as an SQL LIKE pattern: %, _ and \ among the
 * literals escaped with \.
 */
static char *
sql_like_pattern(const CwCondition *c)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < c->nlike; i++)
	{
		const LikeTok *tok = &c->like[i];

		CHECK_FOR_INTERRUPTS();
		if (tok->kind == LT_ANY)
			appendStringInfoChar(&buf, '%');
		else if (tok->kind == LT_ONE)
			appendStringInfoChar(&buf, '_');
		else
			for (int k = 0; k < tok->len; k++)
			{
				/* no byte of a multibyte character is one of these */
				if (tok->lit[k] == '%' || tok->lit[k] == '_' || tok->lit[k] == '\\')
					appendStringInfoChar(&buf, '\\');
				appendStringInfoChar(&buf, tok->lit[k]);
			}
	}
	return buf.data;
}

/* The text operators on a text expression t that is not NULL. */
static char *
text_test(SqlQuery *q, const OpInfo *op, const char *t, Operand *v)
{
	const char *operand = op->icase ? op_lower(q, v) : NULL;

	switch (op->base)
	{
		case OPB_CONTAINS:
			return psprintf("(strpos(%s COLLATE \"C\", %s) > 0)", t,
							operand ? operand : cw_sq_op_text(q, v));
		case OPB_STARTS:
			return psprintf("starts_with(%s COLLATE \"C\", %s)", t,
							operand ? operand : cw_sq_op_text(q, v));
		case OPB_ENDS:
			{
				const char *s = op->icase ? v->lower : v->text;
				int			slen = strlen(s);

				/* the length is a parameter too: one query text per shape */
				return psprintf("(right(%s, %s) COLLATE \"C\" = %s)", t,
								cw_sq_param(q, INT4OID,
										Int32GetDatum(pg_mbstrlen_with_len(s, slen))),
								operand ? operand : cw_sq_op_text(q, v));
			}
		case OPB_LIKE:
			return psprintf("(%s COLLATE \"C\" LIKE %s)", t,
							q_text(q, v->pattern, strlen(v->pattern)));
		case OPB_REGEX:
			return psprintf("(%s ~ %s)", t, q_text(q, v->pattern, strlen(v->pattern)));
		default:
			cw_sq_not_validated("text operator");
	}
}

/*
 * The positive form of an operator other than IS_NULL / NOT_NULL on the
 * text column col: never NULL, false when col is NULL.
 */
static char *
positive_test(SqlQuery *q, const char *col, const OpInfo *op, Operand *val, Operand *hi)
{
	char	   *test;

	switch (op->base)
	{
		case OPB_EQ:
			test = cmp_string(q, col, val, "=", op->icase);
			break;
		case OPB_GT:
			test = cmp_string(q, col, val, ">", false);
			break;
		case OPB_GE:
			test = cmp_string(q, col, val, ">=", false);
			break;
		case OPB_LT:
			test = cmp_string(q, col, val, "<", false);
			break;
		case OPB_LE:
			test = cmp_string(q, col, val, "<=", false);
			break;
		case OPB_BETWEEN:
		case OPB_BETWEEN_INCL:
			{
				bool		incl = op->base == OPB_BETWEEN_INCL;
				char	   *lo = cmp_string(q, col, val, incl ? ">=" : ">", false);
				char	   *up = cmp_string(q, col, hi, incl ? "<=" : "<", false);

				test = psprintf("%s AND %s", lo, up);
				break;
			}
		case OPB_CONTAINS:
		case OPB_STARTS:
		case OPB_ENDS:
		case OPB_LIKE:
		case OPB_REGEX:
			if (val->text == NULL)
				return "false";
			test = text_test(q, op, op->icase ? psprintf("lower(%s)", col) : col, val);
			break;
		default:
			cw_sq_not_validated("operator base");
	}
	return psprintf("COALESCE(%s, false)", test);
}

/*
 * Append the test of a text lifecycle field (the text column col, which
 * may be NULL) by operator op, null rule included: a NULL column matches
 * IS_NULL only, negative operators included.
 */
void
cw_sq_text_leaf(SqlQuery *q, StringInfo out, const char *col, const OpInfo *op,
				Operand *val, Operand *hi)
{
	if (op->base == OPB_IS_NULL)
		appendStringInfo(out, "(%s IS NULL)", col);
	else if (op->base == OPB_NOT_NULL)
		appendStringInfo(out, "(%s IS NOT NULL)", col);
	else if (op->negate)
		appendStringInfo(out, "(%s IS NOT NULL AND NOT %s)", col,
						 positive_test(q, col, op, val, hi));
	else
		appendStringInfoString(out, positive_test(q, col, op, val, hi));
}
