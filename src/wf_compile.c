/*-------------------------------------------------------------------------
 * wf_compile.c
 *		Cyoda native workflow definitions: validation and compilation,
 *		normalization.
 *
 * Compiling is validating: cw_compile_workflow() walks one
 * WorkflowDefinition, rejects anything the format does not allow (22023,
 * with a message naming workflow, state, transition and processor) and
 * builds the CwWorkflow the engine walks.  On request it also returns the
 * definition with its documented defaults filled in, which is what the
 * workflow table stores and export_workflows() returns.
 *
 * Importing and exporting whole bodies of definitions is in wf_import.c.
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"

#include <limits.h>

#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "wf_int.h"

/* Cyoda's default workflow, used by models with no imported workflow. */
static const char *const default_workflow_json =
"{\"name\": \"" CW_DEFAULT_WORKFLOW_NAME "\","
" \"initialState\": \"NONE\","
" \"states\": {"
"   \"NONE\": {\"transitions\": [{\"name\": \"NEW\", \"next\": \"CREATED\"}]},"
"   \"CREATED\": {\"transitions\": ["
"      {\"name\": \"UPDATE\", \"next\": \"CREATED\", \"manual\": true},"
"      {\"name\": \"DELETE\", \"next\": \"DELETED\", \"manual\": true}]},"
"   \"DELETED\": {\"transitions\": []}}}";

/* Keys each object of the format allows (listed in errhints too). */
#define WORKFLOW_KEYS	"version, name, desc, initialState, active, criterion, states, annotations"
#define STATE_KEYS		"transitions"
#define TRANSITION_KEYS "name, next, manual, disabled, criterion, processors, schedule, annotations"
#define SCHEDULE_KEYS	"delayMs, timeoutMs"
#define PROCESSOR_KEYS	"type, name, executionMode, config"
#define CONFIG_KEYS		"attachEntity, calculationNodesTags, responseTimeoutMs, retryPolicy, context"

#define EXEC_MODES		"SYNC, ASYNC_SAME_TX, ASYNC_NEW_TX, COMMIT_BEFORE_DISPATCH"
#define RETRY_POLICIES	"NONE, FIXED"
#define FORMAT_VERSIONS "1.0, 1.1, 1.2, 1.3"


/*
 * Where the compiler is in a definition, for error messages; positions are
 * 1-based and used while a transition or processor has no valid name yet.
 */
typedef struct DefCompile
{
	MemoryContext cxt;			/* holds the CwWorkflow being built */
	const char *function_schema;
	bool		normalize;		/* build the normalized definition too */
	CwWorkflow *wf;
	const char *wf_name;		/* NULL until known */
	const char *state;			/* NULL outside states */
	int			tr_no;			/* 0 outside transitions */
	const char *tr_name;
	int			pr_no;			/* 0 outside processors */
	const char *pr_name;
} DefCompile;

/* A key added by normalization when the definition does not give it. */
typedef struct DefaultKey
{
	const char *key;
	JsonbValue	value;
} DefaultKey;

/* ------------------------------------------------------------------------
 * Normalization helpers
 * ------------------------------------------------------------------------
 */

/*
 * Copy an object, replacing the value of replace_key (if given) and adding
 * the defaults it does not have: how a definition is normalized.
 */
