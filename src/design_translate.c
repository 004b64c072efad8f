/*-------------------------------------------------------------------------
 * design_translate.c
 *		A checked design entity translated into a native workflow definition.
 *
 * A design lists entities; each becomes model version 1 with its type,
 * allowed sources and dependency (a cyoda_wf.model row) and at most one
 * workflow.  The workflow translates as follows: its initial state is the
 * literal state "None"; each design transition goes, in design order, into
 * states[start_state].transitions with "next" = end_state, "manual" from
 * transition_type, a function criterion for "criteria" and one SYNC
 * processor for "process"; descriptions and adds_new_entites go into
 * annotations; every end state gets a state entry so terminal states exist.
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"

#include "design_int.h"

/* ------------------------------------------------------------------------
 * The states of a design workflow (shared with design_check.c)
 * ------------------------------------------------------------------------
 */

/* path + "." + key, with keys that are no identifiers quoted as in jsonpath. */
char *
cw_design_path_key(const char *path, const char *key)
{
	bool		plain = (isalpha((unsigned char) key[0]) || key[0] == '_');

	for (const char *p = key; plain && *p; p++)
		if (!isalnum((unsigned char) *p) && *p != '_')
			plain = false;
	if (plain)
		return psprintf("%s.%s", path, key);
	return psprintf("%s.\"%s\"", path, cw_clip_text(key, strlen(key), 60));
}

/* Index of name in states[0..n-1], or -1. */
int
cw_design_state_pos(char **states, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(states[i], name) == 0)
			return i;
	return -1;
}

/*
 * The states of a workflow in order of first mention ("None" first), and
 * where each is first mentioned.
 */
int
cw_design_states(DEntity *e, char ***states_out, char ***where_out)
{
	int			max = 2 * e->ntransitions + 1;
	char	  **states = palloc(sizeof(char *) * max);
	char	  **where = palloc(sizeof(char *) * max);
	int			n = 0;

	states[n] = DESIGN_INITIAL_STATE;
	where[n++] = NULL;
	for (int k = 0; k < e->ntransitions; k++)
	{
		DTransition *t = &e->transitions[k];

		if (t->start == NULL || t->end == NULL)
			continue;
		if (cw_design_state_pos(states, n, t->start) < 0)
		{
			states[n] = t->start;
			where[n++] = cw_design_path_key(t->path, "start_state");
		}
		if (cw_design_state_pos(states, n, t->end) < 0)
		{
			states[n] = t->end;
			where[n++] = cw_design_path_key(t->path, "end_state");
		}
	}
	*states_out = states;
	*where_out = where;
	return n;
}


/* ------------------------------------------------------------------------
 * Translation into a native WorkflowDefinition
 * ------------------------------------------------------------------------
 */

/* One transition in native form. */
static void
translate_transition(JsonbParseState **ps, DTransition *t)
{
	JsonbValue	b;

	pushJsonbValue(ps, WJB_BEGIN_OBJECT, NULL);
	cw_jb_push_pair(ps, "name", t->name);
	cw_jb_push_pair(ps, "next", t->end);
	cw_jb_push_key(ps, "manual");
	b.type = jbvBool;
	b.val.boolean = t->manual;
	pushJsonbValue(ps, WJB_VALUE, &b);
	if (t->criteria)
	{
		cw_jb_push_key(ps, "criterion");
		pushJsonbValue(ps, WJB_BEGIN_OBJECT, NULL);
		cw_jb_push_pair(ps, "type", "function");
		cw_jb_push_key(ps, "function");
		pushJsonbValue(ps, WJB_BEGIN_OBJECT, NULL);
		cw_jb_push_pair(ps, "name", t->criteria);
		pushJsonbValue(ps, WJB_END_OBJECT, NULL);
		pushJsonbValue(ps, WJB_END_OBJECT, NULL);
	}
	if (t->process)
	{
		cw_jb_push_key(ps, "processors");
		pushJsonbValue(ps, WJB_BEGIN_ARRAY, NULL);
		pushJsonbValue(ps, WJB_BEGIN_OBJECT, NULL);
		cw_jb_push_pair(ps, "name", t->process);
		cw_jb_push_pair(ps, "executionMode", "SYNC");
		pushJsonbValue(ps, WJB_END_OBJECT, NULL);
		pushJsonbValue(ps, WJB_END_ARRAY, NULL);
	}
	if (t->description || t->criteria_description || t->process_description || t->adds)
	{
		cw_jb_push_key(ps, "annotations");
		pushJsonbValue(ps, WJB_BEGIN_OBJECT, NULL);
		if (t->description)
			cw_jb_push_pair(ps, "description", t->description);
		if (t->criteria_description)
			cw_jb_push_pair(ps, "criteria_description", t->criteria_description);
		if (t->process_description)
			cw_jb_push_pair(ps, "process_description", t->process_description);
		if (t->adds)
		{
			ListCell   *lc;

			cw_jb_push_key(ps, "adds_new_entities");
			pushJsonbValue(ps, WJB_BEGIN_ARRAY, NULL);
			foreach(lc, t->adds)
				cw_jb_push_string(ps, WJB_ELEM, lfirst(lc));
			pushJsonbValue(ps, WJB_END_ARRAY, NULL);
		}
		pushJsonbValue(ps, WJB_END_OBJECT, NULL);
	}
	pushJsonbValue(ps, WJB_END_OBJECT, NULL);
}

