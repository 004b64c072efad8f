/*-------------------------------------------------------------------------
 * design_check.c
 *		Every check of a Cyoda design: validate_design() reports them all,
 *		import_design() refuses a design with any error.
 *
 * Besides the design rules (names, types and sources, references between
 * entities, reachability, shadowed transitions, automatic cycles) each
 * translated workflow (design_translate.c) goes through the native
 * compiler, cw_compile_workflow(), inside a subtransaction, so one
 * validator decides what is a valid workflow.  Checking stores nothing.
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"
#include "catalog.h"

#include <ctype.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "design_int.h"

#define EE_ONLY CW_SOURCE_ENTITY_EVENT

static const DesignType design_types[] = {
	{"JOB", "JOB", CW_SOURCE_ANY},
	{"RAW_DATA", "RAW_DATA", EE_ONLY},
	{"PULL_BASED_RAW_DATA", "PULL_BASED_RAW_DATA", EE_ONLY},
	{"PUSH_BASED_RAW_DATA", "PUSH_BASED_RAW_DATA", EE_ONLY},
	{"EXTERNAL_SOURCES_PULL_BASED_RAW_DATA", "EXTERNAL_SOURCES_PULL_BASED_RAW_DATA", EE_ONLY},
	{"WEB_SCRAPING_PULL_BASED_RAW_DATA", "WEB_SCRAPING_PULL_BASED_RAW_DATA", EE_ONLY},
	{"TRANSACTIONAL_PULL_BASED_RAW_DATA", "TRANSACTIONAL_PULL_BASED_RAW_DATA", EE_ONLY},
	{"EXTERNAL_SOURCES_PUSH_BASED_RAW_DATA", "EXTERNAL_SOURCES_PUSH_BASED_RAW_DATA", EE_ONLY},
	{"WEB_SCRAPING_PUSH_BASED_RAW_DATA", "WEB_SCRAPING_PUSH_BASED_RAW_DATA", EE_ONLY},
	{"TRANSACTIONAL_PUSH_BASED_RAW_DATA", "TRANSACTIONAL_PUSH_BASED_RAW_DATA", EE_ONLY},
	{"SECONDARY_DATA", "SECONDARY_DATA", EE_ONLY},
	{"TRANSFORMED_SECONDARY_DATA", "TRANSFORMED_SECONDARY_DATA", EE_ONLY},
	{"ENRICHED_SECONDARY_DATA", "ENRICHED_SECONDARY_DATA", EE_ONLY},
	{"AGGREGATED_SECONDARY_DATA", "AGGREGATED_SECONDARY_DATA", EE_ONLY},
	{"DERIVED_DATA", "SECONDARY_DATA", EE_ONLY},
	{"UTIL", "UTIL", CW_SOURCE_ANY},
	{"CONFIG", "CONFIG", CW_SOURCE_API_REQUEST},
	{"BUSINESS_ENTITY", "BUSINESS_ENTITY", CW_SOURCE_API_REQUEST | CW_SOURCE_ENTITY_EVENT},
};

#define DESIGN_TYPES_TEXT \
	"JOB, RAW_DATA (or PULL_BASED_/PUSH_BASED_RAW_DATA, each with an EXTERNAL_SOURCES_, " \
	"WEB_SCRAPING_ or TRANSACTIONAL_ variant), SECONDARY_DATA (or TRANSFORMED_, ENRICHED_, " \
	"AGGREGATED_SECONDARY_DATA; DERIVED_DATA), UTIL, CONFIG, BUSINESS_ENTITY"

static const struct
{
	const char *name;
	int			bit;
}			design_sources[] = {
	{"API_REQUEST", CW_SOURCE_API_REQUEST},
	{"SCHEDULED", CW_SOURCE_SCHEDULED},
	{"ENTITY_EVENT", CW_SOURCE_ENTITY_EVENT},
};

/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------
 */

/* Record an error or a warning at a JSON path. */
static void
pg_attribute_printf(4, 5)
design_issue(Design *d, bool error, const char *path, const char *fmt,...)
{
	DesignIssue *is = palloc(sizeof(DesignIssue));
	va_list		args;

	va_start(args, fmt);
	is->message = cw_format_va(fmt, args);
	va_end(args);
	is->error = error;
	is->path = pstrdup(path);
	d->issues = lappend(d->issues, is);
	if (error)
		d->nerrors++;
}


/* A string for a message: long values are cut, after 60 characters. */
static char *
shown(const char *s)
{
	return cw_clip_text(s, strlen(s), 60);
}

