/*-------------------------------------------------------------------------
 * search.c
 *		cyoda_wf.search: a Cyoda condition translated into one SQL query.
 *
 * search(model, model_version, condition, point_in_time) validates the
 * condition with the condition compiler (so every 22023 error is the one a
 * workflow criterion would raise; function criteria are refused), then
 * walks the compiled tree (cond.h, each group member as written) and
 * writes a single parameterized SELECT over
 * cyoda_wf.entity, or, with a point_in_time, over the latest version row of
 * each entity at that time.  Every value taken from the condition travels
 * as a $n parameter (json names as text, paths as text[] read with #>);
 * nothing the caller wrote is spliced into the SQL text.  The query text
 * depends only on the condition's shape, so its saved plan is reused by
 * later searches of the same shape.  It runs through SPI as the engine
 * owner, like the other entity-service functions.  search_sql() returns
 * the same SQL with the parameters written as literals, to EXPLAIN it.
 *
 * The SQL reproduces cond_eval.c exactly (see its header for the rules):
 * the null rule (a missing or JSON-null field matches no operator but
 * IS_NULL, negative ones included), numbers compared as numbers whether
 * written 30 or "30" (any spelling cond_eval.c reads as a number, e.g.
 * "30.0" or "3e1"), "true"/"false" compared with booleans, byte-wise text
 * order (COLLATE "C"), LIKE and MATCHES_PATTERN on the whole value,
 * lower() for the case-insensitive operators, [*] as "some element", and
 * cond_eval.c's path walk (a [N] step only enters arrays, a .N step
 * enters an array or an object).  Each generated predicate is a boolean
 * that is never NULL, so NOT groups negate it exactly.
 *
 * Index use (entity_data_idx is GIN jsonb_path_ops on data; the btree is
 * (model, model_version, state)):
 *	- every search filters model = $1 AND model_version = $2;
 *	- EQUALS on a data path made of names and [*] steps, whose operand is a
 *	  string that is not a number, a boolean, an object or an array, adds
 *	  data @> {"path": value} ([*] becomes an array; for true / "true"
 *	  both spellings, ORed).  It only narrows the rows; the exact predicate
 *	  is still applied.  Numeric operands cannot use it: "30.0" and "3e1"
 *	  equal 30 too, and no finite set of containment documents covers every
 *	  spelling of a number;
 *	- lifecycle state / previousTransition EQUALS a string becomes
 *	  column = $n (state: the btree);
 *	- lifecycle id EQUALS a canonical uuid becomes id = $n (primary key).
 * Everything else is evaluated row by row on what those select.
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"
#include "catalog.h"
#include "model.h"
#include "cond.h"

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

PG_FUNCTION_INFO_V1(cyoda_wf_search_entities);
PG_FUNCTION_INFO_V1(cyoda_wf_search_sql);

/* Rows fetched from the cursor at a time. */
#define SEARCH_FETCH 1000

/* Saved plans kept per backend, by query text (least recently used goes). */
#define SEARCH_PLAN_CACHE 64

/*
 * The SQL spelling of cond_eval.c's cw_looks_numeric(): JSON number syntax
 * (also ".5" and "5."), an exponent of at most 1000, at most 1000 bytes.
 * Written without backslashes so standard_conforming_strings cannot matter.
 */
#define SQL_NUMERIC_RE \
	"'^-?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?0*([0-9]{1,3}|1000))?$'"


/* The steps of a compiled jsonPath. */
typedef struct Path
{
	int			n;
	const PathStep *steps;
} Path;

/* An operand, in every form the SQL needs; parameters made on first use. */
typedef enum OperandKind
{
	OV_STRING,
	OV_NUMBER,
	OV_BOOL,
	OV_CONTAINER
} OperandKind;

typedef struct Operand
{
	OperandKind kind;
	const char *text;			/* string, number as numeric_out, true/false */
	int			textlen;
	Numeric		num;			/* numeric reading (30 or "30"), or NULL */
	int			boolval;		/* 1/0 for true/"true"/false/"false", else -1 */
	const char *lower;			/* lower-cased text (case-insensitive ops) */
	Jsonb	   *container;		/* OV_CONTAINER */
	const char *pattern;		/* LIKE, MATCHES_PATTERN: the SQL pattern */
	char	   *p_text;
	char	   *p_num;
	char	   *p_bool;
	char	   *p_lower;
	char	   *p_json;
} Operand;

/* The query being written and its parameters. */
typedef struct SqlQuery
{
	StringInfoData sql;
	bool		inline_params;	/* search_sql: literals instead of $n */
	int			nparams;
	int			maxparams;
	Oid		   *types;
	Datum	   *values;
	int			nalias;			/* x1, x2, ... of jsonb_array_elements */
} SqlQuery;

