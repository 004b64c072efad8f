/*-------------------------------------------------------------------------
 * search_field.c
 *		One field of a search tested by one operator, in SQL.
 *
 * The pieces search_sql.c assembles a condition from: query parameters
 * (cw_sq_param: every value the caller wrote travels as a $n parameter),
 * the operands of a compiled condition, the SQL reading of a jsonPath
 * (cond_eval.c's path walk) and the test of one field against one or more
 * operands (cw_sq_leaf), which reproduces cond_eval.c exactly (see its
 * header for the rules):
 * the null rule (a missing or JSON-null field matches no operator but
 * IS_NULL, negative ones included), numbers compared as numbers whether
 * written 30 or "30" (any spelling cond_eval.c reads as a number, e.g.
 * "30.0" or "3e1"), "true"/"false" compared with booleans, byte-wise text
 * order (COLLATE "C"), LIKE and MATCHES_PATTERN on the whole value,
 * lower() for the case-insensitive operators, [*] as "some element", and
 * cond_eval.c's path walk (a [N] step only enters arrays, a .N step
 * enters an array or an object).  Each generated predicate is a boolean
 * that is never NULL, so NOT groups negate it exactly.
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

static char *
op_json(SqlQuery *q, Operand *v)
{
	if (v->p_json == NULL)
		v->p_json = cw_sq_param(q, JSONBOID, JsonbPGetDatum(v->container));
	return v->p_json;
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

/* A jsonb field given by an expression. */
Field
cw_sq_jsonb_field(const char *j)
{
	Field		f;

	f.j = j;
	f.t = psprintf("(%s #>> '{}')", j);
	return f;
}

/* cw_sq_path_value() as a Field: a single name reads its text with ->>. */
Field
cw_sq_path_field(SqlQuery *q, const char *base, const Path *path, int from, int to)
{
	Field		f;

	if (to - from == 1 && path->steps[from].kind == PS_KEY &&
		path->steps[from].index < 0)
	{
		char	   *k = q_text(q, path->steps[from].key, path->steps[from].keylen);

		f.j = psprintf("(%s -> %s)", base, k);
		f.t = psprintf("(%s ->> %s)", base, k);
		return f;
	}
	return cw_sq_jsonb_field(cw_sq_path_value(q, base, path, from, to));
}

/* The SQL test of cond_eval.c's cw_looks_numeric() on a text expression. */
static char *
sql_is_numeric(const char *s)
{
	return psprintf("(octet_length(%s) <= %d AND %s COLLATE \"C\" ~ " SQL_NUMERIC_RE ")",
					s, CW_NUMERIC_TEXT_MAX, s);
}

/* One comparison of a field with an operand: value_compare() then op. */
typedef struct CmpTest
{
	Operand    *v;
	const char *op;				/* SQL comparison operator */
} CmpTest;

/*
 * The test of a string field's text s against one operand (cond_eval.c
 * value_compare on a string): as numbers when both read as numbers, as
 * booleans when both are true/false, else byte-wise when the operand is a
 * string.  NULL when it can never hold.
 */
static char *
cmp_string_branch(SqlQuery *q, const char *s, CmpTest *t, bool icase)
{
	Operand    *v = t->v;
	StringInfoData str;
	bool		cases = v->num != NULL || v->boolval >= 0;

	if (!cases && v->kind != OV_STRING)
		return NULL;
	initStringInfo(&str);
	appendStringInfoChar(&str, '(');
	if (cases)
	{
		appendStringInfoString(&str, "CASE");
		if (v->num != NULL)
			appendStringInfo(&str, " WHEN %s THEN (%s)::numeric %s %s",
							 sql_is_numeric(s), s, t->op, op_num(q, v));
		if (v->boolval >= 0)
			appendStringInfo(&str, " WHEN %s IN ('true', 'false') THEN (%s = 'true') %s %s",
							 s, s, t->op, op_bool(q, v));
		appendStringInfoString(&str, " ELSE ");
	}
	if (v->kind == OV_STRING && icase)
		appendStringInfo(&str, "lower(%s) COLLATE \"C\" %s %s", s, t->op, op_lower(q, v));
	else if (v->kind == OV_STRING)
		appendStringInfo(&str, "%s COLLATE \"C\" %s %s", s, t->op, cw_sq_op_text(q, v));
	else
		appendStringInfoString(&str, "false");
	if (cases)
		appendStringInfoString(&str, " END");
	appendStringInfoChar(&str, ')');
	return str.data;
}

