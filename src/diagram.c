/*-------------------------------------------------------------------------
 * diagram.c
 *		Views derived from stored workflow definitions: state diagrams
 *		(diagram()) and stubs for missing functions (scaffold()).
 *
 * Both read cyoda_wf.workflow as the extension owner (the functions are the
 * permission boundary) and walk each definition in display order: states
 * breadth-first from the initial state, transitions in declared order.
 * A model version with no stored workflow runs Cyoda's default workflow,
 * and its diagram shows that one.
 *
 * Mermaid cannot style the edges of a stateDiagram, so a manual transition
 * is marked in its label: "✋ name (manual)" (the hand only in UTF8 and
 * SQL_ASCII databases).  A model version with workflows that do not take
 * every new entity (all have criteria or are inactive) shows the default
 * workflow after them, since the engine falls back to it.  In DOT, manual edges are dashed and automatic ones solid.
 *
 * Criteria are read only through the condition compiler (cond.h): a label
 * summarizes the compiled tree, each group member as written (unmerged),
 * and scaffold() lists the function nodes of that tree.
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"
#include "catalog.h"
#include "cond.h"

#include <ctype.h>

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(cyoda_wf_diagram);
PG_FUNCTION_INFO_V1(cyoda_wf_scaffold);

/* Longest criterion summary shown on an edge. */
#define CRITERION_LABEL_MAX 60

/* A transition as drawn. */
typedef struct DgTransition
{
	const char *name;
	int			next;
	bool		manual;
	bool		disabled;
	int64		delay_ms;		/* -1: not scheduled */
	Jsonb	   *criterion;		/* NULL: none */
	int			nprocs;
	const char **procs;
} DgTransition;

typedef struct DgState
{
	const char *name;
	int			ntr;
	DgTransition *tr;
} DgState;

/* A workflow as drawn: states in display order, order[0] the initial one. */
typedef struct DgWorkflow
{
	const char *name;
	bool		active;
	bool		is_default;
	const char *why_default;	/* when the default workflow runs */
	Jsonb	   *criterion;
	int			initial;
	int			nstates;
	DgState    *states;
	int		   *order;
} DgWorkflow;

/* A row of cyoda_wf.workflow. */
typedef struct StoredWorkflow
{
	char	   *model;
	int32		version;
	char	   *name;
	char	   *function_schema;
	Jsonb	   *definition;
} StoredWorkflow;

/* A function a scaffold creates, with every use. */
typedef struct ScFunction
{
	char	   *schema;
	char	   *name;
	bool		is_criterion;
	bool		also_other_kind;	/* used as the other kind too */
	List	   *uses;			/* char *, one line each */
} ScFunction;

/* ------------------------------------------------------------------------
 * Reading definitions
 * ------------------------------------------------------------------------
 */

/*
 * The stored workflows of a model version (model NULL: every model;
 * all_versions: every version), in model, version, stored order.  Read as
 * the extension owner; operators are schema-qualified.
 */
static List *
read_workflows(const char *model, int32 version, bool all_versions)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	MemoryContext outer = CurrentMemoryContext;
	CwSavedUser saved;
	List	   *volatile result = NIL;

	if (model)
		values[0] = CStringGetTextDatum(model);
	else
		nulls[0] = 'n';
	if (!all_versions)
		values[1] = Int32GetDatum(version);
	else
		nulls[1] = 'n';

	cw_become_engine_owner(&saved);
	PG_TRY();
	{
		int			rc;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "cyoda_wf: SPI_connect failed");
		rc = SPI_execute_with_args("SELECT w.model, w.model_version, w.name,"
								   "       w.function_schema, w.definition"
								   "  FROM cyoda_wf.workflow w"
								   " WHERE ($1::text IS NULL OR w.model OPERATOR(pg_catalog.=) $1)"
								   "   AND ($2::integer IS NULL"
								   "        OR w.model_version OPERATOR(pg_catalog.=) $2)"
								   " ORDER BY w.model, w.model_version, w.ord",
								   2, types, values, nulls, true, 0);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "cyoda_wf: reading workflows failed: %s", SPI_result_code_string(rc));
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			MemoryContext spicxt = MemoryContextSwitchTo(outer);
			StoredWorkflow *w = palloc(sizeof(StoredWorkflow));
			bool		isnull;

			w->model = TextDatumGetCString(SPI_getbinval(tup, desc, 1, &isnull));
			w->version = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
			w->name = TextDatumGetCString(SPI_getbinval(tup, desc, 3, &isnull));
			w->function_schema = TextDatumGetCString(SPI_getbinval(tup, desc, 4, &isnull));
			w->definition = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 5, &isnull));
			result = lappend(result, w);
			MemoryContextSwitchTo(spicxt);
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		cw_restore_user(&saved);
	}
	PG_END_TRY();
	return result;
}