/*
 * A field a condition tests: jsonb (j) with its text form (t, what #>> '{}'
 * gives: a string unquoted, a number or boolean as written), or a text
 * lifecycle column (j NULL, t the column).
 */
typedef struct Field
{
	const char *j;
	const char *t;
} Field;

/*
 * A saved plan of a generated query.  The query text depends only on the
 * condition's shape (values are parameters), so repeated searches with new
 * values reuse it; the plan cache still plans custom plans with the values
 * as long as that pays, as for any prepared statement.
 */
typedef struct SearchPlan
{
	char	   *sql;
	int			nargs;
	Oid		   *types;
	SPIPlanPtr	plan;
	uint64		last_used;
} SearchPlan;

static SearchPlan search_plans[SEARCH_PLAN_CACHE];
static int	search_nplans = 0;
static uint64 search_clock = 0;
static MemoryContext search_plan_cxt = NULL;

static void gen_node(SqlQuery *q, StringInfo out, const CwCondition *c);
static char *sql_like_pattern(const CwCondition *c);

/* ----------------------------------------------------------------
 * Parameters
 * ----------------------------------------------------------------
 */

/*
 * Add a parameter and return how the SQL refers to it: "$n", or for
 * search_sql a quoted literal with a cast (debug text only).
 */
static char *
q_param(SqlQuery *q, Oid type, Datum value)
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
	return q_param(q, TEXTOID, PointerGetDatum(cstring_to_text_with_len(s, len)));
}

static char *
op_text(SqlQuery *q, Operand *v)
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
		v->p_num = q_param(q, NUMERICOID, NumericGetDatum(v->num));
	return v->p_num;
}

static char *
op_bool(SqlQuery *q, Operand *v)
{
	if (v->p_bool == NULL)
		v->p_bool = q_param(q, BOOLOID, BoolGetDatum(v->boolval == 1));
	return v->p_bool;
}

static char *
op_json(SqlQuery *q, Operand *v)
{
	if (v->p_json == NULL)
		v->p_json = q_param(q, JSONBOID, JsonbPGetDatum(v->container));
	return v->p_json;
}

/* An array parameter of n elements of type elemtype (n > 0). */
static char *
q_array(SqlQuery *q, Oid arraytype, Oid elemtype, Datum *elems, int n)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	return q_param(q, arraytype,
				   PointerGetDatum(construct_array(elems, n, elemtype, typlen,
												   typbyval, typalign)));
}

/* ----------------------------------------------------------------
 * Reading the compiled condition
 * ----------------------------------------------------------------
 */

static void
pg_attribute_noreturn()
not_validated(const char *what)
{
	elog(ERROR, "search: unexpected condition (%s) after validation", what);
	pg_unreachable();
}

/*
 * An operand of the compiled condition in the forms the SQL needs; the
 * numeric is copied, since parameters outlive the compiled tree.
 */
static void
read_operand(const CondValue *cv, Operand *out)
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
			not_validated("operand type");
	}
}

/* The operand(s) of a simple condition on data or a text lifecycle field. */
static void
read_operands(const CwCondition *c, Operand *val, Operand *hi)
{
	if (c->op->base == OPB_IS_NULL || c->op->base == OPB_NOT_NULL)
		return;
	read_operand(&c->val, val);
	if (c->op->base == OPB_LIKE)
		val->pattern = sql_like_pattern(c);
	else if (c->op->base == OPB_REGEX)
		val->pattern = c->re_text;
	if (c->op->base == OPB_BETWEEN || c->op->base == OPB_BETWEEN_INCL)
		read_operand(&c->hi, hi);
}

