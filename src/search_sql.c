/*-------------------------------------------------------------------------
 * search_sql.c
 *		The condition tree of cond.h written as one SQL predicate for search.
 *
 * cw_sq_condition() walks the compiled tree (each group member as written)
 * and appends a boolean SQL expression over the row alias e of
 * cyoda_wf.entity's columns.  Every value taken from the condition
 * travels as a $n parameter (cw_sq_param); nothing the caller wrote is
 * spliced into the SQL text, so the text depends only on the condition's
 * shape.
 *
 * Conditions on the data are decided by cond_eval.c itself: a subtree
 * without lifecycle conditions, and the members of a group that read only
 * the data taken together, become one call of
 * cyoda_wf_internal.matches_condition(e.data, $n), $n their JSON as
 * written (a group of them rebuilt from the members'), which compiles it
 * once per query (cond_check.c).  Only lifecycle conditions, which read
 * the entity's columns, are written in SQL (search_field.c
 * cw_sq_text_leaf, gen_date), and the AND / OR / NOT that joins them to
 * the rest.  That function is PARALLEL SAFE, so a range scan can run in
 * parallel workers.
 *
 * Index use (entity_data_idx is GIN jsonb_path_ops on data; the btree is
 * (model, model_version, state)):
 *	- every search filters model = $1 AND model_version = $2;
 *	- an evaluator call is ANDed to the index conditions that narrow it
 *	  (prefilter_of): EQUALS on a data path made of names and [*] steps,
 *	  whose operand is a boolean or a string that is not a number, adds
 *	  data @? '$."path" ? (@ == value)' (for true / "true" both spellings,
 *	  ORed inside the jsonpath), which in lax mode also finds an array field
 *	  holding the value; an object or array operand adds
 *	  data @> {"path": value} OR data @> {"path": [value]}; an AND of
 *	  those of its members that have one; an OR when every member has one
 *	  (a run of EQUALS on one path as one @? ANY).  They only narrow the
 *	  rows; the evaluator decides.  Numeric operands cannot use it: "30.0"
 *	  and "3e1" equal 30 too, and no finite set of index conditions covers
 *	  every spelling of a number;
 *	- lifecycle state / previousTransition EQUALS a string becomes
 *	  column = $n (state: the btree);
 *	- lifecycle id EQUALS a canonical uuid becomes id = $n (primary key).
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


static void gen_node(SqlQuery *q, StringInfo out, const CwCondition *c);

/* ----------------------------------------------------------------
 * Conditions
 * ----------------------------------------------------------------
 */

/* JSON text of a scalar or container operand, for a containment document. */
static void
append_operand_json(StringInfo buf, Operand *v)
{
	if (v->kind == OV_CONTAINER)
		appendStringInfoString(buf, JsonbToCString(NULL, &v->container->root,
												   VARSIZE(v->container)));
	else
		escape_json(buf, v->text);
}

/*
 * The containment document {"a": [{"b": value}]} for a path of names and
 * [*]; with wrap {"a": [{"b": [value]}]}, for a field that is an array with
 * an element equal to the value.  For an object or array operand.
 */
static Datum
containment_doc(const Path *path, Operand *v, bool wrap)
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
	if (wrap)
		appendStringInfoChar(&buf, '[');
	append_operand_json(&buf, v);
	if (wrap)
		appendStringInfoChar(&buf, ']');
	for (int k = path->n - 1; k >= 0; k--)
		appendStringInfoChar(&buf, path->steps[k].kind == PS_ANY ? ']' : '}');
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

/*
 * The jsonpath $."a"[*]."b" ? (@ == value) for a string or boolean operand
 * (true / "true": both spellings).  In lax mode it also holds when the
 * field is an array with such an element (and for a few more shapes, since
 * lax mode unwraps arrays along the path), so data @? it is a superset of
 * EQUALS that the GIN index (jsonb_path_ops) serves in one condition.
 */
static Datum
equals_jsonpath(const Path *path, Operand *v)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '$');
	for (int k = 0; k < path->n; k++)
	{
		const PathStep *s = &path->steps[k];

		if (s->kind == PS_ANY)
			appendStringInfoString(&buf, "[*]");
		else
		{
			appendStringInfoChar(&buf, '.');
			escape_json(&buf, s->key);
		}
	}
	appendStringInfoString(&buf, " ? (@ == ");
	if (v->boolval >= 0)
		appendStringInfo(&buf, "%s || @ == \"%s\"", v->boolval ? "true" : "false",
						 v->boolval ? "true" : "false");
	else
		escape_json(&buf, v->text);
	appendStringInfoChar(&buf, ')');
	return DirectFunctionCall1(jsonpath_in, CStringGetDatum(buf.data));
}