/* Index of the named state, or -1. */
static int
dg_state(DgWorkflow *wf, const char *name)
{
	for (int i = 0; i < wf->nstates; i++)
		if (strcmp(wf->states[i].name, name) == 0)
			return i;
	return -1;
}

/* Fill wf->order: breadth-first from the initial state, then the rest. */
static void
dg_order(DgWorkflow *wf)
{
	bool	   *seen = palloc0(sizeof(bool) * Max(wf->nstates, 1));
	int			n = 0;

	wf->order = palloc(sizeof(int) * Max(wf->nstates, 1));
	if (wf->initial >= 0)
	{
		wf->order[n++] = wf->initial;
		seen[wf->initial] = true;
	}
	for (int h = 0; h < n || n < wf->nstates; h++)
	{
		if (h >= n)
		{
			/* unreachable states, in stored order */
			for (int s = 0; s < wf->nstates; s++)
				if (!seen[s])
				{
					wf->order[n++] = s;
					seen[s] = true;
					break;
				}
		}
		for (int k = 0; k < wf->states[wf->order[h]].ntr; k++)
		{
			int			to = wf->states[wf->order[h]].tr[k].next;

			if (to >= 0 && !seen[to])
			{
				wf->order[n++] = to;
				seen[to] = true;
			}
		}
	}
}

/* One transition of a stored definition. */
static void
dg_read_transition(DgWorkflow *wf, JsonbValue *tv, DgTransition *t, char **next)
{
	JsonbContainer *c = tv->val.binary.data;
	JsonbValue	v;

	t->name = cw_jb_text(getKeyJsonValueFromContainer(c, "name", 4, &v));
	if (t->name == NULL)
		t->name = "?";
	*next = cw_jb_text(getKeyJsonValueFromContainer(c, "next", 4, &v));
	t->manual = getKeyJsonValueFromContainer(c, "manual", 6, &v) &&
		v.type == jbvBool && v.val.boolean;
	t->disabled = getKeyJsonValueFromContainer(c, "disabled", 8, &v) &&
		v.type == jbvBool && v.val.boolean;
	t->delay_ms = -1;
	if (getKeyJsonValueFromContainer(c, "schedule", 8, &v) && v.type == jbvBinary)
	{
		JsonbValue	dv;

		if (getKeyJsonValueFromContainer(v.val.binary.data, "delayMs", 7, &dv) &&
			dv.type == jbvNumeric)
			t->delay_ms = DatumGetInt64(DirectFunctionCall1(numeric_int8,
															NumericGetDatum(dv.val.numeric)));
	}
	t->criterion = NULL;
	if (getKeyJsonValueFromContainer(c, "criterion", 9, &v) && v.type == jbvBinary)
		t->criterion = JsonbValueToJsonb(&v);
	t->nprocs = 0;
	if (getKeyJsonValueFromContainer(c, "processors", 10, &v) && v.type == jbvBinary &&
		JsonContainerIsArray(v.val.binary.data))
	{
		int			n = JsonContainerSize(v.val.binary.data);

		t->procs = palloc(sizeof(char *) * Max(n, 1));
		for (int i = 0; i < n; i++)
		{
			JsonbValue *pv = getIthJsonbValueFromContainer(v.val.binary.data, i);
			JsonbValue	nv;
			char	   *name = NULL;

			if (pv && pv->type == jbvBinary)
				name = cw_jb_text(getKeyJsonValueFromContainer(pv->val.binary.data, "name", 4, &nv));
			if (name)
				t->procs[t->nprocs++] = name;
		}
	}
	(void) wf;
}