static Jsonb *
normalize_object(JsonbContainer *obj, const char *replace_key, Jsonb *replacement,
				 DefaultKey *defaults, int ndefaults)
{
	JsonbParseState *ps = NULL;
	JsonbIterator *it = cw_jb_object_iter(obj);
	JsonbValue	k,
				v;
	JsonbValue *res;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	while (cw_jb_object_next(&it, &k, &v))
	{
		pushJsonbValue(&ps, WJB_KEY, &k);
		if (replace_key && cw_jbv_eq(&k, replace_key))
			cw_jb_as_value(replacement, &v);
		pushJsonbValue(&ps, WJB_VALUE, &v);
	}
	for (int i = 0; i < ndefaults; i++)
	{
		JsonbValue	dk;

		if (getKeyJsonValueFromContainer(obj, defaults[i].key,
										 strlen(defaults[i].key), &v) != NULL)
			continue;
		dk.type = jbvString;
		dk.val.string.val = (char *) defaults[i].key;
		dk.val.string.len = strlen(defaults[i].key);
		pushJsonbValue(&ps, WJB_KEY, &dk);
		pushJsonbValue(&ps, WJB_VALUE, &defaults[i].value);
	}
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/* A JSON array of the given (normalized) elements. */
static Jsonb *
jsonb_array_of(Jsonb **elems, int n)
{
	JsonbParseState *ps = NULL;
	JsonbValue	v;
	JsonbValue *res;

	pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < n; i++)
	{
		cw_jb_as_value(elems[i], &v);
		pushJsonbValue(&ps, WJB_ELEM, &v);
	}
	res = pushJsonbValue(&ps, WJB_END_ARRAY, NULL);
	return JsonbValueToJsonb(res);
}

/* qsort comparator on C string pointers. */
static int
cstring_ptr_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* A name that occurs twice in names[0..n-1], or NULL; O(n log n). */
const char *
cw_find_duplicate(const char **names, int n)
{
	const char **sorted;
	const char *dup = NULL;

	if (n < 2)
		return NULL;
	sorted = palloc(sizeof(const char *) * n);
	memcpy(sorted, names, sizeof(const char *) * n);
	qsort(sorted, n, sizeof(const char *), cstring_ptr_cmp);
	for (int i = 1; i < n && dup == NULL; i++)
		if (strcmp(sorted[i - 1], sorted[i]) == 0)
			dup = sorted[i];
	pfree(sorted);
	return dup;
}

/* ------------------------------------------------------------------------
 * State lookup.  States are compiled in the order jsonb keeps the keys of
 * "states": by length, then bytewise.  A binary search in that order finds
 * a state in O(log n) with no index to build or keep.
 * ------------------------------------------------------------------------
 */

/* jsonb's key order: shorter first, then bytewise. */
static int
state_key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return alen < blen ? -1 : 1;
	return memcmp(a, b, alen);
}

/* Index of the named state in wf, or -1. */
int
cw_state_index(CwWorkflow *wf, const char *state)
{
	int			lo = 0,
				hi;
	size_t		len;

	if (wf == NULL || state == NULL)
		return -1;
	len = strlen(state);
	hi = wf->nstates - 1;
	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		const char *name = wf->states[mid].name;
		int			c = state_key_cmp(name, strlen(name), state, len);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* ------------------------------------------------------------------------
 * Compilation
 * ------------------------------------------------------------------------
 */

/*
 * "workflow "w": state "s", transition "t", processor "p"" as far as known;
 * flat puts a comma instead of the colon after the workflow (for text that
 * is itself followed by a colon).
 */
static char *
def_location(DefCompile *cs, bool flat)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (cs->wf_name)
		appendStringInfo(&buf, "workflow \"%s\"", cs->wf_name);
	else
		appendStringInfoString(&buf, "workflow");
	if (cs->state)
	{
		appendStringInfo(&buf, "%s state \"%s\"", flat ? "," : ":", cs->state);
		if (cs->tr_no > 0)
		{
			if (cs->tr_name)
				appendStringInfo(&buf, ", transition \"%s\"", cs->tr_name);
			else
				appendStringInfo(&buf, ", transition %d", cs->tr_no);
			if (cs->pr_no > 0)
			{
				if (cs->pr_name)
					appendStringInfo(&buf, ", processor \"%s\"", cs->pr_name);
				else
					appendStringInfo(&buf, ", processor %d", cs->pr_no);
			}
		}
	}
	return buf.data;
}

/* Raise 22023 "invalid <location>: <rule>", with an optional hint. */
static void
pg_attribute_printf(3, 4) pg_attribute_noreturn()
def_error(DefCompile *cs, const char *hint, const char *fmt,...)
{
	va_list		args;
	char	   *msg;

	va_start(args, fmt);
	msg = cw_format_va(fmt, args);
	va_end(args);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s: %s", def_location(cs, false), msg),
			 hint ? errhint("%s", hint) : 0));
	pg_unreachable();
}