/*
 * Is s a lowercase_underscore name (python style): [a-z][a-z0-9_]* of at
 * most maxbytes bytes?  Returns NULL when it is, else why not.
 */
static const char *
name_problem(const char *s, int maxbytes)
{
	if (s[0] == '\0')
		return "must not be empty";
	if (!(s[0] >= 'a' && s[0] <= 'z'))
		return "must be lowercase_underscore: start with a lowercase letter, then a-z, 0-9 or _";
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return "must be lowercase_underscore: only a-z, 0-9 and _";
	if ((int) strlen(s) > maxbytes)
		return maxbytes == NAMEDATALEN - 1 ?
			"is longer than 63 bytes (a PostgreSQL identifier)" :
			psprintf("is longer than %d bytes", maxbytes);
	return NULL;
}

/*
 * Read a required lowercase_underscore name at path (key of object c).
 * Records the error and returns NULL when it is missing or invalid.
 */
static char *
design_name(Design *d, JsonbContainer *c, const char *key, const char *path,
			const char *what, int maxbytes)
{
	JsonbValue	v;
	char	   *s;
	const char *why;

	if (cw_jb_key(c, key, &v) == NULL || v.type == jbvNull)
	{
		design_issue(d, true, path, "%s is missing", what);
		return NULL;
	}
	if (v.type != jbvString)
	{
		design_issue(d, true, path, "%s must be a string, not %s", what, cw_jbv_kind(&v));
		return NULL;
	}
	s = cw_jb_text(&v);
	why = name_problem(s, maxbytes);
	if (why)
	{
		design_issue(d, true, path, "%s \"%s\" %s", what, shown(s), why);
		return NULL;
	}
	return s;
}

/* Is name in the list of strings? */
static bool
name_listed(List *names, const char *name)
{
	ListCell   *lc;

	foreach(lc, names)
		if (strcmp((const char *) lfirst(lc), name) == 0)
			return true;
	return false;
}

/* Warn about each key of object c that is not in known[] (NULL-terminated). */
static void
design_unknown_keys(Design *d, JsonbContainer *c, const char *path,
					const char *const *known, const char *what)
{
	JsonbIterator *it = JsonbIteratorInit(c);
	JsonbValue	v;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;
		bool		found = false;

		if (tok != WJB_KEY)
			continue;
		key = cw_jb_text(&v);
		for (int i = 0; known[i] != NULL && !found; i++)
			found = (strcmp(known[i], key) == 0);
		if (!found)
			design_issue(d, false, cw_design_path_key(path, key),
						 "unknown key \"%s\" in %s is ignored", shown(key), what);
	}
}

/* Optional string value of key (NULL when absent or null; error otherwise). */
static char *
design_opt_string(Design *d, JsonbContainer *c, const char *key, const char *path)
{
	JsonbValue	v;

	if (cw_jb_key(c, key, &v) == NULL || v.type == jbvNull)
		return NULL;
	if (v.type != jbvString)
	{
		design_issue(d, true, cw_design_path_key(path, key), "\"%s\" must be a string, not %s",
					 key, cw_jbv_kind(&v));
		return NULL;
	}
	return cw_jb_text(&v);
}

/* ------------------------------------------------------------------------
 * Checking a design
 * ------------------------------------------------------------------------
 */

/*
 * A process or criterion function used at path: one kind per name, a
 * warning (once per function) when it does not exist yet, an error when the
 * calling role, who would own the workflows, may not run it.
 */
static void
design_use_function(Design *d, const char *name, bool is_criterion, const char *path)
{
	const char *kind = is_criterion ? "criterion" : "process";
	const char *rettype = is_criterion ? "boolean" : "jsonb";
	const char *qname;
	ListCell   *lc;
	DFunction  *f;
	Oid			oid;

	foreach(lc, d->functions)
	{
		f = lfirst(lc);
		if (strcmp(f->name, name) != 0)
			continue;
		if (f->is_criterion != is_criterion)
			design_issue(d, true, path,
						 "function \"%s\" is used as a %s here and as a %s at %s: one function cannot return both jsonb (process) and boolean (criterion)",
						 name, kind, f->is_criterion ? "criterion" : "process", f->path);
		return;
	}
	f = palloc(sizeof(DFunction));
	f->name = pstrdup(name);
	f->is_criterion = is_criterion;
	f->path = pstrdup(path);
	d->functions = lappend(d->functions, f);

	qname = psprintf("%s.%s", quote_identifier(d->function_schema), quote_identifier(name));
	oid = cw_function_lookup(d->function_schema, name);
	f->oid = oid;
	if (!OidIsValid(oid))
		design_issue(d, false, path,
					 "%s function does not exist yet: CREATE FUNCTION %s(meta jsonb, data jsonb) RETURNS %s%s; cyoda_wf.scaffold() writes stubs after the import",
					 kind, qname, rettype,
					 OidIsValid(get_namespace_oid(d->function_schema, true)) ? "" :
					 psprintf(" (schema %s does not exist)",
							  quote_identifier(d->function_schema)));
	else if (get_func_rettype(oid) != (is_criterion ? BOOLOID : JSONBOID))
		design_issue(d, false, path,
					 "%s function %s(meta jsonb, data jsonb) returns %s; a %s must return %s",
					 kind, qname, format_type_be(get_func_rettype(oid)), kind, rettype);
	if (OidIsValid(oid))
	{
		char	   *grant = cw_function_access_grant(d->function_schema, name, oid, GetUserId());

		if (grant != NULL)
			design_issue(d, true, path,
						 "role \"%s\", which would import the workflow, may not run %s function %s(meta jsonb, data jsonb): %s",
						 GetUserNameFromId(GetUserId(), false), kind, qname, grant);
	}
}