/* A stored definition as drawn (tolerant: definitions were validated). */
static DgWorkflow *
dg_from_definition(Jsonb *def)
{
	DgWorkflow *wf = palloc0(sizeof(DgWorkflow));
	JsonbValue	v;
	JsonbValue	statesv;
	char	   *initial;
	char	 ***nexts;
	int			cap;

	wf->name = cw_jb_text(getKeyJsonValueFromContainer(&def->root, "name", 4, &v));
	if (wf->name == NULL)
		wf->name = "?";
	wf->active = !(getKeyJsonValueFromContainer(&def->root, "active", 6, &v) &&
				   v.type == jbvBool && !v.val.boolean);
	if (getKeyJsonValueFromContainer(&def->root, "criterion", 9, &v) && v.type == jbvBinary)
		wf->criterion = JsonbValueToJsonb(&v);
	initial = cw_jb_text(getKeyJsonValueFromContainer(&def->root, "initialState", 12, &v));

	if (getKeyJsonValueFromContainer(&def->root, "states", 6, &statesv) == NULL ||
		statesv.type != jbvBinary || !JsonContainerIsObject(statesv.val.binary.data))
	{
		statesv.type = jbvNull;
		cap = 1;
	}
	else
		cap = JsonContainerSize(statesv.val.binary.data) + 1;
	wf->states = palloc0(sizeof(DgState) * cap);
	nexts = palloc0(sizeof(char **) * cap);

	if (statesv.type != jbvNull)
	{
		JsonbIterator *it = JsonbIteratorInit(statesv.val.binary.data);
		JsonbValue	k;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
		{
			DgState    *st;
			JsonbValue	sv,
						tv;

			if (tok != WJB_KEY)
				continue;
			st = &wf->states[wf->nstates];
			st->name = cw_jb_text(&k);
			(void) JsonbIteratorNext(&it, &sv, true);
			if (sv.type == jbvBinary &&
				getKeyJsonValueFromContainer(sv.val.binary.data, "transitions", 11, &tv) &&
				tv.type == jbvBinary && JsonContainerIsArray(tv.val.binary.data))
			{
				int			n = JsonContainerSize(tv.val.binary.data);

				st->tr = palloc0(sizeof(DgTransition) * Max(n, 1));
				nexts[wf->nstates] = palloc0(sizeof(char *) * Max(n, 1));
				for (int i = 0; i < n; i++)
				{
					JsonbValue *e = getIthJsonbValueFromContainer(tv.val.binary.data, i);

					if (e == NULL || e->type != jbvBinary)
						continue;
					dg_read_transition(wf, e, &st->tr[st->ntr],
									   &nexts[wf->nstates][st->ntr]);
					st->ntr++;
				}
			}
			wf->nstates++;
		}
	}

	/* resolve next states; an unknown one (hand-edited row) is drawn too */
	for (int s = 0; s < wf->nstates; s++)
		for (int i = 0; i < wf->states[s].ntr; i++)
		{
			char	   *next = nexts[s][i];

			wf->states[s].tr[i].next = next ? dg_state(wf, next) : -1;
			if (next && wf->states[s].tr[i].next < 0)
			{
				if (wf->nstates == cap)
				{
					cap *= 2;
					wf->states = repalloc(wf->states, sizeof(DgState) * cap);
				}
				memset(&wf->states[wf->nstates], 0, sizeof(DgState));
				wf->states[wf->nstates].name = next;
				wf->states[s].tr[i].next = wf->nstates++;
			}
		}
	wf->initial = initial ? dg_state(wf, initial) : -1;
	dg_order(wf);
	return wf;
}

/* Cyoda's default workflow, as drawn. */
static DgWorkflow *
dg_default(const char *why)
{
	CwWorkflow *cw = cw_default_workflow("public", CurrentMemoryContext);
	DgWorkflow *wf = palloc0(sizeof(DgWorkflow));

	wf->name = cw->name;
	wf->active = true;
	wf->is_default = true;
	wf->why_default = why;
	wf->initial = cw->initial_state;
	wf->nstates = cw->nstates;
	wf->states = palloc0(sizeof(DgState) * Max(cw->nstates, 1));
	for (int s = 0; s < cw->nstates; s++)
	{
		CwState    *cs = &cw->states[s];
		DgState    *st = &wf->states[s];

		st->name = cs->name;
		st->ntr = cs->ntransitions;
		st->tr = palloc0(sizeof(DgTransition) * Max(cs->ntransitions, 1));
		for (int i = 0; i < cs->ntransitions; i++)
		{
			CwTransition *ct = &cs->transitions[i];
			DgTransition *t = &st->tr[i];

			t->name = ct->name;
			t->next = ct->next;
			t->manual = ct->manual;
			t->disabled = ct->disabled;
			t->delay_ms = ct->has_schedule ? ct->delay_ms : -1;
			t->nprocs = ct->nprocessors;
			t->procs = palloc(sizeof(char *) * Max(ct->nprocessors, 1));
			for (int p = 0; p < ct->nprocessors; p++)
				t->procs[p] = ct->processors[p].name;
		}
	}
	dg_order(wf);
	return wf;
}