/* Reject a value of the wrong JSON type. */
static void
pg_attribute_noreturn()
def_type_error(DefCompile *cs, const char *field, const char *expected, JsonbValue *v)
{
	def_error(cs, NULL, "\"%s\" must be %s, not %s", field, expected, cw_jbv_kind(v));
}

/* Reject a key the format does not have. */
static void
pg_attribute_noreturn()
def_unknown_key(DefCompile *cs, const char *where, const char *allowed, JsonbValue *k)
{
	def_error(cs, psprintf("Allowed keys of %s: %s.", where, allowed),
			  "unknown key \"%s\" in %s", cw_jbv_display(k), where);
}

/* Check that v is a boolean and return it. */
static bool
def_bool(DefCompile *cs, const char *field, JsonbValue *v)
{
	if (v->type != jbvBool)
		def_type_error(cs, field, "a boolean", v);
	return v->val.boolean;
}

/* Check that v is a string (any content). */
static void
def_string(DefCompile *cs, const char *field, JsonbValue *v)
{
	if (v->type != jbvString)
		def_type_error(cs, field, "a string", v);
}

/* Check that v is an object (any content). */
static void
def_object(DefCompile *cs, const char *field, JsonbValue *v)
{
	if (!cw_jbv_is_container(v, false))
		def_type_error(cs, field, "an object", v);
}

/* Check an integer field in [min, max] and return it; min_rule says why min. */
static int64
def_int(DefCompile *cs, const char *field, JsonbValue *v, int64 min, int64 max,
		const char *min_rule)
{
	int64		val = 0;

	if (v->type != jbvNumeric)
		def_type_error(cs, field, "an integer", v);
	switch (cw_jbv_int64(v, min, max, &val))
	{
		case 0:
			break;
		case 1:
			def_error(cs, NULL, "\"%s\" must be an integer, not %s", field,
					  numeric_normalize(v->val.numeric));
			break;
		case 2:
			def_error(cs, NULL, "\"%s\" %s (found %s)", field, min_rule,
					  numeric_normalize(v->val.numeric));
			break;
		default:
			def_error(cs, NULL, "\"%s\" is too large (found %s, at most " INT64_FORMAT ")",
					  field, numeric_normalize(v->val.numeric), max);
	}
	return val;
}

/*
 * Check a free-text name (workflow, state, transition): a non-empty string
 * of at most CW_MAX_NAME_LEN characters.  Returns a copy in cxt.
 */
static char *
def_name(DefCompile *cs, const char *what, JsonbValue *v, MemoryContext cxt)
{
	if (v->type != jbvString)
		def_type_error(cs, "name", "a string", v);
	if (v->val.string.len == 0)
		def_error(cs, NULL, "%s must not be empty", what);
	if (pg_mbstrlen_with_len(v->val.string.val, v->val.string.len) > CW_MAX_NAME_LEN)
		def_error(cs, NULL, "%s \"%s\" is longer than %d characters",
				  what, cw_jbv_display(v), CW_MAX_NAME_LEN);
	return cw_jbv_cstring(v, cxt);
}

/* Compile a criterion (object, or null = none) with cond_compile.c. */
static CwCondition *
def_criterion(DefCompile *cs, JsonbValue *v)
{
	if (v->type == jbvNull)
		return NULL;
	if (!cw_jbv_is_container(v, false))
		def_type_error(cs, "criterion", "an object or null", v);
	return cw_condition_compile(JsonbValueToJsonb(v),
								psprintf("%s, criterion", def_location(cs, true)),
								cs->function_schema, cs->cxt);
}