/* The jsonPath steps of a simple or array condition. */
static Path
node_path(const CwCondition *c)
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
	return q_param(q, TEXTARRAYOID,
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
static char *
path_value(SqlQuery *q, const char *base, const Path *path, int from, int to)
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
							 q_param(q, JSONPATHOID,
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
static Field
jsonb_field(const char *j)
{
	Field		f;

	f.j = j;
	f.t = psprintf("(%s #>> '{}')", j);
	return f;
}

/* path_value() as a Field: a single name reads its text with ->>. */
static Field
path_field(SqlQuery *q, const char *base, const Path *path, int from, int to)
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
	return jsonb_field(path_value(q, base, path, from, to));
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
		appendStringInfo(&str, "%s COLLATE \"C\" %s %s", s, t->op, op_text(q, v));
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
static void
gen_cmp(SqlQuery *q, StringInfo out, Field fld, Operand *v, const char *op,
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
		pnum = q_array(q, NUMERICARRAYOID, NUMERICOID, nums, nnum);
	if (nbool)
		pbool = q_array(q, BOOLARRAYOID, BOOLOID, bools, nbool);
	if (ntext)
		ptext = q_array(q, TEXTARRAYOID, TEXTOID, texts, ntext);

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
		char	   *pcont = q_array(q, JSONBARRAYOID, JSONBOID, conts, ncont);

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
					q_array(q, TEXTARRAYOID, TEXTOID, subs, nsub), alias, t, alias);
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
							operand ? operand : op_text(q, v));
		case OPB_STARTS:
			return psprintf("starts_with(%s COLLATE \"C\", %s)", t,
							operand ? operand : op_text(q, v));
		case OPB_ENDS:
			{
				const char *s = op->icase ? v->lower : v->text;
				int			slen = strlen(s);

				/* the length is a parameter too: one query text per shape */
				return psprintf("(right(%s, %s) COLLATE \"C\" = %s)", t,
								q_param(q, INT4OID,
										Int32GetDatum(pg_mbstrlen_with_len(s, slen))),
								operand ? operand : op_text(q, v));
			}
		case OPB_LIKE:
			return psprintf("(%s COLLATE \"C\" LIKE %s)", t,
							q_text(q, v->pattern, strlen(v->pattern)));
		case OPB_REGEX:
			return psprintf("(%s ~ %s)", t, q_text(q, v->pattern, strlen(v->pattern)));
		default:
			not_validated("text operator");
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
				gen_cmp(q, out, fld, val, "=", op->icase);
			return;
		case OPB_GT:
			gen_cmp(q, out, fld, val, ">", false);
			return;
		case OPB_GE:
			gen_cmp(q, out, fld, val, ">=", false);
			return;
		case OPB_LT:
			gen_cmp(q, out, fld, val, "<", false);
			return;
		case OPB_LE:
			gen_cmp(q, out, fld, val, "<=", false);
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

				if (is_text)
				{
					if (val->text == NULL)
						appendStringInfoString(out, "false");
					else
						appendStringInfo(out, "COALESCE(%s, false)",
										 text_test(q, op, t, val));
					return;
				}
				appendStringInfoString(out, "(CASE");
				if (op->base == OPB_CONTAINS)
				{
					/* on an array: some element equals the value */
					int			alias = ++q->nalias;
					Field		elem = jsonb_field(psprintf("x%d.e", alias));
					char	   *scalar;

					appendStringInfo(out, " WHEN jsonb_typeof(%s) = 'array' THEN EXISTS "
									 "(SELECT 1 FROM jsonb_array_elements(%s) AS x%d(e) WHERE ",
									 f, f, alias);
					if (nval > 1)
						gen_eq_any(q, out, elem, val, nval, op->icase);
					else
						gen_cmp(q, out, elem, val, "=", op->icase);
					appendStringInfoChar(out, ')');
					scalar = nval > 1 ? contains_any(q, t, val, nval, op->icase) :
						val->text != NULL ? text_test(q, op, t, val) : NULL;
					if (scalar != NULL)
						appendStringInfo(out, " WHEN jsonb_typeof(%s) IN ('string', 'number', 'boolean') THEN %s",
										 f, scalar);
				}
				else if (val->text != NULL)
					appendStringInfo(out, " WHEN jsonb_typeof(%s) IN ('string', 'number', 'boolean') THEN %s",
									 f, text_test(q, op, t, val));
				appendStringInfoString(out, " ELSE false END)");
				return;
			}
		case OPB_IS_NULL:
		case OPB_NOT_NULL:
			break;
	}
	not_validated("operator base");
}

/*
 * Append a simple / text lifecycle operator on a field, null rule included
 * (nval operands as for gen_positive; a merged AND of NOT_EQUAL is "present
 * and equal to none").
 */