/* ------------------------------------------------------------------------
 * Labels
 * ------------------------------------------------------------------------
 */

/* An operand as JSON text; BETWEEN's two bounds as [low, high]. */
static void
summarize_operand(StringInfo buf, const CwCondition *c)
{
	if (c->op->base == OPB_IS_NULL || c->op->base == OPB_NOT_NULL)
		return;
	if (c->op->base == OPB_BETWEEN || c->op->base == OPB_BETWEEN_INCL)
		appendStringInfo(buf, " [%s, %s]", cw_jbv_json_text(&c->val.jv),
						 cw_jbv_json_text(&c->hi.jv));
	else
		appendStringInfo(buf, " %s", cw_jbv_json_text(&c->val.jv));
}

/* A short human summary of a compiled (unmerged) condition, appended to buf. */
static void
summarize_condition(StringInfo buf, const CwCondition *c, int depth)
{
	check_stack_depth();
	if (depth > 8)
	{
		appendStringInfoString(buf, "...");
		return;
	}
	switch (c->kind)
	{
		case CK_FUNCTION:
			appendStringInfoString(buf, c->fn->name);
			break;
		case CK_NOT:
			appendStringInfoString(buf, "NOT ");
			summarize_condition(buf, c->children[0], depth + 1);
			break;
		case CK_AND:
		case CK_OR:
			if (c->nchildren == 0)
			{
				appendStringInfoString(buf, c->kind == CK_OR ? "false" : "true");
				break;
			}
			if (c->nchildren > 1)
				appendStringInfoChar(buf, '(');
			for (int i = 0; i < c->nchildren; i++)
			{
				if (i > 0)
					appendStringInfoString(buf, c->kind == CK_OR ? " OR " : " AND ");
				summarize_condition(buf, c->children[i], depth + 1);
			}
			if (c->nchildren > 1)
				appendStringInfoChar(buf, ')');
			break;
		case CK_SIMPLE:
			appendBinaryStringInfo(buf, c->path_text, c->path_len);
			appendStringInfo(buf, " %s", c->op->name);
			summarize_operand(buf, c);
			break;
		case CK_LIFECYCLE:
			appendStringInfo(buf, "%s %s", c->field_name, c->op->name);
			summarize_operand(buf, c);
			break;
		case CK_ARRAY:
			appendBinaryStringInfo(buf, c->path_text, c->path_len);
			appendStringInfoString(buf, " = [");
			for (int i = 0; i < c->nvalues; i++)
				appendStringInfo(buf, "%s%s", i > 0 ? ", " : "",
								 c->skip[i] ? "null" :
								 cw_jbv_json_text(&c->values[i].jv));
			appendStringInfoChar(buf, ']');
			break;
	}
}

/* "[summary]" of a criterion, cut to CRITERION_LABEL_MAX characters. */
static char *
criterion_label(Jsonb *crit)
{
	StringInfoData buf;
	int			cut;

	initStringInfo(&buf);
	summarize_condition(&buf, cw_condition_compile_unmerged(crit, "criterion", NULL,
															 CurrentMemoryContext), 0);
	cut = pg_mbcliplen(buf.data, buf.len, CRITERION_LABEL_MAX);
	if (cut < buf.len)
		return psprintf("[%.*s...]", cut, buf.data);
	return psprintf("[%s]", buf.data);
}