/* Compile a processor's "config" object into p. */
static void
compile_processor_config(DefCompile *cs, JsonbValue *cfg, CwProcessor *p)
{
	JsonbIterator *it;
	JsonbValue	k,
				v;

	def_object(cs, "config", cfg);
	it = cw_jb_object_iter(cfg->val.binary.data);
	while (cw_jb_object_next(&it, &k, &v))
	{
		if (cw_jbv_eq(&k, "attachEntity"))
			p->attach_entity = def_bool(cs, "config.attachEntity", &v);
		else if (cw_jbv_eq(&k, "calculationNodesTags"))
			def_string(cs, "config.calculationNodesTags", &v);
		else if (cw_jbv_eq(&k, "responseTimeoutMs"))
			p->response_timeout_ms = (int) def_int(cs, "config.responseTimeoutMs", &v,
												   0, INT_MAX, "must not be negative");
		else if (cw_jbv_eq(&k, "retryPolicy"))
		{
			def_string(cs, "config.retryPolicy", &v);
			if (cw_jbv_eq(&v, ""))
				;				/* empty: the default, as cyoda-go's validate.go */
			else if (cw_jbv_eq(&v, "NONE"))
				p->retry_policy = CW_RETRY_NONE;
			else if (cw_jbv_eq(&v, "FIXED"))
				p->retry_policy = CW_RETRY_FIXED;
			else
				def_error(cs, NULL, "\"config.retryPolicy\" must be one of %s, not \"%s\"",
						  RETRY_POLICIES, cw_jbv_display(&v));
		}
		else if (cw_jbv_eq(&k, "context"))
		{
			def_string(cs, "config.context", &v);
			p->context = cw_jbv_cstring(&v, cs->cxt);
		}
		else
			def_unknown_key(cs, "a processor config", CONFIG_KEYS, &k);
	}
}

/* Compile one ProcessorDefinition into p; returns it normalized (or NULL). */
static Jsonb *
compile_processor(DefCompile *cs, JsonbValue *pv, CwProcessor *p)
{
	JsonbContainer *c;
	JsonbIterator *it;
	JsonbValue	k,
				v;
	DefaultKey	def;

	if (!cw_jbv_is_container(pv, false))
		def_error(cs, NULL, "a processor must be an object, not %s", cw_jbv_kind(pv));
	c = pv->val.binary.data;

	/* the name first, so every later message can use it */
	if (getKeyJsonValueFromContainer(c, "name", 4, &v) == NULL)
		def_error(cs, NULL, "\"name\" is required");
	if (v.type != jbvString)
		def_type_error(cs, "name", "a string", &v);
	if (v.val.string.len == 0)
		def_error(cs, NULL, "processor name must not be empty");
	if (v.val.string.len > NAMEDATALEN - 1)
		def_error(cs, "Processors are functions; a function name has at most 63 bytes.",
				  "processor name \"%s\" is longer than %d bytes",
				  cw_jbv_display(&v), NAMEDATALEN - 1);
	p->name = cw_jbv_cstring(&v, cs->cxt);
	cs->pr_name = p->name;

	p->mode = CW_EXEC_SYNC;
	p->context = NULL;
	p->attach_entity = true;
	p->response_timeout_ms = 0;
	p->retry_policy = CW_RETRY_NONE;
	p->func.schema = cs->function_schema;
	p->func.name = p->name;
	p->func.is_criterion = false;
	p->func.resolved_gen = 0;
	p->func.access_gen = 0;
	p->func.access_role = InvalidOid;
	p->func.oid = InvalidOid;
	p->func.cxt = cs->cxt;

	it = cw_jb_object_iter(c);
	while (cw_jb_object_next(&it, &k, &v))
	{
		if (cw_jbv_eq(&k, "name"))
			continue;
		else if (cw_jbv_eq(&k, "type"))
			def_string(cs, "type", &v);
		else if (cw_jbv_eq(&k, "executionMode"))
		{
			def_string(cs, "executionMode", &v);
			/* empty means SYNC, as cyoda-go's validate.go */
			if (cw_jbv_eq(&v, "SYNC") || cw_jbv_eq(&v, ""))
				p->mode = CW_EXEC_SYNC;
			else if (cw_jbv_eq(&v, "ASYNC_SAME_TX"))
				p->mode = CW_EXEC_ASYNC_SAME_TX;
			else if (cw_jbv_eq(&v, "ASYNC_NEW_TX"))
				p->mode = CW_EXEC_ASYNC_NEW_TX;
			else if (cw_jbv_eq(&v, "COMMIT_BEFORE_DISPATCH"))
				p->mode = CW_EXEC_COMMIT_BEFORE_DISPATCH;
			else
				def_error(cs, NULL, "\"executionMode\" must be one of %s, not \"%s\"",
						  EXEC_MODES, cw_jbv_display(&v));
		}
		else if (cw_jbv_eq(&k, "config"))
			compile_processor_config(cs, &v, p);
		else
			def_unknown_key(cs, "a processor", PROCESSOR_KEYS, &k);
	}

	if (!cs->normalize)
		return NULL;
	def.key = "executionMode";
	def.value.type = jbvString;
	def.value.val.string.val = "SYNC";
	def.value.val.string.len = 4;
	return normalize_object(c, NULL, NULL, &def, 1);
}