static void
gen_leaf(SqlQuery *q, StringInfo out, Field fld, const OpInfo *op,
		 Operand *val, int nval, Operand *hi)
{
	char	   *present = fld.j == NULL ? psprintf("%s IS NOT NULL", fld.t) :
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

/* ----------------------------------------------------------------
 * Conditions
 * ----------------------------------------------------------------
 */

/* JSON text of a scalar or container operand, for a containment document. */
static void
append_operand_json(StringInfo buf, Operand *v, bool as_bool)
{
	if (as_bool)
		appendStringInfoString(buf, v->boolval == 1 ? "true" : "false");
	else if (v->kind == OV_CONTAINER)
		appendStringInfoString(buf, JsonbToCString(NULL, &v->container->root,
												   VARSIZE(v->container)));
	else
		escape_json(buf, v->text);
}

/* The containment document {"a": [{"b": value}]} for a path of names and [*]. */
static Datum
containment_doc(const Path *path, Operand *v, bool as_bool)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int k = 0; k < path->n; k++)
	{
		const PathStep *s = &path->steps[k];

		if (s->kind == PS_ANY)
			appendStringInfoChar(&buf, '[');
		else
		{
			appendStringInfoChar(&buf, '{');
			escape_json(&buf, s->key);
			appendStringInfoChar(&buf, ':');
		}
	}
	append_operand_json(&buf, v, as_bool);
	for (int k = path->n - 1; k >= 0; k--)
		appendStringInfoChar(&buf, path->steps[k].kind == PS_ANY ? ']' : '}');
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

static char *
containment_param(SqlQuery *q, const Path *path, Operand *v, bool as_bool)
{
	return q_param(q, JSONBOID, containment_doc(path, v, as_bool));
}

/*
 * Whether EQUALS on path can be narrowed by data @> (a path of names, none
 * of them digits-only, and [*]) for operands that are not numbers.
 */
static bool
prefilter_path(const Path *path, const OpInfo *op)
{
	if (op->base != OPB_EQ || op->negate || op->icase || path->n == 0)
		return false;
	for (int k = 0; k < path->n; k++)
	{
		const PathStep *s = &path->steps[k];

		/* a digits-only name also addresses an array element */
		if (s->kind == PS_INDEX || (s->kind == PS_KEY && s->index >= 0))
			return false;
	}
	return true;
}

/*
 * data @> ... that every entity matching EQUALS path value also matches,
 * so the GIN index can find the candidates; NULL when there is none.
 */
static char *
equals_prefilter(SqlQuery *q, const Path *path, const OpInfo *op, Operand *v)
{
	if (!prefilter_path(path, op))
		return NULL;
	if (v->num != NULL)
		return NULL;			/* "30.0", "3e1"... equal 30 as well */
	if (v->boolval >= 0)
		return psprintf("(e.data @> %s OR e.data @> %s)",
						containment_param(q, path, v, true),
						containment_param(q, path, v, false));
	return psprintf("e.data @> %s", containment_param(q, path, v, false));
}

/*
 * equals_prefilter() of a merged OR of EQUALS, for its n operands, none
 * of them a number: data @> ANY (documents), which a bitmap scan of the GIN
 * index reads one document at a time.
 */
static char *
equals_any_prefilter(SqlQuery *q, const Path *path, Operand *vals, int n)
{
	Datum	   *docs = palloc(2 * n * sizeof(Datum));
	int			ndocs = 0;

	for (int i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		Assert(vals[i].num == NULL);
		if (vals[i].boolval >= 0)
			docs[ndocs++] = containment_doc(path, &vals[i], true);
		docs[ndocs++] = containment_doc(path, &vals[i], false);
	}
	return psprintf("e.data @> ANY (%s)",
					q_array(q, JSONBARRAYOID, JSONBOID, docs, ndocs));
}

/*
 * A simple condition below base from step `from` on; [*] = some element.
 * val holds nval operands (a merged group's, see gen_positive).
 */
static void
gen_simple_at(SqlQuery *q, StringInfo out, const char *base, const Path *path,
			  int from, const OpInfo *op, Operand *val, int nval, Operand *hi)
{
	int			k = from;
	char	   *x;
	int			alias;

	while (k < path->n && path->steps[k].kind != PS_ANY)
		k++;
	if (k == path->n)
	{
		gen_leaf(q, out, path_field(q, base, path, from, k), op, val, nval, hi);
		return;
	}
	/* not an array (or missing) at [*]: the operator sees a missing field */
	x = path_value(q, base, path, from, k);
	alias = ++q->nalias;
	appendStringInfo(out, "(CASE WHEN jsonb_typeof(%s) = 'array' THEN EXISTS "
					 "(SELECT 1 FROM jsonb_array_elements(%s) AS x%d(e) WHERE ",
					 x, x, alias);
	gen_simple_at(q, out, psprintf("x%d.e", alias), path, k + 1, op, val, nval, hi);
	appendStringInfo(out, ") ELSE %s END)",
					 op->base == OPB_IS_NULL ? "true" : "false");
}

/*
 * A simple condition (jsonPath, operator, value), or the n members of a
 * merged group (same path, same operator, see gen_group).
 */