/* The label of a transition: name, manual/disabled/schedule, criterion, processors. */
static char *
transition_label(DgTransition *t, bool hand)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (t->manual && hand)
		appendStringInfoString(&buf, "\xE2\x9C\x8B ");	/* U+270B raised hand */
	appendStringInfoString(&buf, t->name);
	if (t->manual)
		appendStringInfoString(&buf, " (manual)");
	if (t->disabled)
		appendStringInfoString(&buf, " (disabled)");
	if (t->delay_ms >= 0)
		appendStringInfo(&buf, " (after " INT64_FORMAT " ms)", t->delay_ms);
	if (t->criterion)
		appendStringInfo(&buf, " %s", criterion_label(t->criterion));
	for (int p = 0; p < t->nprocs; p++)
		appendStringInfo(&buf, "%s%s", p == 0 ? " / " : ", ", t->procs[p]);
	return buf.data;
}

/* ------------------------------------------------------------------------
 * Mermaid
 * ------------------------------------------------------------------------
 */

/* Mermaid words that cannot be state ids. */
static bool
mermaid_reserved(const char *s)
{
	static const char *const words[] = {"end", "state", "note", "as", "direction",
		"classDef", "class", "style", "click", "of", "left", "right", "hide",
	"default", "accTitle", "accDescr", "title", NULL};

	for (int i = 0; words[i]; i++)
		if (pg_strcasecmp(words[i], s) == 0)
			return true;
	return false;
}

/* Can a state name serve as its own Mermaid id? */
static bool
mermaid_simple(const char *s)
{
	if (!isalpha((unsigned char) s[0]))
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char) *p) && *p != '_')
			return false;
	return !mermaid_reserved(s);
}

/* Text for a Mermaid label or state description: one line, no statement breaks. */
static void
mermaid_text(StringInfo buf, const char *s, bool quoted)
{
	for (const char *p = s; *p; p++)
	{
		if (*p == '\n' || *p == '\r' || *p == '\t')
			appendStringInfoChar(buf, ' ');
		else if (*p == ';')
			appendStringInfoString(buf, "#59;");
		else if (*p == '"' && quoted)
			appendStringInfoString(buf, "#quot;");
		else
			appendStringInfoChar(buf, *p);
	}
}

/* One workflow as a Mermaid stateDiagram-v2. */
static void
mermaid_workflow(StringInfo out, DgWorkflow *wf, bool hand)
{
	char	  **ids = palloc(sizeof(char *) * Max(wf->nstates, 1));
	int			alias = 0;

	appendStringInfoString(out, "%% workflow ");
	mermaid_text(out, wf->name, false);
	if (wf->is_default)
		appendStringInfo(out, " (Cyoda's default workflow: %s)", wf->why_default);
	if (!wf->active)
		appendStringInfoString(out, " (inactive)");
	appendStringInfoString(out, "\nstateDiagram-v2\n");

	for (int i = 0; i < wf->nstates; i++)
	{
		int			s = wf->order[i];

		if (mermaid_simple(wf->states[s].name))
			ids[s] = (char *) wf->states[s].name;
		else
		{
			/* an alias no state uses as its own id */
			char	   *id;

			do
				id = psprintf("s%d", ++alias);
			while (dg_state(wf, id) >= 0);
			ids[s] = id;
			appendStringInfoString(out, "    state \"");
			mermaid_text(out, wf->states[s].name, true);
			appendStringInfo(out, "\" as %s\n", id);
		}
	}

	if (wf->initial >= 0)
	{
		appendStringInfo(out, "    [*] --> %s", ids[wf->initial]);
		if (wf->criterion)
		{
			appendStringInfoString(out, " : ");
			mermaid_text(out, criterion_label(wf->criterion), false);
		}
		appendStringInfoChar(out, '\n');
		if (!wf->active)
			appendStringInfo(out, "    note right of %s : inactive workflow, not chosen for new entities\n",
							 ids[wf->initial]);
	}
	for (int i = 0; i < wf->nstates; i++)
	{
		DgState    *st = &wf->states[wf->order[i]];

		for (int k = 0; k < st->ntr; k++)
		{
			DgTransition *t = &st->tr[k];

			if (t->next < 0)
				continue;
			appendStringInfo(out, "    %s --> %s : ", ids[wf->order[i]], ids[t->next]);
			mermaid_text(out, transition_label(t, hand), false);
			appendStringInfoChar(out, '\n');
		}
		if (st->ntr == 0)
			appendStringInfo(out, "    %s --> [*]\n", ids[wf->order[i]]);
	}
}

/* ------------------------------------------------------------------------
 * Graphviz DOT
 * ------------------------------------------------------------------------
 */