/* Compile a transition's "schedule" object into tr. */
static void
compile_schedule(DefCompile *cs, JsonbValue *sv, CwTransition *tr)
{
	JsonbIterator *it;
	JsonbValue	k,
				v;

	def_object(cs, "schedule", sv);
	tr->has_schedule = true;
	cs->wf->has_schedules = true;
	tr->delay_ms = -1;
	it = cw_jb_object_iter(sv->val.binary.data);
	while (cw_jb_object_next(&it, &k, &v))
	{
		if (cw_jbv_eq(&k, "delayMs"))
			tr->delay_ms = def_int(cs, "schedule.delayMs", &v, 1, PG_INT64_MAX,
								   "must be greater than 0");
		else if (cw_jbv_eq(&k, "timeoutMs"))
			tr->timeout_ms = def_int(cs, "schedule.timeoutMs", &v, 0, PG_INT64_MAX,
									 "must not be negative");
		else
			def_unknown_key(cs, "a schedule", SCHEDULE_KEYS, &k);
	}
	if (tr->delay_ms < 0)
		def_error(cs, NULL, "\"schedule\" needs \"delayMs\"");
}

/*
 * The "processors" array of transition tr; returns the normalized array
 * when normalizing, else NULL.
 */
static Jsonb *
compile_processors(DefCompile *cs, JsonbValue *v, CwTransition *tr)
{
	JsonbIterator *pit;
	JsonbValue	pv;
	Jsonb	  **norm;
	int			n;

	if (!cw_jbv_is_container(v, true))
		def_type_error(cs, "processors", "an array", v);
	n = JsonContainerSize(v->val.binary.data);
	tr->nprocessors = n;
	tr->processors = MemoryContextAllocZero(cs->cxt, sizeof(CwProcessor) * Max(n, 1));
	norm = palloc(sizeof(Jsonb *) * Max(n, 1));
	pit = cw_jb_array_iter(v->val.binary.data);
	for (int i = 0; cw_jb_array_next(&pit, &pv); i++)
	{
		CwProcessor *p = &tr->processors[i];

		cs->pr_no = i + 1;
		cs->pr_name = NULL;
		norm[i] = compile_processor(cs, &pv, p);
		if (p->mode == CW_EXEC_ASYNC_NEW_TX ||
			p->mode == CW_EXEC_COMMIT_BEFORE_DISPATCH)
			tr->is_async = true;
	}
	cs->pr_no = 0;
	cs->pr_name = NULL;
	return cs->normalize ? jsonb_array_of(norm, n) : NULL;
}