/*
 * Append "the field compares with every operand of tests[] and each
 * comparison satisfies its op" (one test, or BETWEEN's two) as a boolean
 * that is never NULL, false for a missing or null field: the SQL form of
 * cond_eval.c's value_compare().  f is jsonb, or text when is_text
 * (lifecycle fields).  icase only for EQUALS.  The field is read once per
 * JSON type, not once per test.
 */
static void
gen_cmp_tests(SqlQuery *q, StringInfo out, Field fld, CmpTest *tests,
			  int ntests, bool icase)
{
	const char *f = fld.j;
	const char *s = fld.t;
	bool		is_text = (f == NULL);
	StringInfoData num,
				bln,
				str,
				cont;
	bool		has_num = true,
				has_bool = true,
				has_str = true,
				has_cont = true;

	initStringInfo(&num);
	initStringInfo(&bln);
	initStringInfo(&str);
	initStringInfo(&cont);
	for (int i = 0; i < ntests; i++)
	{
		CmpTest    *t = &tests[i];
		const char *and = i > 0 ? " AND " : "";
		char	   *sb;

		if (t->v->num == NULL)
			has_num = false;
		else
			appendStringInfo(&num, "%s(%s)::numeric %s %s", and, f, t->op, op_num(q, t->v));
		if (t->v->boolval < 0)
			has_bool = false;
		else
			appendStringInfo(&bln, "%s(%s)::boolean %s %s", and, f, t->op, op_bool(q, t->v));
		if ((sb = cmp_string_branch(q, s, t, icase)) == NULL)
			has_str = false;
		else
			appendStringInfo(&str, "%s%s", and, sb);
		if (t->v->kind != OV_CONTAINER)
			has_cont = false;
		else
			appendStringInfo(&cont, "%s%s %s %s", and, f, t->op, op_json(q, t->v));
	}

	if (is_text)
	{
		if (has_str)
			appendStringInfo(out, "COALESCE(%s, false)", str.data);
		else
			appendStringInfoString(out, "false");
		return;
	}
	if (!has_num && !has_bool && !has_str && !has_cont)
	{
		appendStringInfoString(out, "false");
		return;
	}
	appendStringInfo(out, "(CASE jsonb_typeof(%s)", f);
	if (has_num)
		appendStringInfo(out, " WHEN 'number' THEN %s", num.data);
	if (has_bool)
		appendStringInfo(out, " WHEN 'boolean' THEN %s", bln.data);
	if (has_str)
		appendStringInfo(out, " WHEN 'string' THEN %s", str.data);
	if (has_cont)
		appendStringInfo(out, " WHEN 'object' THEN %s WHEN 'array' THEN %s",
						 cont.data, cont.data);
	appendStringInfoString(out, " ELSE false END)");
}

/* gen_cmp_tests() with a single test. */
void
cw_sq_cmp(SqlQuery *q, StringInfo out, Field fld, Operand *v, const char *op,
		bool icase)
{
	CmpTest		t;

	t.v = v;
	t.op = op;
	gen_cmp_tests(q, out, fld, &t, 1, icase);
}

/*
 * Append "the field equals some operand of vals[0..n)" (the members of a
 * merged OR of EQUALS / IEQUALS, icase for IEQUALS), as gen_cmp would for
 * each operand ORed, but with one array parameter per JSON type, so its
 * size and planning time do not grow with n.  A string field holds when
 * some reading of it matches: as a number (numeric[]), as true/false
 * (boolean[]), or byte-wise (text[] of the string operands, lower-cased
 * for IEQUALS).  The union is exact: a string byte-equal to a numeric
 * string operand is itself numeric and numerically equal, one byte-equal
 * to "true" is true, so no reading adds a match value_compare() would not
 * make.  f is jsonb; never NULL, false for a missing or null field.
 */