static void
gen_simple(SqlQuery *q, StringInfo out, const CwCondition *const *members, int n)
{
	Path		path = node_path(members[0]);
	const OpInfo *op = members[0]->op;
	Operand    *vals = palloc0(n * sizeof(Operand));
	Operand		hi;
	char	   *pre;
	int			nstr = 0;

	memset(&hi, 0, sizeof(hi));
	for (int i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		read_operands(members[i], &vals[i], &hi);
	}

	if (n == 1)
	{
		pre = equals_prefilter(q, &path, op, &vals[0]);
		if (pre)
			appendStringInfo(out, "(%s AND ", pre);
		gen_simple_at(q, out, "e.data", &path, 0, op, vals, 1, &hi);
		if (pre)
			appendStringInfoChar(out, ')');
		return;
	}
	if (!prefilter_path(&path, op))
	{
		gen_simple_at(q, out, "e.data", &path, 0, op, vals, n, &hi);
		return;
	}

	/*
	 * OR of EQUALS that the GIN index can serve: the operands that are not
	 * numbers first (prefiltered), then the numbers (never prefiltered).
	 */
	for (int i = 0; i < n; i++)
		if (vals[i].num == NULL)
		{
			Operand		t = vals[nstr];

			vals[nstr++] = vals[i];
			vals[i] = t;
		}
	appendStringInfoChar(out, '(');
	if (nstr > 0)
	{
		appendStringInfo(out, "(%s AND ", equals_any_prefilter(q, &path, vals, nstr));
		gen_simple_at(q, out, "e.data", &path, 0, op, vals, nstr, &hi);
		appendStringInfoChar(out, ')');
	}
	if (nstr > 0 && nstr < n)
		appendStringInfoString(out, " OR ");
	if (nstr < n)
		gen_simple_at(q, out, "e.data", &path, 0, op, vals + nstr, n - nstr, &hi);
	appendStringInfoChar(out, ')');
}