/* Compile one TransitionDefinition into tr; returns it normalized (or NULL). */
static Jsonb *
compile_transition(DefCompile *cs, JsonbValue *tv, CwTransition *tr)
{
	JsonbContainer *c;
	JsonbIterator *it;
	JsonbValue	k,
				v;
	JsonbValue	next_v,
				crit_v;
	bool		have_next = false;
	bool		have_crit = false;
	Jsonb	   *norm_procs = NULL;

	if (!cw_jbv_is_container(tv, false))
		def_error(cs, NULL, "a transition must be an object, not %s", cw_jbv_kind(tv));
	c = tv->val.binary.data;

	if (getKeyJsonValueFromContainer(c, "name", 4, &v) == NULL)
		def_error(cs, NULL, "\"name\" is required");
	tr->name = def_name(cs, "transition name", &v, cs->cxt);
	cs->tr_name = tr->name;

	tr->next = -1;
	tr->manual = false;
	tr->disabled = false;
	tr->has_schedule = false;
	tr->delay_ms = -1;
	tr->timeout_ms = -1;
	tr->is_async = false;
	tr->criterion = NULL;
	tr->nprocessors = 0;
	tr->processors = NULL;

	it = cw_jb_object_iter(c);
	while (cw_jb_object_next(&it, &k, &v))
	{
		if (cw_jbv_eq(&k, "name"))
			continue;
		else if (cw_jbv_eq(&k, "next"))
		{
			def_string(cs, "next", &v);
			next_v = v;
			have_next = true;
		}
		else if (cw_jbv_eq(&k, "manual"))
			tr->manual = def_bool(cs, "manual", &v);
		else if (cw_jbv_eq(&k, "disabled"))
			tr->disabled = def_bool(cs, "disabled", &v);
		else if (cw_jbv_eq(&k, "criterion"))
		{
			crit_v = v;
			have_crit = true;
		}
		else if (cw_jbv_eq(&k, "processors"))
			norm_procs = compile_processors(cs, &v, tr);
		else if (cw_jbv_eq(&k, "schedule"))
			compile_schedule(cs, &v, tr);
		else if (cw_jbv_eq(&k, "annotations"))
			def_object(cs, "annotations", &v);
		else
			def_unknown_key(cs, "a transition", TRANSITION_KEYS, &k);
	}

	if (!have_next)
		def_error(cs, NULL, "\"next\" is required");
	{
		char	   *next = cw_jbv_cstring(&next_v, CurrentMemoryContext);

		tr->next = cw_state_index(cs->wf, next);
		if (tr->next < 0)
			def_error(cs, "\"next\" must be one of the keys of \"states\".",
					  "next state \"%s\" does not exist", cw_jbv_display(&next_v));
		pfree(next);
	}
	if (tr->manual && tr->has_schedule)
		def_error(cs, "A scheduled transition fires on its own: remove \"manual\": true or the \"schedule\".",
				  "a manual transition cannot have a \"schedule\"");
	if (have_crit)
		tr->criterion = def_criterion(cs, &crit_v);

	if (!cs->normalize)
		return NULL;
	{
		DefaultKey	defs[2];

		defs[0].key = "manual";
		defs[0].value.type = jbvBool;
		defs[0].value.val.boolean = false;
		defs[1].key = "disabled";
		defs[1].value.type = jbvBool;
		defs[1].value.val.boolean = false;
		return normalize_object(c, "processors", norm_procs, defs, 2);
	}
}

/* Compile the transitions of state st; returns the state normalized (or NULL). */
static Jsonb *
compile_state(DefCompile *cs, JsonbValue *sv, CwState *st)
{
	JsonbIterator *it;
	JsonbValue	k,
				v;
	Jsonb	   *norm_trs = NULL;

	if (!cw_jbv_is_container(sv, false))
		def_error(cs, "A state is an object such as {\"transitions\": [...]}.",
				  "a state must be an object, not %s", cw_jbv_kind(sv));
	st->ntransitions = 0;
	st->transitions = NULL;

	it = cw_jb_object_iter(sv->val.binary.data);
	while (cw_jb_object_next(&it, &k, &v))
	{
		JsonbIterator *tit;
		JsonbValue	tv;
		Jsonb	  **norm;
		const char **names;
		const char *dup;
		int			n;

		if (!cw_jbv_eq(&k, "transitions"))
			def_unknown_key(cs, "a state", STATE_KEYS, &k);
		if (!cw_jbv_is_container(&v, true))
			def_type_error(cs, "transitions", "an array", &v);

		n = JsonContainerSize(v.val.binary.data);
		st->ntransitions = n;
		st->transitions = MemoryContextAllocZero(cs->cxt, sizeof(CwTransition) * Max(n, 1));
		norm = palloc(sizeof(Jsonb *) * Max(n, 1));
		names = palloc(sizeof(const char *) * Max(n, 1));
		tit = cw_jb_array_iter(v.val.binary.data);
		for (int i = 0; cw_jb_array_next(&tit, &tv); i++)
		{
			cs->tr_no = i + 1;
			cs->tr_name = NULL;
			norm[i] = compile_transition(cs, &tv, &st->transitions[i]);
			names[i] = st->transitions[i].name;
		}
		cs->tr_no = 0;
		cs->tr_name = NULL;

		dup = cw_find_duplicate(names, n);
		if (dup)
			def_error(cs, "Transition names must be unique within a state.",
					  "duplicate transition name \"%s\"", dup);
		if (cs->normalize)
			norm_trs = jsonb_array_of(norm, n);
	}

	if (!cs->normalize)
		return NULL;
	return normalize_object(sv->val.binary.data, "transitions", norm_trs, NULL, 0);
}