/* Check that name is an entity of the design (adds_new_entites, depends_on). */
static bool
design_entity_ref(Design *d, const char *name, const char *path, const char *what)
{
	if (name_listed(d->names, name))
		return true;
	design_issue(d, true, path, "%s \"%s\" names no entity of the design",
				 what, shown(name));
	return false;
}

/* Is v one of the ways the design says "no entity": null, "None", ""? */
static bool
is_none(JsonbValue *v)
{
	return v->type == jbvNull ||
		(v->type == jbvString &&
		 (v->val.string.len == 0 ||
		  (v->val.string.len == 4 && memcmp(v->val.string.val, "None", 4) == 0)));
}

/* process.adds_new_entites (or adds_new_entities): a name, "None", or a list. */
static void
design_adds(Design *d, DTransition *t, JsonbValue *v, const char *key, const char *path)
{
	if (is_none(v))
		return;
	if (v->type == jbvString)
	{
		char	   *name = cw_jb_text(v);

		if (design_entity_ref(d, name, path, key))
			t->adds = lappend(t->adds, name);
		return;
	}
	if (cw_jbv_is_container(v, true))
	{
		JsonbIterator *it = JsonbIteratorInit(v->val.binary.data);
		JsonbValue	ev;
		JsonbIteratorToken tok;
		int			i = 0;

		while ((tok = JsonbIteratorNext(&it, &ev, true)) != WJB_DONE)
		{
			char	   *epath;

			if (tok != WJB_ELEM)
				continue;
			epath = psprintf("%s[%d]", path, i++);
			if (is_none(&ev))
				continue;
			if (ev.type != jbvString)
				design_issue(d, true, epath, "%s elements must be entity names, not %s",
							 key, cw_jbv_kind(&ev));
			else
			{
				char	   *name = cw_jb_text(&ev);

				if (design_entity_ref(d, name, epath, key))
					t->adds = lappend(t->adds, name);
			}
		}
		return;
	}
	design_issue(d, true, path,
				 "%s must be an entity name, \"None\" or a list of entity names, not %s",
				 key, cw_jbv_kind(v));
}

/*
 * A transition's "criteria" or "process" object: {"name", "description"}
 * (+ adds_new_entites for a process).  Returns the function name or NULL.
 */
static char *
design_function_ref(Design *d, DTransition *t, JsonbContainer *tc, const char *key,
					const char *path)
{
	static const char *const criteria_keys[] = {"name", "description", NULL};
	static const char *const process_keys[] = {"name", "description", "adds_new_entites",
	"adds_new_entities", NULL};
	bool		is_criterion = (strcmp(key, "criteria") == 0);
	char	   *fpath = cw_design_path_key(path, key);
	JsonbValue	v;
	JsonbContainer *c;
	char	   *name;
	char	   *desc;

	if (cw_jb_key(tc, key, &v) == NULL || v.type == jbvNull)
		return NULL;
	if (!cw_jbv_is_container(&v, false))
	{
		design_issue(d, true, fpath, "\"%s\" must be an object with a \"name\", or null, not %s",
					 key, cw_jbv_kind(&v));
		return NULL;
	}
	c = v.val.binary.data;
	name = design_name(d, c, "name", cw_design_path_key(fpath, "name"),
					   is_criterion ? "criteria name" : "process name", NAMEDATALEN - 1);
	desc = design_opt_string(d, c, "description", fpath);
	if (is_criterion)
		t->criteria_description = desc;
	else
	{
		JsonbValue	av;

		t->process_description = desc;
		if (cw_jb_key(c, "adds_new_entites", &av) != NULL)
			design_adds(d, t, &av, "adds_new_entites", cw_design_path_key(fpath, "adds_new_entites"));
		if (cw_jb_key(c, "adds_new_entities", &av) != NULL)
			design_adds(d, t, &av, "adds_new_entities", cw_design_path_key(fpath, "adds_new_entities"));
	}
	design_unknown_keys(d, c, fpath, is_criterion ? criteria_keys : process_keys,
						is_criterion ? "criteria" : "a process");
	if (name)
		design_use_function(d, name, is_criterion, cw_design_path_key(fpath, "name"));
	return name;
}