/*
 * Whether EQUALS on path can be narrowed through the GIN index (a path of
 * names, none of them digits-only, and [*]) for operands that are not
 * numbers.
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
 * A condition that every entity matching EQUALS path value also matches,
 * so the GIN index can find the candidates; NULL when there is none.
 * Strings and booleans: data @? jsonpath (equals_jsonpath); objects and
 * arrays: data @> the field equal to it OR data @> an array field holding
 * it.
 */
static char *
equals_prefilter(SqlQuery *q, const Path *path, const OpInfo *op, Operand *v)
{
	if (!prefilter_path(path, op))
		return NULL;
	if (v->num != NULL)
		return NULL;			/* "30.0", "3e1"... equal 30 as well */
	if (v->kind == OV_CONTAINER)
		return psprintf("(e.data @> %s OR e.data @> %s)",
						cw_sq_param(q, JSONBOID, containment_doc(path, v, false)),
						cw_sq_param(q, JSONBOID, containment_doc(path, v, true)));
	return psprintf("e.data @? %s", cw_sq_param(q, JSONPATHOID, equals_jsonpath(path, v)));
}

/*
 * equals_prefilter() of a merged OR of EQUALS, for its n operands, none
 * of them a number: data @? ANY (jsonpaths) for the strings and booleans,
 * data @> ANY (documents) for objects and arrays, which a bitmap scan of
 * the GIN index reads one element at a time.
 */
static char *
equals_any_prefilter(SqlQuery *q, const Path *path, Operand *vals, int n)
{
	Datum	   *paths = palloc(n * sizeof(Datum));
	Datum	   *docs = palloc(2 * n * sizeof(Datum));
	int			npaths = 0,
				ndocs = 0;
	char	   *pp = NULL,
			   *pd = NULL;

	for (int i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		Assert(vals[i].num == NULL);
		if (vals[i].kind == OV_CONTAINER)
		{
			docs[ndocs++] = containment_doc(path, &vals[i], false);
			docs[ndocs++] = containment_doc(path, &vals[i], true);
		}
		else
			paths[npaths++] = equals_jsonpath(path, &vals[i]);
	}
	if (npaths)
		pp = psprintf("e.data @? ANY (%s)",
					  cw_sq_array(q, JSONPATHARRAYOID, JSONPATHOID, paths, npaths));
	if (ndocs)
		pd = psprintf("e.data @> ANY (%s)",
					  cw_sq_array(q, JSONBARRAYOID, JSONBOID, docs, ndocs));
	if (pp && pd)
		return psprintf("(%s OR %s)", pp, pd);
	return pp ? pp : pd;
}

/* ----------------------------------------------------------------
 * Subtrees evaluated by cond_eval.c
 * ----------------------------------------------------------------
 */

/* Whether EQUALS simple condition c is narrowed by equals_prefilter(). */
static bool
simple_prefiltered(const CwCondition *c)
{
	Path		path = cw_sq_node_path(c);

	return prefilter_path(&path, c->op) && c->val.num == NULL;
}

/* Whether c or a condition below it is a lifecycle condition. */
static bool
has_lifecycle(const CwCondition *c)
{
	check_stack_depth();
	if (c->kind == CK_LIFECYCLE)
		return true;
	for (int i = 0; i < c->nchildren; i++)
		if (has_lifecycle(c->children[i]))
			return true;
	return false;
}

/*
 * An index condition that every entity matching c also matches, which
 * entity_data_idx can serve, or NULL when there is none: a prefiltered
 * EQUALS (equals_prefilter); an AND of those of its members that have one;
 * an OR of all its members' (a run of EQUALS of one path as one ANY,
 * equals_any_prefilter).  Under a NOT no index helps.
 */