/* Whether s is a uuid exactly as uuid_out writes it. */
static bool
canonical_uuid(const char *s, int len)
{
	if (len != 36)
		return false;
	for (int i = 0; i < 36; i++)
	{
		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (s[i] != '-')
				return false;
		}
		else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

/* A lifecycle date operand (its string, which cond_compile.c parsed). */
static char *
date_param(SqlQuery *q, const JsonbValue *v)
{
	if (v->type != jbvString)
		not_validated("date");
	return q_param(q, TIMESTAMPTZOID,
				   DirectFunctionCall3(timestamptz_in,
									   CStringGetDatum(pnstrdup(v->val.string.val,
																v->val.string.len)),
									   ObjectIdGetDatum(InvalidOid),
									   Int32GetDatum(-1)));
}

/* creationDate / lastUpdateTime against a timestamptz column. */
static void
gen_date(SqlQuery *q, StringInfo out, const char *col, const CwCondition *c)
{
	const OpInfo *op = c->op;
	const JsonbValue *vv = &c->val.jv;
	char	   *test;

	if (op->base == OPB_IS_NULL || op->base == OPB_NOT_NULL)
	{
		appendStringInfo(out, "(%s IS %sNULL)", col,
						 op->base == OPB_NOT_NULL ? "NOT " : "");
		return;
	}
	switch (op->base)
	{
		case OPB_EQ:
			test = psprintf("%s = %s", col, date_param(q, vv));
			break;
		case OPB_GT:
			test = psprintf("%s > %s", col, date_param(q, vv));
			break;
		case OPB_GE:
			test = psprintf("%s >= %s", col, date_param(q, vv));
			break;
		case OPB_LT:
			test = psprintf("%s < %s", col, date_param(q, vv));
			break;
		case OPB_LE:
			test = psprintf("%s <= %s", col, date_param(q, vv));
			break;
		case OPB_BETWEEN:
		case OPB_BETWEEN_INCL:
			{
				bool		incl = op->base == OPB_BETWEEN_INCL;

				test = psprintf("%s %s %s AND %s %s %s",
								col, incl ? ">=" : ">", date_param(q, vv),
								col, incl ? "<=" : "<", date_param(q, &c->hi.jv));
				break;
			}
		default:
			not_validated("date operator");
	}
	if (op->negate)
		appendStringInfo(out, "(%s IS NOT NULL AND NOT (%s))", col, test);
	else
		appendStringInfo(out, "COALESCE(%s, false)", test);
}

/* A lifecycle condition (field, operator, value). */
static void
gen_lifecycle(SqlQuery *q, StringInfo out, const CwCondition *c)
{
	const OpInfo *op = c->op;
	Operand		val,
				hi;
	const char *col;
	bool		plain_eq;

	switch (c->field)
	{
		case LF_CREATION_DATE:
			gen_date(q, out, "e.created_at", c);
			return;
		case LF_LAST_UPDATE_TIME:
			gen_date(q, out, "e.updated_at", c);
			return;
		case LF_STATE:
			col = "e.state";
			break;
		case LF_PREVIOUS_TRANSITION:
			col = "e.last_transition";
			break;
		case LF_ID:
			col = "(e.id)::text";
			break;
		default:
			not_validated("lifecycle field");
	}

	memset(&val, 0, sizeof(val));
	memset(&hi, 0, sizeof(hi));
	read_operands(c, &val, &hi);

	/* EQUALS a plain string: byte equality, which the indexes can use */
	plain_eq = op->base == OPB_EQ && !op->negate && !op->icase &&
		val.kind == OV_STRING && val.num == NULL;
	if (plain_eq && col[0] == '(')
	{
		if (canonical_uuid(val.text, val.textlen))
		{
			appendStringInfo(out, "(e.id = %s)",
							 q_param(q, UUIDOID,
									 DirectFunctionCall1(uuid_in, CStringGetDatum(val.text))));
			return;
		}
	}
	else if (plain_eq)
	{
		char	   *p = op_text(q, &val);

		appendStringInfo(out, "(%s = %s AND %s IS NOT NULL)", col, p, col);
		return;
	}
	{
		Field		fld;

		fld.j = NULL;
		fld.t = col;
		gen_leaf(q, out, fld, op, &val, 1, &hi);
	}
}

/* An array condition (jsonPath, values): element i equals values[i]. */
static void
gen_array(SqlQuery *q, StringInfo out, const CwCondition *c)
{
	Path		path = node_path(c);
	char	   *f;
	int			n = c->nvalues;
	bool		any = false;

	f = path_value(q, "e.data", &path, 0, path.n);
	appendStringInfo(out, "(CASE WHEN jsonb_typeof(%s) = 'array' THEN "
					 "CASE WHEN jsonb_array_length(%s) >= %d THEN ", f, f, n);
	for (int i = 0; i < n; i++)
	{
		Operand		v;

		CHECK_FOR_INTERRUPTS();
		if (c->skip[i])
			continue;			/* null matches anything */
		read_operand(&c->values[i], &v);
		if (any)
			appendStringInfoString(out, " AND ");
		gen_cmp(q, out, jsonb_field(psprintf("(%s -> %d)", f, i)), &v, "=", false);
		any = true;
	}
	if (!any)
		appendStringInfoString(out, "true");
	appendStringInfoString(out, " ELSE false END ELSE false END)");
}

/*
 * An AND, OR or NOT group.  Members of an AND / OR that test one path with
 * one operator (cw_group_runs) are written as one test over arrays of their
 * operands (gen_simple), where the first of them stands; the others keep
 * their order.
 */
static void
gen_group(SqlQuery *q, StringInfo out, const CwCondition *c)
{
	const char *join = c->kind == CK_AND ? " AND " : " OR ";
	int			n = c->nchildren;
	CwMergeItem *items;
	int		   *run_of;
	int		   *run_len;
	bool		first = true;

	if (n == 0)
	{
		/* empty AND is true, empty OR is false (NOT takes exactly one) */
		if (c->kind == CK_NOT)
			not_validated("empty NOT");
		appendStringInfoString(out, c->kind == CK_AND ? "true" : "false");
		return;
	}

	items = palloc(n * sizeof(CwMergeItem));
	run_of = palloc(n * sizeof(int));
	run_len = palloc(n * sizeof(int));
	(void) cw_group_runs(c, items, run_of, run_len);

	appendStringInfoString(out, c->kind == CK_NOT ? "(NOT " : "(");
	for (int i = 0; i < n; i++)
	{
		int			r = run_of[i];

		CHECK_FOR_INTERRUPTS();
		if (r >= 0 && items[r].index != i)
			continue;			/* written with the first member of its run */
		if (!first)
			appendStringInfoString(out, join);
		first = false;
		if (r < 0)
			gen_node(q, out, c->children[i]);
		else
		{
			const CwCondition **members = palloc(run_len[r] * sizeof(CwCondition *));

			for (int k = 0; k < run_len[r]; k++)
				members[k] = c->children[items[r + k].index];
			gen_simple(q, out, members, run_len[r]);
			pfree(members);
		}
	}
	appendStringInfoChar(out, ')');
}

/* One node of the compiled condition, dispatched on its kind. */
static void
gen_node(SqlQuery *q, StringInfo out, const CwCondition *c)
{
	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	switch (c->kind)
	{
		case CK_SIMPLE:
			gen_simple(q, out, &c, 1);
			return;
		case CK_AND:
		case CK_OR:
		case CK_NOT:
			gen_group(q, out, c);
			return;
		case CK_LIFECYCLE:
			gen_lifecycle(q, out, c);
			return;
		case CK_ARRAY:
			gen_array(q, out, c);
			return;
		case CK_FUNCTION:
			break;
	}
	not_validated("type");		/* function criteria were refused before */
}

/* ----------------------------------------------------------------
 * The query
 * ----------------------------------------------------------------
 */

/*
 * Validate the arguments of search / search_sql and write the query into q.
 * Raises 22023 for an invalid condition or one that calls a function.
 */
static void
search_build(FunctionCallInfo fcinfo, SqlQuery *q, bool inline_params)
{
	char	   *pm,
			   *pv;
	Jsonb	   *cond = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	MemoryContext tmp = NULL;
	CwCondition *c = NULL;

	memset(q, 0, sizeof(SqlQuery));
	initStringInfo(&q->sql);
	q->inline_params = inline_params;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model must not be NULL")));

	if (cond != NULL)
	{
		/* unmerged: each group member as written, merged by gen_group */
		tmp = AllocSetContextCreate(CurrentMemoryContext,
									"cyoda_wf search condition",
									ALLOCSET_SMALL_SIZES);
		c = cw_condition_compile_unmerged(cond, "$", "public", tmp);

		if (cw_condition_uses_function(c))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("function criteria cannot be used in search"),
					 errdetail("The condition contains a condition of type \"function\"."),
					 errhint("Search with simple, group, lifecycle and array conditions, then apply the function to the rows found.")));
	}

	pm = q_param(q, TEXTOID, PG_GETARG_DATUM(0));
	pv = q_param(q, INT4OID, PG_ARGISNULL(1) ? Int32GetDatum(1) : PG_GETARG_DATUM(1));
	if (PG_ARGISNULL(3))
		appendStringInfo(&q->sql,
						 "SELECT e.* FROM cyoda_wf.entity e "
						 "WHERE e.model = %s AND e.model_version = %s", pm, pv);
	else
	{
		/* the latest version row of each entity at that time, as an entity */
		appendStringInfo(&q->sql,
						 "SELECT e.* FROM ("
						 "SELECT v.entity_id AS id, v.model, v.model_version, v.state, v.data, "
						 "COALESCE(c.changed_at, l.created_at) AS created_at, "
						 "v.changed_at AS updated_at, v.version, "
						 "v.transition AS last_transition, l.workflow, l.parent_id, "
						 "l.source, v.transaction_id "
						 "FROM (SELECT DISTINCT ON (h.entity_id) h.* FROM cyoda_wf.entity_version h "
						 "WHERE h.model = %s AND h.model_version = %s AND h.changed_at <= %s "
						 "ORDER BY h.entity_id, h.version DESC) v "
						 "LEFT JOIN cyoda_wf.entity l ON l.id = v.entity_id "
						 "LEFT JOIN cyoda_wf.entity_version c "
						 "ON c.entity_id = v.entity_id AND c.version = 1 "
						 "WHERE v.change_type <> 'DELETE') e WHERE true",
						 pm, pv, q_param(q, TIMESTAMPTZOID, PG_GETARG_DATUM(3)));
	}
	if (c != NULL)
	{
		appendStringInfoString(&q->sql, " AND ");
		gen_node(q, &q->sql, c);
		MemoryContextDelete(tmp);
	}
	appendStringInfoString(&q->sql, " ORDER BY e.created_at, e.id");
}