/* A transition's start_state or end_state (free text, not empty). */
static char *
design_state(Design *d, JsonbContainer *tc, const char *key, const char *path)
{
	JsonbValue	v;
	char	   *spath = cw_design_path_key(path, key);

	if (cw_jb_key(tc, key, &v) == NULL ||
		(v.type == jbvNull && strcmp(key, "end_state") == 0))
	{
		design_issue(d, true, spath, "%s is missing", key);
		return NULL;
	}
	if (v.type == jbvNull)		/* a start_state of None written as null */
		return pstrdup(DESIGN_INITIAL_STATE);
	if (v.type != jbvString)
	{
		design_issue(d, true, spath, "%s must be a string, not %s", key, cw_jbv_kind(&v));
		return NULL;
	}
	if (v.val.string.len == 0)
	{
		design_issue(d, true, spath, "%s must not be empty", key);
		return NULL;
	}
	return cw_jb_text(&v);
}

/* Read and check one transition of a design workflow. */
static void
design_transition(Design *d, DTransition *t, JsonbValue *tv)
{
	static const char *const known[] = {"name", "description", "start_state",
		"start_state_description", "end_state", "end_state_description",
	"transition_type", "criteria", "process", NULL};
	JsonbContainer *c;
	JsonbValue	v;

	if (!cw_jbv_is_container(tv, false))
	{
		design_issue(d, true, t->path, "a transition must be an object, not %s", cw_jbv_kind(tv));
		return;
	}
	c = tv->val.binary.data;
	t->name = design_name(d, c, "name", cw_design_path_key(t->path, "name"), "transition name",
						  CW_MAX_NAME_LEN);
	t->description = design_opt_string(d, c, "description", t->path);
	t->start = design_state(d, c, "start_state", t->path);
	t->end = design_state(d, c, "end_state", t->path);
	t->start_description = design_opt_string(d, c, "start_state_description", t->path);
	t->end_description = design_opt_string(d, c, "end_state_description", t->path);

	if (cw_jb_key(c, "transition_type", &v) != NULL && v.type != jbvNull)
	{
		if (cw_jbv_ieq(&v, "manual"))
			t->manual = true;
		else if (!cw_jbv_ieq(&v, "automatic"))
			design_issue(d, true, cw_design_path_key(t->path, "transition_type"),
						 "transition_type must be \"manual\" or \"automatic\", not %s",
						 v.type == jbvString ? psprintf("\"%s\"", shown(cw_jb_text(&v))) :
						 cw_jbv_kind(&v));
	}
	t->has_criteria = (cw_jb_key(c, "criteria", &v) != NULL && v.type != jbvNull);
	t->criteria = design_function_ref(d, t, c, "criteria", t->path);
	t->process = design_function_ref(d, t, c, "process", t->path);
	design_unknown_keys(d, c, t->path, known, "a transition");
}

/* Is t an automatic transition without criteria, fully read? */
static bool
unconditional_auto(DTransition *t)
{
	return t->start && t->end && !t->manual && !t->has_criteria;
}

/*
 * Transition names unique per state, and nothing shadowed by an automatic
 * transition without criteria.  Sets *all_read (every transition has its
 * start and end state) and *from_initial (some transition leaves "None").
 */