static char *
prefilter_of(SqlQuery *q, const CwCondition *c)
{
	StringInfoData buf;
	bool		any = false;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	if (c->kind == CK_SIMPLE)
	{
		Path		path = cw_sq_node_path(c);
		Operand		val;
		Operand		hi;

		if (!simple_prefiltered(c))
			return NULL;
		memset(&val, 0, sizeof(val));
		memset(&hi, 0, sizeof(hi));
		cw_sq_read_operands(c, &val, &hi);
		return equals_prefilter(q, &path, c->op, &val);
	}
	if (c->kind == CK_AND)
	{
		initStringInfo(&buf);
		for (int i = 0; i < c->nchildren; i++)
		{
			char	   *p = prefilter_of(q, c->children[i]);

			if (p == NULL)
				continue;
			appendStringInfoString(&buf, any ? " AND " : "(");
			appendStringInfoString(&buf, p);
			any = true;
		}
		if (!any)
			return NULL;
		appendStringInfoChar(&buf, ')');
		return buf.data;
	}
	if (c->kind == CK_OR && c->nchildren > 0)
	{
		int			n = c->nchildren;
		CwMergeItem *items = palloc(n * sizeof(CwMergeItem));
		int		   *run_of = palloc(n * sizeof(int));
		int		   *run_len = palloc(n * sizeof(int));

		(void) cw_group_runs(c, items, run_of, run_len);
		initStringInfo(&buf);
		for (int i = 0; i < n; i++)
		{
			int			r = run_of[i];
			char	   *p;

			if (r >= 0 && items[r].index != i)
				continue;		/* in the ANY of its run's first member */
			if (r < 0)
				p = prefilter_of(q, c->children[i]);
			else
			{
				Path		path = cw_sq_node_path(c->children[i]);
				Operand    *vals = palloc0(run_len[r] * sizeof(Operand));
				Operand		hi;

				p = NULL;
				for (int k = 0; k < run_len[r]; k++)
				{
					const CwCondition *m = c->children[items[r + k].index];

					if (!simple_prefiltered(m))
						return NULL;
					memset(&hi, 0, sizeof(hi));
					cw_sq_read_operands(m, &vals[k], &hi);
				}
				p = equals_any_prefilter(q, &path, vals, run_len[r]);
			}
			if (p == NULL)
				return NULL;	/* a member no index narrows */
			appendStringInfoString(&buf, any ? " OR " : "(");
			appendStringInfoString(&buf, p);
			any = true;
		}
		appendStringInfoChar(&buf, ')');
		return buf.data;
	}
	return NULL;
}

/*
 * Append the evaluator's test of the conditions members[0..n-1] (their
 * AND / OR, kind, when n > 1): cyoda_wf_internal.matches_condition(e.data,
 * $k), never NULL.
 */
static void
gen_eval(SqlQuery *q, StringInfo out, CondKind kind,
		 const CwCondition *const *members, int n)
{
	Jsonb	   *cond;

	if (members[0]->source == NULL)
		cw_sq_not_validated("condition source");
	/* a copy: the parameter outlives the compiled tree */
	cond = palloc(VARSIZE(members[0]->source));
	memcpy(cond, members[0]->source, VARSIZE(members[0]->source));
	if (n > 1)
	{
		StringInfoData buf;

		Assert(kind == CK_AND || kind == CK_OR);
		initStringInfo(&buf);
		appendStringInfo(&buf, "{\"type\": \"group\", \"operator\": \"%s\", \"conditions\": [",
						 kind == CK_AND ? "AND" : "OR");
		for (int i = 0; i < n; i++)
		{
			CHECK_FOR_INTERRUPTS();
			if (members[i]->source == NULL)
				cw_sq_not_validated("condition source");
			if (i > 0)
				appendStringInfoString(&buf, ", ");
			(void) JsonbToCString(&buf, &members[i]->source->root,
								  VARSIZE(members[i]->source));
		}
		appendStringInfoString(&buf, "]}");
		cond = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
	}
	appendStringInfo(out, "cyoda_wf_internal.matches_condition(e.data, %s)",
					 cw_sq_param(q, JSONBOID, JsonbPGetDatum(cond)));
}

/*
 * Append the test of conditions members[0..n-1] that read only the data
 * (their AND / OR, kind, when n > 1): the index conditions that narrow
 * them (prefilter_of), ANDed to one call of the evaluator that decides.
 */