/*
 * Compile the "states" object: names and index first (transitions refer to
 * any state), then each state's transitions.  Returns the states normalized
 * (or NULL).
 */
static Jsonb *
compile_states(DefCompile *cs, JsonbValue *statesv)
{
	CwWorkflow *wf = cs->wf;
	JsonbContainer *c;
	JsonbIterator *it;
	JsonbValue	k,
				v;
	JsonbValue *values;
	Jsonb	  **norm;
	int			n;
	int			i;

	if (!cw_jbv_is_container(statesv, false))
		def_type_error(cs, "states", "an object", statesv);
	c = statesv->val.binary.data;
	n = JsonContainerSize(c);
	if (n == 0)
		def_error(cs, NULL, "\"states\" must not be empty");

	wf->nstates = n;
	wf->states = MemoryContextAllocZero(cs->cxt, sizeof(CwState) * n);
	values = palloc(sizeof(JsonbValue) * n);

	it = cw_jb_object_iter(c);
	for (i = 0; cw_jb_object_next(&it, &k, &v); i++)
	{
		wf->states[i].name = def_name(cs, "state name", &k, cs->cxt);
		values[i] = v;
		/* jsonb keeps keys unique and ordered: cw_state_index relies on it */
		if (i > 0 && state_key_cmp(wf->states[i - 1].name, strlen(wf->states[i - 1].name),
								   wf->states[i].name, strlen(wf->states[i].name)) >= 0)
			elog(ERROR, "state names of workflow are not in jsonb key order");
	}

	norm = palloc(sizeof(Jsonb *) * n);
	for (i = 0; i < n; i++)
	{
		cs->state = wf->states[i].name;
		norm[i] = compile_state(cs, &values[i], &wf->states[i]);
	}
	cs->state = NULL;

	if (!cs->normalize)
		return NULL;
	{
		JsonbParseState *ps = NULL;
		JsonbValue *res;

		pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
		for (i = 0; i < n; i++)
		{
			k.type = jbvString;
			k.val.string.val = (char *) wf->states[i].name;
			k.val.string.len = strlen(wf->states[i].name);
			pushJsonbValue(&ps, WJB_KEY, &k);
			cw_jb_as_value(norm[i], &v);
			pushJsonbValue(&ps, WJB_VALUE, &v);
		}
		res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
		return JsonbValueToJsonb(res);
	}
}

/* errcontext of a compilation: the model the definition belongs to. */
static void
compile_error_context(void *arg)
{
	const char *model = (const char *) arg;

	errcontext("workflow definition of model \"%s\"", model);
}

/*
 * Validate one WorkflowDefinition and compile it into cxt.  If normalized
 * is not NULL, *normalized receives the definition with its defaults filled
 * in (allocated in the caller's memory context).  Longer than most: one
 * branch per key of the format, then the checks that need every key read.
 */