static void
design_transition_rules(Design *d, DEntity *e, bool *all_read, bool *from_initial)
{
	DTransition *tr = e->transitions;
	int			nt = e->ntransitions;

	*all_read = true;
	*from_initial = false;
	for (int k = 0; k < nt; k++)
	{
		DTransition *t = &tr[k];

		if (t->start == NULL || t->end == NULL)
			*all_read = false;
		if (t->start == NULL)
			continue;
		if (strcmp(t->start, DESIGN_INITIAL_STATE) == 0)
			*from_initial = true;
		for (int j = 0; j < k; j++)
		{
			DTransition *u = &tr[j];

			if (u->start == NULL || strcmp(u->start, t->start) != 0)
				continue;
			if (t->name && u->name && strcmp(t->name, u->name) == 0)
			{
				design_issue(d, true, cw_design_path_key(t->path, "name"),
							 "duplicate transition name \"%s\" in state \"%s\" (also at %s)",
							 t->name, shown(t->start), u->path);
				break;
			}
		}
		for (int j = 0; j < nt; j++)
		{
			DTransition *u = &tr[j];

			if (j == k || !unconditional_auto(u) || strcmp(u->start, t->start) != 0)
				continue;
			if (!t->manual && j < k)
			{
				design_issue(d, true, t->path,
							 "automatic transition \"%s\" can never fire: automatic transition \"%s\" (%s) leaves state \"%s\" before it and has no criteria",
							 t->name ? t->name : "?", u->name ? u->name : "?", u->path,
							 shown(t->start));
				break;
			}
			if (t->manual)
			{
				design_issue(d, false, t->path,
							 "manual transition \"%s\" can never be fired: automatic transition \"%s\" (%s) has no criteria and leaves state \"%s\" as soon as it is entered",
							 t->name ? t->name : "?", u->name ? u->name : "?", u->path,
							 shown(t->start));
				break;
			}
		}
	}
}

/* Every state reachable from "None": breadth-first over every transition. */
static void
design_reachability(Design *d, DEntity *e, char **states, char **where, int ns)
{
	DTransition *tr = e->transitions;
	int			nt = e->ntransitions;
	bool	   *reached;
	int		   *queue;
	int			qh = 0,
				qt = 0;

	reached = palloc0(sizeof(bool) * ns);
	queue = palloc(sizeof(int) * ns);
	reached[0] = true;
	queue[qt++] = 0;
	while (qh < qt)
	{
		int			s = queue[qh++];

		for (int k = 0; k < nt; k++)
		{
			int			to;

			if (tr[k].start == NULL || tr[k].end == NULL ||
				strcmp(tr[k].start, states[s]) != 0)
				continue;
			to = cw_design_state_pos(states, ns, tr[k].end);
			if (!reached[to])
			{
				reached[to] = true;
				queue[qt++] = to;
			}
		}
	}
	for (int s = 1; s < ns; s++)
		if (!reached[s])
			design_issue(d, true, where[s],
						 "state \"%s\" is not reachable from \"None\": no chain of transitions leads to it",
						 shown(states[s]));
}

/*
 * No cycle of automatic transitions without criteria: each state has at
 * most one that can fire (the first), so follow that chain.
 */
static void
design_auto_cycles(Design *d, DEntity *e, char **states, int ns)
{
	DTransition *tr = e->transitions;
	int			nt = e->ntransitions;
	int		   *auto_tr;		/* per state: its unconditional automatic transition */
	int		   *color;			/* 0 new, 1 on path, 2 done */

	auto_tr = palloc(sizeof(int) * ns);
	for (int s = 0; s < ns; s++)
		auto_tr[s] = -1;
	for (int k = nt - 1; k >= 0; k--)
		if (unconditional_auto(&tr[k]))
			auto_tr[cw_design_state_pos(states, ns, tr[k].start)] = k;
	color = palloc0(sizeof(int) * ns);
	for (int root = 0; root < ns; root++)
	{
		int			s = root;

		while (s >= 0 && color[s] == 0)
		{
			color[s] = 1;
			s = auto_tr[s] >= 0 ? cw_design_state_pos(states, ns, tr[auto_tr[s]].end) : -1;
		}
		if (s >= 0 && color[s] == 1)
		{
			StringInfoData cyc;
			int			c = s;
			int			last = -1;

			initStringInfo(&cyc);
			do
			{
				appendStringInfo(&cyc, "\"%s\" -> ", shown(states[c]));
				last = auto_tr[c];
				c = cw_design_state_pos(states, ns, tr[last].end);
			} while (c != s);
			appendStringInfo(&cyc, "\"%s\"", shown(states[s]));
			design_issue(d, true, tr[last].path,
						 "automatic transitions without criteria form a cycle: %s; give one of them criteria or make it manual",
						 cyc.data);
		}
		for (s = root; s >= 0 && color[s] == 1;)
		{
			color[s] = 2;
			s = auto_tr[s] >= 0 ? cw_design_state_pos(states, ns, tr[auto_tr[s]].end) : -1;
		}
	}
}

/*
 * Rules on the workflow as a state machine: transition names unique per
 * state, nothing shadowed by an automatic transition without criteria,
 * every state reachable from "None", no cycle of automatic transitions
 * without criteria.
 */