/* The saved plan for q (inside SPI): from the cache, else prepared and kept. */
static SPIPlanPtr
search_plan(SqlQuery *q)
{
	SearchPlan *slot = NULL;
	SPIPlanPtr	plan;
	MemoryContext old;

	for (int i = 0; i < search_nplans; i++)
	{
		SearchPlan *sp = &search_plans[i];

		if (sp->nargs == q->nparams && strcmp(sp->sql, q->sql.data) == 0 &&
			memcmp(sp->types, q->types, q->nparams * sizeof(Oid)) == 0)
		{
			sp->last_used = ++search_clock;
			return sp->plan;
		}
	}

	plan = NULL;
	cw_kept_plan(&plan, q->sql.data, q->nparams, q->types);

	if (search_plan_cxt == NULL)
		search_plan_cxt = AllocSetContextCreate(TopMemoryContext,
												"cyoda_wf search plans",
												ALLOCSET_SMALL_SIZES);
	if (search_nplans < SEARCH_PLAN_CACHE)
		slot = &search_plans[search_nplans++];
	else
	{
		/* evict the least recently used */
		slot = &search_plans[0];
		for (int i = 1; i < search_nplans; i++)
			if (search_plans[i].last_used < slot->last_used)
				slot = &search_plans[i];
		SPI_freeplan(slot->plan);
		pfree(slot->sql);
		if (slot->types)
			pfree(slot->types);
	}
	old = MemoryContextSwitchTo(search_plan_cxt);
	slot->sql = pstrdup(q->sql.data);
	slot->nargs = q->nparams;
	slot->types = q->nparams ? palloc(q->nparams * sizeof(Oid)) : NULL;
	if (q->nparams)
		memcpy(slot->types, q->types, q->nparams * sizeof(Oid));
	MemoryContextSwitchTo(old);
	slot->plan = plan;
	slot->last_used = ++search_clock;
	return plan;
}