/* s as a DOT double-quoted string. */
static void
dot_string(StringInfo buf, const char *s)
{
	appendStringInfoChar(buf, '"');
	for (const char *p = s; *p; p++)
	{
		if (*p == '"' || *p == '\\')
			appendStringInfoChar(buf, '\\');
		if (*p == '\n')
			appendStringInfoString(buf, "\\n");
		else if (*p != '\r')
			appendStringInfoChar(buf, *p);
	}
	appendStringInfoChar(buf, '"');
}

/* One workflow as a cluster of a DOT digraph; node ids are "w<n>_s<i>". */
static void
dot_workflow(StringInfo out, DgWorkflow *wf, int n)
{
	StringInfoData label;
	int		   *pos = palloc(sizeof(int) * Max(wf->nstates, 1));	/* state -> node */

	initStringInfo(&label);
	appendStringInfo(&label, "workflow %s", wf->name);
	if (wf->is_default)
		appendStringInfoString(&label, " (Cyoda's default workflow)");
	if (!wf->active)
		appendStringInfoString(&label, " (inactive)");

	appendStringInfo(out, "    subgraph \"cluster_w%d\" {\n        label=", n);
	dot_string(out, label.data);
	appendStringInfoString(out, ";\n");
	if (!wf->active)
		appendStringInfoString(out, "        style=dashed;\n        color=gray;\n");
	appendStringInfo(out, "        \"w%d_start\" [shape=point, width=0.15, label=\"\"];\n", n);
	for (int i = 0; i < wf->nstates; i++)
	{
		int			s = wf->order[i];

		pos[s] = i;
		appendStringInfo(out, "        \"w%d_s%d\" [label=", n, i);
		dot_string(out, wf->states[s].name);
		if (wf->states[s].ntr == 0)
			appendStringInfoString(out, ", peripheries=2");
		appendStringInfoString(out, "];\n");
	}
	if (wf->initial >= 0)
	{
		appendStringInfo(out, "        \"w%d_start\" -> \"w%d_s0\"", n, n);
		if (wf->criterion)
		{
			appendStringInfoString(out, " [label=");
			dot_string(out, criterion_label(wf->criterion));
			appendStringInfoChar(out, ']');
		}
		appendStringInfoString(out, ";\n");
	}
	for (int i = 0; i < wf->nstates; i++)
	{
		DgState    *st = &wf->states[wf->order[i]];

		for (int k = 0; k < st->ntr; k++)
		{
			DgTransition *t = &st->tr[k];

			if (t->next < 0)
				continue;
			appendStringInfo(out, "        \"w%d_s%d\" -> \"w%d_s%d\" [label=", n, i, n,
							 pos[t->next]);
			dot_string(out, transition_label(t, false));
			if (t->manual)
				appendStringInfoString(out, ", style=dashed");
			else if (t->delay_ms >= 0)
				appendStringInfoString(out, ", style=dotted");
			if (t->disabled)
				appendStringInfoString(out, ", color=gray, fontcolor=gray");
			appendStringInfoString(out, "];\n");
		}
	}
	appendStringInfoString(out, "    }\n");
}

/* ------------------------------------------------------------------------
 * diagram()
 * ------------------------------------------------------------------------
 */