static void
design_state_machine(Design *d, DEntity *e, const char *wpath)
{
	char	  **states;
	char	  **where;
	int			ns;
	bool		from_initial;
	bool		all_read;

	design_transition_rules(d, e, &all_read, &from_initial);

	/* the graph is only known when every transition could be read */
	if (!all_read)
		return;
	ns = cw_design_states(e, &states, &where);
	if (e->ntransitions > 0 && !from_initial)
	{
		design_issue(d, true, psprintf("%s.transitions", wpath),
					 "no transition starts from \"None\", the state every entity starts in");
		return;
	}
	design_reachability(d, e, states, where, ns);
	design_auto_cycles(d, e, states, ns);
}

/*
 * Run the translated workflow through the native compiler (the one import
 * uses) in a subtransaction; its 22023 error becomes an error row.  Any
 * other error (out of memory, cancel) is raised again.
 */
static void
design_native_check(Design *d, DEntity *e, const char *wpath)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	MemoryContext scratch;

	scratch = AllocSetContextCreate(oldcxt, "cyoda_wf design check",
									ALLOCSET_DEFAULT_SIZES);
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		(void) cw_compile_workflow(e->native, e->name, GetUserId(),
								   d->function_schema, NULL, scratch);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		if (edata->sqlerrcode != ERRCODE_INVALID_PARAMETER_VALUE)
			ReThrowError(edata);
		design_issue(d, true, wpath, "%s", edata->message);
		FreeErrorData(edata);
	}
	PG_END_TRY();
	MemoryContextDelete(scratch);
}

/* Read and check an entity's workflow. */
static void
design_workflow(Design *d, DEntity *e, JsonbValue *wv, const char *wpath)
{
	static const char *const known[] = {"name", "class_name", "description",
	"transitions", NULL};
	JsonbContainer *c;
	JsonbValue	v;
	int			errors_before = d->nerrors;

	if (!cw_jbv_is_container(wv, false))
	{
		design_issue(d, true, wpath, "entity_workflow must be an object or null, not %s",
					 cw_jbv_kind(wv));
		return;
	}
	c = wv->val.binary.data;
	e->has_workflow = true;
	e->wf_name = design_name(d, c, "name", cw_design_path_key(wpath, "name"), "workflow name",
							 CW_MAX_NAME_LEN);
	e->class_name = design_opt_string(d, c, "class_name", wpath);
	e->wf_description = design_opt_string(d, c, "description", wpath);

	if (cw_jb_key(c, "transitions", &v) == NULL || v.type == jbvNull)
		design_issue(d, true, cw_design_path_key(wpath, "transitions"),
					 "transitions is missing: a workflow is a list of transitions ([] for none)");
	else if (!cw_jbv_is_container(&v, true))
		design_issue(d, true, cw_design_path_key(wpath, "transitions"),
					 "transitions must be an array, not %s", cw_jbv_kind(&v));
	else
	{
		JsonbIterator *it = JsonbIteratorInit(v.val.binary.data);
		JsonbValue	tv;
		JsonbIteratorToken tok;
		int			k = 0;

		e->ntransitions = JsonContainerSize(v.val.binary.data);
		e->transitions = palloc0(sizeof(DTransition) * Max(e->ntransitions, 1));
		while ((tok = JsonbIteratorNext(&it, &tv, true)) != WJB_DONE)
		{
			if (tok != WJB_ELEM)
				continue;
			e->transitions[k].path = psprintf("%s.transitions[%d]", wpath, k);
			design_transition(d, &e->transitions[k], &tv);
			k++;
		}
		design_state_machine(d, e, wpath);
	}
	design_unknown_keys(d, c, wpath, known, "a workflow");

	/* what the design rules let through, the native compiler checks too */
	if (d->nerrors == errors_before && e->name != NULL)
	{
		e->native = cw_design_translate(e);
		design_native_check(d, e, wpath);
	}
}

/* The type of an entity_type string (case-insensitive), or NULL. */
static const DesignType *
design_type(const char *s)
{
	for (int i = 0; i < lengthof(design_types); i++)
		if (pg_strcasecmp(design_types[i].name, s) == 0)
			return &design_types[i];
	return NULL;
}

/* "A, B or C" of a source mask. */
static char *
sources_text(int mask)
{
	StringInfoData buf;
	int			n = 0,
				seen = 0;

	for (int i = 0; i < lengthof(design_sources); i++)
		if (mask & design_sources[i].bit)
			n++;
	initStringInfo(&buf);
	for (int i = 0; i < lengthof(design_sources); i++)
	{
		if (!(mask & design_sources[i].bit))
			continue;
		if (seen > 0)
			appendStringInfoString(&buf, seen == n - 1 ? " or " : ", ");
		appendStringInfoString(&buf, design_sources[i].name);
		seen++;
	}
	return buf.data;
}