CwWorkflow *
cw_compile_workflow(Jsonb *def, const char *model, Oid owner,
					const char *function_schema, Jsonb **normalized,
					MemoryContext cxt)
{
	DefCompile	cs;
	CwWorkflow *wf;
	JsonbIterator *it;
	JsonbValue	k,
				v;
	JsonbValue	states_v,
				init_v,
				crit_v;
	bool		have_states = false;
	bool		have_init = false;
	bool		have_crit = false;
	Jsonb	   *norm_states;
	ErrorContextCallback errcb;

	errcb.callback = compile_error_context;
	errcb.arg = (void *) model;
	errcb.previous = error_context_stack;
	if (model)
		error_context_stack = &errcb;

	memset(&cs, 0, sizeof(cs));
	cs.cxt = cxt;
	cs.function_schema = MemoryContextStrdup(cxt, function_schema ? function_schema : "public");
	cs.normalize = (normalized != NULL);

	wf = MemoryContextAllocZero(cxt, sizeof(CwWorkflow));
	wf->active = true;
	wf->criterion = NULL;
	wf->initial_state = -1;
	wf->owner = owner;
	wf->function_schema = cs.function_schema;
	cs.wf = wf;

	if (def == NULL || !JB_ROOT_IS_OBJECT(def))
		def_error(&cs, NULL, "a workflow definition must be an object, not %s",
				  def == NULL ? "null" : cw_jb_kind(def));

	if (getKeyJsonValueFromContainer(&def->root, "name", 4, &v) == NULL)
		def_error(&cs, NULL, "\"name\" is required");
	wf->name = def_name(&cs, "workflow name", &v, cxt);
	cs.wf_name = wf->name;

	it = cw_jb_object_iter(&def->root);
	while (cw_jb_object_next(&it, &k, &v))
	{
		if (cw_jbv_eq(&k, "name"))
			continue;
		else if (cw_jbv_eq(&k, "version"))
		{
			def_string(&cs, "version", &v);
			if (!cw_jbv_eq(&v, "1.0") && !cw_jbv_eq(&v, "1.1") &&
				!cw_jbv_eq(&v, "1.2") && !cw_jbv_eq(&v, "1.3"))
				def_error(&cs, NULL, "\"version\" must be one of %s, not \"%s\"",
						  FORMAT_VERSIONS, cw_jbv_display(&v));
		}
		else if (cw_jbv_eq(&k, "desc"))
			def_string(&cs, "desc", &v);
		else if (cw_jbv_eq(&k, "initialState"))
		{
			def_string(&cs, "initialState", &v);
			init_v = v;
			have_init = true;
		}
		else if (cw_jbv_eq(&k, "active"))
			wf->active = def_bool(&cs, "active", &v);
		else if (cw_jbv_eq(&k, "criterion"))
		{
			crit_v = v;
			have_crit = true;
		}
		else if (cw_jbv_eq(&k, "states"))
		{
			states_v = v;
			have_states = true;
		}
		else if (cw_jbv_eq(&k, "annotations"))
			def_object(&cs, "annotations", &v);
		else
			def_unknown_key(&cs, "a workflow", WORKFLOW_KEYS, &k);
	}

	if (!have_states)
		def_error(&cs, NULL, "\"states\" is required");
	if (!have_init)
		def_error(&cs, NULL, "\"initialState\" is required");
	norm_states = compile_states(&cs, &states_v);

	{
		char	   *init = cw_jbv_cstring(&init_v, CurrentMemoryContext);

		wf->initial_state = cw_state_index(wf, init);
		if (wf->initial_state < 0)
			def_error(&cs, "\"initialState\" must be one of the keys of \"states\".",
					  "initial state \"%s\" does not exist", cw_jbv_display(&init_v));
		pfree(init);
	}
	if (have_crit)
		wf->criterion = def_criterion(&cs, &crit_v);

	if (normalized)
	{
		DefaultKey	def_active;

		def_active.key = "active";
		def_active.value.type = jbvBool;
		def_active.value.val.boolean = true;
		*normalized = normalize_object(&def->root, "states", norm_states, &def_active, 1);
	}

	if (model)
		error_context_stack = errcb.previous;
	return wf;
}

/* Cyoda's default workflow, compiled into cxt. */
CwWorkflow *
cw_default_workflow(const char *function_schema, MemoryContext cxt)
{
	Jsonb	   *def;

	def = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
											 CStringGetDatum(default_workflow_json)));
	return cw_compile_workflow(def, NULL, InvalidOid, function_schema, NULL, cxt);
}