static void
gen_data(SqlQuery *q, StringInfo out, CondKind kind,
		 const CwCondition *const *members, int n)
{
	CwCondition group;
	const CwCondition *node = members[0];
	char	   *pre;

	if (n > 1)
	{
		/* the members as a group of their own, for prefilter_of */
		memset(&group, 0, sizeof(group));
		group.kind = kind;
		group.nchildren = n;
		group.children = (CwCondition **) members;
		node = &group;
	}
	pre = prefilter_of(q, node);
	if (pre)
		appendStringInfo(out, "(%s AND ", pre);
	gen_eval(q, out, kind, members, n);
	if (pre)
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
		cw_sq_not_validated("date");
	return cw_sq_param(q, TIMESTAMPTZOID,
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

	if (c->never)
	{
		appendStringInfoString(out, "false");
		return;
	}
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
			cw_sq_not_validated("date operator");
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
			cw_sq_not_validated("lifecycle field");
	}

	memset(&val, 0, sizeof(val));
	memset(&hi, 0, sizeof(hi));
	cw_sq_read_operands(c, &val, &hi);

	/* EQUALS a plain string: byte equality, which the indexes can use */
	plain_eq = op->base == OPB_EQ && !op->negate && !op->icase &&
		val.kind == OV_STRING && val.num == NULL;
	if (plain_eq && col[0] == '(')
	{
		if (canonical_uuid(val.text, val.textlen))
		{
			appendStringInfo(out, "(e.id = %s)",
							 cw_sq_param(q, UUIDOID,
									 DirectFunctionCall1(uuid_in, CStringGetDatum(val.text))));
			return;
		}
	}
	else if (plain_eq)
	{
		char	   *p = cw_sq_op_text(q, &val);

		appendStringInfo(out, "(%s = %s AND %s IS NOT NULL)", col, p, col);
		return;
	}
	cw_sq_text_leaf(q, out, col, op, &val, &hi);
}

/* Whether c reads only the data: no lifecycle condition, no function. */
static bool
data_only(const CwCondition *c)
{
	return c->kind != CK_FUNCTION && !has_lifecycle(c);
}

/*
 * An AND, OR or NOT group that holds lifecycle conditions: each member
 * that holds some is written in SQL, in the group's order; the members
 * that read only the data are one test after them (gen_data).  The
 * members are pure tests, so their order does not change the result.
 */
static void
gen_group(SqlQuery *q, StringInfo out, const CwCondition *c)
{
	const char *join = c->kind == CK_AND ? " AND " : " OR ";
	int			n = c->nchildren;
	const CwCondition **data;
	int			ndata = 0;
	bool		first = true;

	if (n == 0)
	{
		/* empty AND is true, empty OR is false (NOT takes exactly one) */
		if (c->kind == CK_NOT)
			cw_sq_not_validated("empty NOT");
		appendStringInfoString(out, c->kind == CK_AND ? "true" : "false");
		return;
	}

	data = palloc(n * sizeof(CwCondition *));
	appendStringInfoString(out, c->kind == CK_NOT ? "(NOT " : "(");
	for (int i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (data_only(c->children[i]))
		{
			data[ndata++] = c->children[i];
			continue;
		}
		if (!first)
			appendStringInfoString(out, join);
		first = false;
		gen_node(q, out, c->children[i]);
	}
	if (ndata > 0)
	{
		/* a NOT's only member holds lifecycle conditions, as the NOT does */
		Assert(c->kind != CK_NOT);
		if (!first)
			appendStringInfoString(out, join);
		gen_data(q, out, c->kind, data, ndata);
	}
	pfree(data);
	appendStringInfoChar(out, ')');
}

/* One node of the compiled condition, dispatched on its kind. */
static void
gen_node(SqlQuery *q, StringInfo out, const CwCondition *c)
{
	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	if (data_only(c))
	{
		/* the data alone: narrowed by the index where it can, decided in C */
		gen_data(q, out, c->kind, &c, 1);
		return;
	}
	switch (c->kind)
	{
		case CK_AND:
		case CK_OR:
		case CK_NOT:
			gen_group(q, out, c);
			return;
		case CK_LIFECYCLE:
			gen_lifecycle(q, out, c);
			return;
		case CK_SIMPLE:
		case CK_ARRAY:			/* read only the data: evaluated above */
		case CK_FUNCTION:
			break;
	}
	cw_sq_not_validated("type");		/* function criteria were refused before */
}

/*
 * Append the SQL predicate of the compiled condition c (never NULL as a
 * value) over the row alias e, its values as parameters of q.
 */
void
cw_sq_condition(SqlQuery *q, StringInfo out, const CwCondition *c)
{
	gen_node(q, out, c);
}