/*
 * entity_source (or entity_entry_point) of the entity at path p (object c),
 * allowed for its type; sets e->source.
 */
static void
design_entity_source(Design *d, DEntity *e, JsonbContainer *c, const char *p)
{
	JsonbValue	v;
	const char *source_key = "entity_source";

	if (cw_jb_key(c, "entity_source", &v) != NULL && v.type != jbvNull)
	{
		JsonbValue	alt;

		if (cw_jb_key(c, "entity_entry_point", &alt) != NULL && alt.type != jbvNull &&
			!(alt.type == jbvString && v.type == jbvString &&
			  alt.val.string.len == v.val.string.len &&
			  pg_strncasecmp(alt.val.string.val, v.val.string.val, v.val.string.len) == 0))
			design_issue(d, true, cw_design_path_key(p, "entity_entry_point"),
						 "entity_entry_point differs from entity_source: give only one");
	}
	else if (cw_jb_key(c, "entity_entry_point", &v) != NULL && v.type != jbvNull)
		source_key = "entity_entry_point";
	else
		v.type = jbvNull;

	if (v.type == jbvNull)
		design_issue(d, true, cw_design_path_key(p, "entity_source"),
					 "entity_source is missing (API_REQUEST, SCHEDULED or ENTITY_EVENT)");
	else if (v.type != jbvString)
		design_issue(d, true, cw_design_path_key(p, source_key), "%s must be a string, not %s",
					 source_key, cw_jbv_kind(&v));
	else
	{
		char	   *s = cw_jb_text(&v);
		int			bit = 0;

		for (int j = 0; j < lengthof(design_sources); j++)
			if (pg_strcasecmp(design_sources[j].name, s) == 0)
			{
				bit = design_sources[j].bit;
				e->source = pstrdup(design_sources[j].name);
			}
		if (bit == 0)
			design_issue(d, true, cw_design_path_key(p, source_key),
						 "unknown %s \"%s\": use API_REQUEST, SCHEDULED or ENTITY_EVENT",
						 source_key, shown(s));
		else if (e->type && !(e->type->sources & bit))
			design_issue(d, true, cw_design_path_key(p, source_key),
						 "%s %s is not allowed for entity_type %s, which allows %s",
						 source_key, e->source, e->type->name, sources_text(e->type->sources));
	}
}