/*
 * The native workflow of a design entity (checked, no errors).  State
 * descriptions come from the transitions (first one given wins).
 */
Jsonb *
cw_design_translate(DEntity *e)
{
	JsonbParseState *ps = NULL;
	JsonbValue *res;
	char	  **states;
	char	  **where;
	char	  **descs;
	int			ns = cw_design_states(e, &states, &where);
	bool		any_desc = false;

	descs = palloc0(sizeof(char *) * ns);
	for (int k = 0; k < e->ntransitions; k++)
	{
		DTransition *t = &e->transitions[k];
		int			from = cw_design_state_pos(states, ns, t->start);
		int			to = cw_design_state_pos(states, ns, t->end);

		if (descs[from] == NULL)
			descs[from] = t->start_description;
		if (descs[to] == NULL)
			descs[to] = t->end_description;
	}

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	cw_jb_push_pair(&ps, "name", e->wf_name);
	if (e->wf_description)
		cw_jb_push_pair(&ps, "desc", e->wf_description);
	cw_jb_push_pair(&ps, "initialState", DESIGN_INITIAL_STATE);
	cw_jb_push_key(&ps, "states");
	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	for (int s = 0; s < ns; s++)
	{
		cw_jb_push_key(&ps, states[s]);
		pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
		cw_jb_push_key(&ps, "transitions");
		pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
		for (int k = 0; k < e->ntransitions; k++)
			if (strcmp(e->transitions[k].start, states[s]) == 0)
				translate_transition(&ps, &e->transitions[k]);
		pushJsonbValue(&ps, WJB_END_ARRAY, NULL);
		pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
		if (descs[s])
			any_desc = true;
	}
	pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	if (any_desc || e->class_name)
	{
		cw_jb_push_key(&ps, "annotations");
		pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
		if (e->class_name)
			cw_jb_push_pair(&ps, "class_name", e->class_name);
		if (any_desc)
		{
			cw_jb_push_key(&ps, "state_descriptions");
			pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
			for (int s = 0; s < ns; s++)
				if (descs[s])
					cw_jb_push_pair(&ps, states[s], descs[s]);
			pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
		}
		pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	}
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/* {"importMode": "REPLACE", "workflows": [native] or []} */
Jsonb *
cw_design_import_body(DEntity *e)
{
	JsonbParseState *ps = NULL;
	JsonbValue	v;
	JsonbValue *res;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	cw_jb_push_pair(&ps, "importMode", "REPLACE");
	cw_jb_push_key(&ps, "workflows");
	pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
	if (e->native)
	{
		cw_jb_as_value(e->native, &v);
		pushJsonbValue(&ps, WJB_ELEM, &v);
	}
	pushJsonbValue(&ps, WJB_END_ARRAY, NULL);
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}