static void
gen_eq_any(SqlQuery *q, StringInfo out, Field fld, Operand *vals, int n,
		   bool icase)
{
	const char *f = fld.j;
	const char *s = fld.t;
	Datum	   *nums = palloc(n * sizeof(Datum));
	Datum	   *texts = palloc(n * sizeof(Datum));
	Datum	   *conts = palloc(n * sizeof(Datum));
	Datum		bools[2];
	int			nnum = 0,
				ntext = 0,
				ncont = 0,
				nbool = 0;
	bool		has_true = false,
				has_false = false;
	char	   *pnum = NULL,
			   *ptext = NULL,
			   *pbool = NULL;
	StringInfoData str;

	Assert(f != NULL);
	for (int i = 0; i < n; i++)
	{
		Operand    *v = &vals[i];

		CHECK_FOR_INTERRUPTS();
		if (v->num != NULL)
			nums[nnum++] = NumericGetDatum(v->num);
		if (v->boolval == 1)
			has_true = true;
		else if (v->boolval == 0)
			has_false = true;
		if (v->kind == OV_STRING)
			texts[ntext++] = CStringGetTextDatum(icase ? v->lower : v->text);
		else if (v->kind == OV_CONTAINER)
			conts[ncont++] = JsonbPGetDatum(v->container);
	}
	if (has_true)
		bools[nbool++] = BoolGetDatum(true);
	if (has_false)
		bools[nbool++] = BoolGetDatum(false);
	if (nnum)
		pnum = cw_sq_array(q, NUMERICARRAYOID, NUMERICOID, nums, nnum);
	if (nbool)
		pbool = cw_sq_array(q, BOOLARRAYOID, BOOLOID, bools, nbool);
	if (ntext)
		ptext = cw_sq_array(q, TEXTARRAYOID, TEXTOID, texts, ntext);

	/* the string readings, ORed */
	initStringInfo(&str);
	if (ptext)
		appendStringInfo(&str, "%s%s COLLATE \"C\" = ANY (%s)",
						 icase ? "lower" : "", icase ? psprintf("(%s)", s) : s,
						 ptext);
	if (pnum)
		appendStringInfo(&str, "%s(CASE WHEN %s THEN (%s)::numeric = ANY (%s) ELSE false END)",
						 str.len ? " OR " : "", sql_is_numeric(s), s, pnum);
	if (pbool)
		appendStringInfo(&str, "%s(%s IN ('true', 'false') AND (%s = 'true') = ANY (%s))",
						 str.len ? " OR " : "", s, s, pbool);

	appendStringInfo(out, "(CASE jsonb_typeof(%s)", f);
	if (pnum)
		appendStringInfo(out, " WHEN 'number' THEN (%s)::numeric = ANY (%s)", f, pnum);
	if (pbool)
		appendStringInfo(out, " WHEN 'boolean' THEN (%s)::boolean = ANY (%s)", f, pbool);
	if (str.len)
		appendStringInfo(out, " WHEN 'string' THEN (%s)", str.data);
	if (ncont)
	{
		char	   *pcont = cw_sq_array(q, JSONBARRAYOID, JSONBOID, conts, ncont);

		appendStringInfo(out, " WHEN 'object' THEN %s = ANY (%s) WHEN 'array' THEN %s = ANY (%s)",
						 f, pcont, f, pcont);
	}
	appendStringInfoString(out, " ELSE false END)");
}

/*
 * The text t (not NULL) contains some operand of vals[0..n) that has a
 * text: the members of a merged OR of CONTAINS / ICONTAINS on a scalar
 * field (text_test's strpos for each, one text[] parameter).  NULL when no
 * operand has a text (objects and arrays only).
 */