/* SQL: cyoda_wf.diagram(model text, model_version int DEFAULT 1, format text DEFAULT 'mermaid') */
Datum
cyoda_wf_diagram(PG_FUNCTION_ARGS)
{
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int32		version = PG_GETARG_INT32(1);
	char	   *format = text_to_cstring(PG_GETARG_TEXT_PP(2));
	bool		dot;
	List	   *stored;
	List	   *wfs = NIL;
	ListCell   *lc;
	StringInfoData out;
	int			n = 0;
	bool		catch_all = false;

	if (pg_strcasecmp(format, "mermaid") == 0)
		dot = false;
	else if (pg_strcasecmp(format, "dot") == 0 || pg_strcasecmp(format, "graphviz") == 0)
		dot = true;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown diagram format \"%s\"", format),
				 errhint("Use 'mermaid' (a Mermaid stateDiagram-v2) or 'dot' (Graphviz).")));

	/*
	 * The engine gives a new entity the first active workflow whose
	 * criterion matches, else the default workflow: draw that one too
	 * unless some active workflow takes every entity.
	 */
	stored = read_workflows(model, version, false);
	foreach(lc, stored)
	{
		DgWorkflow *wf = dg_from_definition(((StoredWorkflow *) lfirst(lc))->definition);

		if (wf->active && wf->criterion == NULL)
			catch_all = true;
		wfs = lappend(wfs, wf);
	}
	if (wfs == NIL)
		wfs = list_make1(dg_default("the model has no imported workflow"));
	else if (!catch_all)
		wfs = lappend(wfs, dg_default("for new entities no workflow above selects"));

	initStringInfo(&out);
	if (dot)
	{
		appendStringInfoString(&out, "digraph ");
		dot_string(&out, model);
		appendStringInfoString(&out, " {\n    rankdir=LR;\n"
							   "    node [shape=box, style=rounded];\n");
	}
	foreach(lc, wfs)
	{
		DgWorkflow *wf = lfirst(lc);

		n++;
		if (dot)
			dot_workflow(&out, wf, n);
		else
		{
			if (n > 1)
				appendStringInfoChar(&out, '\n');
			mermaid_workflow(&out, wf, GetDatabaseEncoding() == PG_UTF8 ||
							 GetDatabaseEncoding() == PG_SQL_ASCII);
		}
	}
	if (dot)
		appendStringInfoString(&out, "}\n");

	/* no trailing newline: the text ends with the last statement */
	while (out.len > 0 && out.data[out.len - 1] == '\n')
		out.data[--out.len] = '\0';
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}

/* ------------------------------------------------------------------------
 * scaffold()
 * ------------------------------------------------------------------------
 */

/* Is s one of the strings of list? */
static bool
str_listed(List *list, const char *s)
{
	ListCell   *lc;

	foreach(lc, list)
		if (strcmp((const char *) lfirst(lc), s) == 0)
			return true;
	return false;
}

/* Record one use of a function (criterion or process) in the scaffold list. */
static void
sc_use(List **funcs, const char *schema, const char *name, bool is_criterion,
	   const char *use)
{
	ListCell   *lc;
	ScFunction *f;

	foreach(lc, *funcs)
	{
		f = lfirst(lc);
		if (strcmp(f->schema, schema) == 0 && strcmp(f->name, name) == 0)
		{
			if (f->is_criterion != is_criterion)
				f->also_other_kind = true;
			else if (!str_listed(f->uses, use))
				f->uses = lappend(f->uses, pstrdup(use));
			return;
		}
	}
	f = palloc0(sizeof(ScFunction));
	f->schema = pstrdup(schema);
	f->name = pstrdup(name);
	f->is_criterion = is_criterion;
	f->uses = list_make1(pstrdup(use));
	*funcs = lappend(*funcs, f);
}

/* Every function criterion in a condition, however deeply nested. */
static void
sc_walk_condition(List **funcs, const char *schema, Jsonb *crit, const char *use)
{
	CwCondition *c = cw_condition_compile_unmerged(crit, use, schema,
												   CurrentMemoryContext);
	ListCell   *lc;

	foreach(lc, cw_condition_functions(c, NIL))
		sc_use(funcs, schema, ((CwFunc *) lfirst(lc))->name, true, use);
}

/* Text for a SQL "--" comment: one line, whatever the names contain. */
static char *
sql_comment_text(const char *s)
{
	char	   *r = pstrdup(s);

	for (char *p = r; *p; p++)
		if ((unsigned char) *p < 0x20)
			*p = ' ';
	return r;
}

/* Text safe inside a Python docstring: one line, quotes and backslashes escaped. */
static void
py_docstring_text(StringInfo buf, const char *s)
{
	for (const char *p = s; *p; p++)
	{
		if ((unsigned char) *p < 0x20)
			appendStringInfoChar(buf, ' ');
		else
		{
			if (*p == '"' || *p == '\\')
				appendStringInfoChar(buf, '\\');
			appendStringInfoChar(buf, *p);
		}
	}
}