/* Read and check one entity. */
static void
design_entity(Design *d, int i, JsonbValue *ev)
{
	static const char *const known[] = {"entity_name", "entity_type", "entity_source",
		"entity_entry_point", "depends_on_entity", "entity_workflow", "schedule", NULL};
	DEntity    *e = palloc0(sizeof(DEntity));
	JsonbContainer *c;
	JsonbValue	v;
	char	   *p = psprintf("$.entities[%d]", i);

	e->path = p;
	if (!cw_jbv_is_container(ev, false))
	{
		design_issue(d, true, p, "an entity must be an object, not %s", cw_jbv_kind(ev));
		return;
	}
	c = ev->val.binary.data;
	e->object = JsonbValueToJsonb(ev);

	/* entity_name: lowercase_underscore, unique */
	e->name = design_name(d, c, "entity_name", cw_design_path_key(p, "entity_name"), "entity_name",
						  NAMEDATALEN - 1);
	if (e->name)
	{
		ListCell   *lc;

		foreach(lc, d->entities)
		{
			DEntity    *o = lfirst(lc);

			if (o->name && strcmp(o->name, e->name) == 0)
			{
				design_issue(d, true, cw_design_path_key(p, "entity_name"),
							 "entity_name \"%s\" is already used by %s", e->name, o->path);
				e->name = NULL;
				break;
			}
		}
	}

	/* entity_type */
	if (cw_jb_key(c, "entity_type", &v) == NULL || v.type == jbvNull)
		design_issue(d, true, cw_design_path_key(p, "entity_type"), "entity_type is missing (one of %s)",
					 DESIGN_TYPES_TEXT);
	else if (v.type != jbvString)
		design_issue(d, true, cw_design_path_key(p, "entity_type"), "entity_type must be a string, not %s",
					 cw_jbv_kind(&v));
	else if ((e->type = design_type(cw_jb_text(&v))) == NULL)
		design_issue(d, true, cw_design_path_key(p, "entity_type"),
					 "unknown entity_type \"%s\"; known types: %s",
					 shown(cw_jb_text(&v)), DESIGN_TYPES_TEXT);

	design_entity_source(d, e, c, p);

	/* depends_on_entity: another entity of the design, or none */
	if (cw_jb_key(c, "depends_on_entity", &v) != NULL && !is_none(&v))
	{
		if (v.type != jbvString)
			design_issue(d, true, cw_design_path_key(p, "depends_on_entity"),
						 "depends_on_entity must be an entity name or \"None\", not %s",
						 cw_jbv_kind(&v));
		else
		{
			char	   *dep = cw_jb_text(&v);

			if (design_entity_ref(d, dep, cw_design_path_key(p, "depends_on_entity"), "depends_on_entity"))
				e->depends_on = dep;
		}
	}
	else if (e->source && strcmp(e->source, "ENTITY_EVENT") == 0)
		design_issue(d, true, cw_design_path_key(p, "depends_on_entity"),
					 "an ENTITY_EVENT entity needs depends_on_entity: the entity whose process creates it");

	/* entity_workflow: an object, or null/absent for Cyoda's default workflow */
	if (cw_jb_key(c, "entity_workflow", &v) != NULL && v.type != jbvNull)
		design_workflow(d, e, &v, cw_design_path_key(p, "entity_workflow"));

	/* schedule: cron text of a SCHEDULED entity; import makes the pg_cron job */
	if (cw_jb_key(c, "schedule", &v) != NULL && v.type != jbvNull)
	{
		if (v.type != jbvString || v.val.string.len == 0)
			design_issue(d, true, cw_design_path_key(p, "schedule"),
						 "schedule must be cron text such as \"0 * * * *\", not %s", cw_jbv_kind(&v));
		else if (e->source == NULL || strcmp(e->source, "SCHEDULED") != 0)
			design_issue(d, true, cw_design_path_key(p, "schedule"),
						 "schedule is only for entities whose entity_source is SCHEDULED");
		else
			e->schedule = cw_jb_text(&v);
	}

	design_unknown_keys(d, c, p, known, "an entity");
	d->entities = lappend(d->entities, e);
}

/* Check a whole design; d->issues lists what was found. */
void
cw_design_check(Design *d, Jsonb *design, const char *function_schema)
{
	static const char *const known[] = {"can_proceed", "entities", "$schema", "title",
	"type", NULL};
	JsonbValue	v;
	JsonbIterator *it;
	JsonbValue	ev;
	JsonbIteratorToken tok;
	int			i;

	memset(d, 0, sizeof(Design));
	d->function_schema = function_schema;

	if (!JB_ROOT_IS_OBJECT(design))
	{
		design_issue(d, true, "$", "a design must be a JSON object with \"entities\", not %s",
					 JB_ROOT_IS_SCALAR(design) ? "a scalar" : "an array");
		return;
	}
	if (cw_jb_key(&design->root, "can_proceed", &v) != NULL)
	{
		if (v.type != jbvBool)
			design_issue(d, false, "$.can_proceed", "can_proceed should be a boolean, not %s",
						 cw_jbv_kind(&v));
		else if (!v.val.boolean)
			design_issue(d, false, "$.can_proceed",
						 "can_proceed is false: the design is marked as not ready");
	}
	design_unknown_keys(d, &design->root, "$", known, "a design");

	if (cw_jb_key(&design->root, "entities", &v) == NULL)
	{
		design_issue(d, true, "$.entities", "entities is missing: a design is {\"entities\": [...]}");
		return;
	}
	if (!cw_jbv_is_container(&v, true))
	{
		design_issue(d, true, "$.entities", "entities must be an array, not %s", cw_jbv_kind(&v));
		return;
	}
	if (JsonContainerSize(v.val.binary.data) == 0)
		design_issue(d, false, "$.entities", "the design has no entities");

	/* every entity name first: entities refer to later ones */
	it = JsonbIteratorInit(v.val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &ev, true)) != WJB_DONE)
	{
		JsonbValue	nv;

		if (tok == WJB_ELEM && cw_jbv_is_container(&ev, false) &&
			cw_jb_key(ev.val.binary.data, "entity_name", &nv) != NULL && nv.type == jbvString)
			d->names = lappend(d->names, cw_jb_text(&nv));
	}

	it = JsonbIteratorInit(v.val.binary.data);
	i = 0;
	while ((tok = JsonbIteratorNext(&it, &ev, true)) != WJB_DONE)
		if (tok == WJB_ELEM)
			design_entity(d, i++, &ev);
}