static char *
contains_any(SqlQuery *q, const char *t, Operand *vals, int n, bool icase)
{
	Datum	   *subs = palloc(n * sizeof(Datum));
	int			nsub = 0;
	int			alias;

	for (int i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (vals[i].text != NULL)
			subs[nsub++] = CStringGetTextDatum(icase ? vals[i].lower : vals[i].text);
	}
	if (nsub == 0)
		return NULL;
	alias = ++q->nalias;
	return psprintf("EXISTS (SELECT 1 FROM unnest(%s) AS x%d(s) WHERE strpos(%s COLLATE \"C\", x%d.s) > 0)",
					cw_sq_array(q, TEXTARRAYOID, TEXTOID, subs, nsub), alias, t, alias);
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
 * Append an operator other than IS_NULL / NOT_NULL, positive form, on a
 * field: never NULL, false when the field is missing or null.  val holds
 * nval operands: more than one for the members of a merged group (EQUALS
 * or CONTAINS, on a data path), where the test is "for some operand".
 */
static void
gen_positive(SqlQuery *q, StringInfo out, Field fld, const OpInfo *op,
			 Operand *val, int nval, Operand *hi)
{
	const char *f = fld.j;
	bool		is_text = (f == NULL);

	Assert(nval == 1 || (!is_text && (op->base == OPB_EQ || op->base == OPB_CONTAINS)));
	switch (op->base)
	{
		case OPB_EQ:
			if (nval > 1)
				gen_eq_any(q, out, fld, val, nval, op->icase);
			else
				cw_sq_cmp(q, out, fld, val, "=", op->icase);
			return;
		case OPB_GT:
			cw_sq_cmp(q, out, fld, val, ">", false);
			return;
		case OPB_GE:
			cw_sq_cmp(q, out, fld, val, ">=", false);
			return;
		case OPB_LT:
			cw_sq_cmp(q, out, fld, val, "<", false);
			return;
		case OPB_LE:
			cw_sq_cmp(q, out, fld, val, "<=", false);
			return;
		case OPB_BETWEEN:
		case OPB_BETWEEN_INCL:
			{
				CmpTest		t[2];

				t[0].v = val;
				t[0].op = op->base == OPB_BETWEEN ? ">" : ">=";
				t[1].v = hi;
				t[1].op = op->base == OPB_BETWEEN ? "<" : "<=";
				gen_cmp_tests(q, out, fld, t, 2, false);
				return;
			}
		case OPB_CONTAINS:
		case OPB_STARTS:
		case OPB_ENDS:
		case OPB_LIKE:
		case OPB_REGEX:
			{
				const char *s = fld.t;
				const char *t = op->icase ? psprintf("lower(%s)", s) : s;
				char	   *scalar;

				if (is_text)
				{
					if (val->text == NULL)
						appendStringInfoString(out, "false");
					else
						appendStringInfo(out, "COALESCE(%s, false)",
										 text_test(q, op, t, val));
					return;
				}
				scalar = op->base == OPB_CONTAINS && nval > 1 ?
					contains_any(q, t, val, nval, op->icase) :
					val->text != NULL ? text_test(q, op, t, val) : NULL;
				if (scalar == NULL)
					appendStringInfoString(out, "false");
				else
					appendStringInfo(out, "(CASE WHEN jsonb_typeof(%s) IN ('string', 'number', 'boolean') "
									 "THEN %s ELSE false END)", f, scalar);
				return;
			}
		case OPB_IS_NULL:
		case OPB_NOT_NULL:
			break;
	}
	cw_sq_not_validated("operator base");
}

/*
 * Append a simple / text lifecycle operator on a field, null rule included
 * (nval operands as for gen_positive), and NOT_CONTAINS / NOT_STARTS_WITH /
 * NOT_ENDS_WITH on strings only (cw_op_strings_only).
 */
void
cw_sq_leaf(SqlQuery *q, StringInfo out, Field fld, const OpInfo *op,
		 Operand *val, int nval, Operand *hi)
{
	char	   *present = fld.j == NULL ? psprintf("%s IS NOT NULL", fld.t) :
		cw_op_strings_only(op) ?
		psprintf("COALESCE(jsonb_typeof(%s), 'null') = 'string'", fld.j) :
		psprintf("COALESCE(jsonb_typeof(%s), 'null') <> 'null'", fld.j);

	if (op->base == OPB_IS_NULL)
	{
		appendStringInfo(out, "(NOT (%s))", present);
		return;
	}
	if (op->base == OPB_NOT_NULL)
	{
		appendStringInfo(out, "(%s)", present);
		return;
	}
	if (op->negate)
	{
		appendStringInfo(out, "(%s AND NOT ", present);
		gen_positive(q, out, fld, op, val, nval, hi);
		appendStringInfoChar(out, ')');
	}
	else
		gen_positive(q, out, fld, op, val, nval, hi);
}