/* One stub: CREATE FUNCTION ... plus REVOKE. */
static void
sc_stub(StringInfo out, ScFunction *f)
{
	StringInfoData body;
	char	   *qname = psprintf("%s.%s", quote_identifier(f->schema),
								 quote_identifier(f->name));
	char	   *tag = "$$";
	ListCell   *lc;
	int			n = 0;

	initStringInfo(&body);
	appendStringInfoString(&body, "    \"\"\"");
	appendStringInfoString(&body, f->is_criterion ? "Criterion " : "Process ");
	py_docstring_text(&body, f->name);
	appendStringInfoString(&body, ", used by:\n");
	foreach(lc, f->uses)
	{
		appendStringInfoString(&body, "    - ");
		py_docstring_text(&body, lfirst(lc));
		appendStringInfoChar(&body, '\n');
	}
	appendStringInfoChar(&body, '\n');
	if (f->is_criterion)
		appendStringInfoString(&body, "    Return True when the entity matches.\n"
							   "    \"\"\"\n    return True\n");
	else
		appendStringInfoString(&body, "    Return the entity's new data (None keeps it unchanged).\n"
							   "    \"\"\"\n    return data\n");
	while (strstr(body.data, tag) != NULL)
		tag = n++ == 0 ? "$cw$" : psprintf("$cw%d$", n);

	if (f->also_other_kind)
		appendStringInfo(out, "-- %s is also used as a %s: one function cannot be both\n",
						 sql_comment_text(qname), f->is_criterion ? "process" : "criterion");
	appendStringInfo(out, "CREATE FUNCTION %s(meta jsonb, data jsonb) RETURNS %s\n"
					 "LANGUAGE plpython3u TRANSFORM FOR TYPE jsonb AS %s\n%s%s;\n"
					 "REVOKE EXECUTE ON FUNCTION %s(jsonb, jsonb) FROM PUBLIC;\n",
					 qname, f->is_criterion ? "boolean" : "jsonb", tag, body.data, tag,
					 qname);
}

/* SQL: cyoda_wf.scaffold(model text DEFAULT NULL) */
Datum
cyoda_wf_scaffold(PG_FUNCTION_ARGS)
{
	char	   *model = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	List	   *stored = read_workflows(model, 0, true);
	List	   *funcs = NIL;
	List	   *missing = NIL;
	List	   *schemas_done = NIL;
	ListCell   *lc;
	StringInfoData out;

	foreach(lc, stored)
	{
		StoredWorkflow *w = lfirst(lc);
		DgWorkflow *wf = dg_from_definition(w->definition);
		char	   *where = psprintf("model %s version %d, workflow %s",
									 w->model, w->version, wf->name);

		if (wf->criterion)
			sc_walk_condition(&funcs, w->function_schema, wf->criterion,
							  psprintf("%s (selects the workflow)", where));
		for (int i = 0; i < wf->nstates; i++)
		{
			DgState    *st = &wf->states[wf->order[i]];

			for (int k = 0; k < st->ntr; k++)
			{
				DgTransition *t = &st->tr[k];
				char	   *use = psprintf("%s, transition %s (%s -> %s)", where, t->name,
										   st->name, t->next >= 0 ? wf->states[t->next].name : "?");

				if (t->criterion)
					sc_walk_condition(&funcs, w->function_schema, t->criterion, use);
				for (int p = 0; p < t->nprocs; p++)
					sc_use(&funcs, w->function_schema, t->procs[p], false, use);
			}
		}
	}

	foreach(lc, funcs)
	{
		ScFunction *f = lfirst(lc);

		if (!OidIsValid(cw_function_lookup(f->schema, f->name)))
			missing = lappend(missing, f);
	}
	if (missing == NIL)
		PG_RETURN_TEXT_P(cstring_to_text("-- nothing to scaffold"));

	initStringInfo(&out);
	appendStringInfo(&out, "-- cyoda_wf.scaffold(%s): %d missing function%s; fill in the bodies, then run this script.\n",
					 model ? sql_comment_text(quote_literal_cstr(model)) : "",
					 list_length(missing), list_length(missing) == 1 ? "" : "s");
	foreach(lc, missing)
	{
		ScFunction *f = lfirst(lc);

		appendStringInfoChar(&out, '\n');
		if (!OidIsValid(get_namespace_oid(f->schema, true)) &&
			!str_listed(schemas_done, f->schema))
		{
			appendStringInfo(&out, "CREATE SCHEMA IF NOT EXISTS %s;\n",
							 quote_identifier(f->schema));
			schemas_done = lappend(schemas_done, f->schema);
		}
		sc_stub(&out, f);
	}
	while (out.len > 0 && out.data[out.len - 1] == '\n')
		out.data[--out.len] = '\0';
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}