/*
 * cyoda_wf.search(model, model_version, condition, point_in_time) RETURNS
 * SETOF cyoda_wf.entity: the entities of a model version matching a Cyoda
 * condition (all of them for NULL), now or as of point_in_time, ordered by
 * created_at, id.
 */
Datum
cyoda_wf_search_entities(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SqlQuery	q;
	CwSavedUser saved;

	cw_model_check_condition(PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0)),
							 PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1),
							 PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2));
	InitMaterializedSRF(fcinfo, 0);
	search_build(fcinfo, &q, false);

	cw_become_engine_owner(&saved);
	PG_TRY();
	{
		TupleDesc	rdesc = rsinfo->setDesc;
		Portal		portal;
		int		   *colmap = palloc0(rdesc->natts * sizeof(int));
		Datum	   *values = palloc(rdesc->natts * sizeof(Datum));
		bool	   *nulls = palloc(rdesc->natts * sizeof(bool));
		Datum	   *svalues = NULL;
		bool	   *snulls = NULL;
		bool		mapped = false;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		portal = SPI_cursor_open(NULL, search_plan(&q), q.values, NULL, true);
		if (portal == NULL)
			elog(ERROR, "SPI_cursor_open failed: %s",
				 SPI_result_code_string(SPI_result));
		for (;;)
		{
			TupleDesc	sdesc;

			SPI_cursor_fetch(portal, true, SEARCH_FETCH);
			if (SPI_processed == 0)
				break;
			sdesc = SPI_tuptable->tupdesc;
			if (!mapped)
			{
				/* result columns by name: the query's columns may be fewer */
				for (int i = 0; i < rdesc->natts; i++)
				{
					Form_pg_attribute att = TupleDescAttr(rdesc, i);
					int			col;

					colmap[i] = 0;
					if (att->attisdropped)
						continue;
					col = SPI_fnumber(sdesc, NameStr(att->attname));
					if (col <= 0)
						continue;
					if (SPI_gettypeid(sdesc, col) != att->atttypid)
						elog(ERROR, "search: column \"%s\" has type %u, expected %u",
							 NameStr(att->attname), SPI_gettypeid(sdesc, col),
							 att->atttypid);
					colmap[i] = col;
				}
				/* in SPI's memory, gone at SPI_finish */
				svalues = palloc(sdesc->natts * sizeof(Datum));
				snulls = palloc(sdesc->natts * sizeof(bool));
				mapped = true;
			}
			for (uint64 r = 0; r < SPI_processed; r++)
			{
				heap_deform_tuple(SPI_tuptable->vals[r], sdesc, svalues, snulls);
				for (int i = 0; i < rdesc->natts; i++)
				{
					int			col = colmap[i];

					values[i] = col ? svalues[col - 1] : (Datum) 0;
					nulls[i] = col ? snulls[col - 1] : true;
				}
				tuplestore_putvalues(rsinfo->setResult, rdesc, values, nulls);
			}
			SPI_freetuptable(SPI_tuptable);
			CHECK_FOR_INTERRUPTS();
		}
		SPI_cursor_close(portal);
		SPI_finish();
	}
	PG_FINALLY();
	{
		cw_restore_user(&saved);
	}
	PG_END_TRY();
	return (Datum) 0;
}

/*
 * cyoda_wf.search_sql(model, model_version, condition, point_in_time)
 * RETURNS text: the query search() runs, its parameters written as quoted
 * literals, to read or EXPLAIN (a debugging aid).
 */
Datum
cyoda_wf_search_sql(PG_FUNCTION_ARGS)
{
	SqlQuery	q;

	search_build(fcinfo, &q, true);
	PG_RETURN_TEXT_P(cstring_to_text(q.sql.data));
}
