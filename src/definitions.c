/*-------------------------------------------------------------------------
 * definitions.c
 *		Cyoda native workflow definitions: validation and compilation,
 *		normalization, storage, import and export.
 *
 * Compiling is validating: cw_compile_workflow() walks one
 * WorkflowDefinition, rejects anything the format does not allow (22023,
 * with a message naming workflow, state, transition and processor) and
 * builds the CwWorkflow the engine walks.  On request it also returns the
 * definition with its documented defaults filled in, which is what the
 * workflow table stores and export_workflows() returns.
 *
 * cw_import_workflows() validates a whole import body first and only then
 * writes, as the extension owner, through SPI; every backend's definition
 * cache is then invalidated through a relcache invalidation of
 * cyoda_wf.workflow.
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"
#include "catalog.h"

#include <errno.h>
#include <limits.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "connections.h"

PG_FUNCTION_INFO_V1(cyoda_wf_import_workflows);
PG_FUNCTION_INFO_V1(cyoda_wf_export_workflows);

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
#define BODY_KEYS		"importMode, allowCycles, workflows, entityName, modelVersion"

#define EXEC_MODES		"SYNC, ASYNC_SAME_TX, ASYNC_NEW_TX, COMMIT_BEFORE_DISPATCH"
#define RETRY_POLICIES	"NONE, FIXED"
#define IMPORT_MODES	"MERGE, REPLACE, ACTIVATE"
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

typedef enum ImportMode
{
	IMPORT_MERGE,
	IMPORT_REPLACE,
	IMPORT_ACTIVATE
} ImportMode;

static const char *const import_mode_names[] = {"MERGE", "REPLACE", "ACTIVATE"};

/* Saved identity while the engine writes its own tables. */
typedef struct EngineAccess
{
	CwSavedUser user;
	int			guc_level;
} EngineAccess;

/* ------------------------------------------------------------------------
 * JSON helpers
 * ------------------------------------------------------------------------
 */


/* Does the JSON string v equal the C string s? */
static bool
jbv_str_eq(JsonbValue *v, const char *s)
{
	size_t		len = strlen(s);

	return v->type == jbvString && v->val.string.len == len &&
		memcmp(v->val.string.val, s, len) == 0;
}

/* The JSON string v as a NUL-terminated copy in cxt. */
static char *
jbv_cstring(JsonbValue *v, MemoryContext cxt)
{
	char	   *s = MemoryContextAlloc(cxt, v->val.string.len + 1);

	memcpy(s, v->val.string.val, v->val.string.len);
	s[v->val.string.len] = '\0';
	return s;
}

/* A JSON string cut for display in a message (long names are elided). */
static char *
jbv_display(JsonbValue *v)
{
	int			len = v->val.string.len;
	int			cut = pg_mbcliplen(v->val.string.val, len, 40);

	if (cut < len)
		return psprintf("%.*s...", cut, v->val.string.val);
	return pnstrdup(v->val.string.val, len);
}

/* Wrap a Jsonb as a jbvBinary value, to push it into another one. */
static void
jsonb_as_value(Jsonb *jb, JsonbValue *v)
{
	v->type = jbvBinary;
	v->val.binary.data = &jb->root;
	v->val.binary.len = VARSIZE(jb) - VARHDRSZ;
}

/* Start iterating the pairs of an object container. */
static JsonbIterator *
object_iter(JsonbContainer *c)
{
	JsonbIterator *it = JsonbIteratorInit(c);
	JsonbValue	v;

	if (JsonbIteratorNext(&it, &v, true) != WJB_BEGIN_OBJECT)
		elog(ERROR, "cyoda_wf: expected a jsonb object");
	return it;
}

/* Next key/value pair of an object (nested containers stay jbvBinary). */
static bool
object_next(JsonbIterator **it, JsonbValue *key, JsonbValue *val)
{
	if (JsonbIteratorNext(it, key, true) != WJB_KEY)
		return false;
	if (JsonbIteratorNext(it, val, true) != WJB_VALUE)
		elog(ERROR, "cyoda_wf: malformed jsonb object");
	return true;
}

/* Start iterating the elements of an array container. */
static JsonbIterator *
array_iter(JsonbContainer *c)
{
	JsonbIterator *it = JsonbIteratorInit(c);
	JsonbValue	v;

	if (JsonbIteratorNext(&it, &v, true) != WJB_BEGIN_ARRAY)
		elog(ERROR, "cyoda_wf: expected a jsonb array");
	return it;
}

/* Next element of an array. */
static bool
array_next(JsonbIterator **it, JsonbValue *elem)
{
	return JsonbIteratorNext(it, elem, true) == WJB_ELEM;
}

/*
 * A JSON number that is an integer (1 and 1.0 are, 1.5 is not) in
 * [min, max]; returns 0 when it is, 1 when it is no integer, 2 when below
 * min, 3 when above max.
 */
static int
jbv_int64(JsonbValue *v, int64 min, int64 max, int64 *result)
{
	char	   *s;
	char	   *end;
	int64		val;

	Assert(v->type == jbvNumeric);
	s = numeric_normalize(v->val.numeric);	/* no exponent, no trailing zeros */
	if (strchr(s, '.') != NULL)
		return 1;
	errno = 0;
	val = strtoi64(s, &end, 10);
	if (*end != '\0')
		return 1;
	if (errno == ERANGE)
		return s[0] == '-' ? 2 : 3;
	if (val < min)
		return 2;
	if (val > max)
		return 3;
	*result = val;
	return 0;
}

/*
 * Copy an object, replacing the value of replace_key (if given) and adding
 * the defaults it does not have: how a definition is normalized.
 */
static Jsonb *
normalize_object(JsonbContainer *obj, const char *replace_key, Jsonb *replacement,
				 DefaultKey *defaults, int ndefaults)
{
	JsonbParseState *ps = NULL;
	JsonbIterator *it = object_iter(obj);
	JsonbValue	k,
				v;
	JsonbValue *res;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	while (object_next(&it, &k, &v))
	{
		pushJsonbValue(&ps, WJB_KEY, &k);
		if (replace_key && jbv_str_eq(&k, replace_key))
			jsonb_as_value(replacement, &v);
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
		jsonb_as_value(elems[i], &v);
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
static const char *
find_duplicate(const char **names, int n)
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
	StringInfoData msg;

	initStringInfo(&msg);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&msg, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&msg, needed);
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s: %s", def_location(cs, false), msg.data),
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
			  "unknown key \"%s\" in %s", jbv_display(k), where);
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
	switch (jbv_int64(v, min, max, &val))
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
				  what, jbv_display(v), CW_MAX_NAME_LEN);
	return jbv_cstring(v, cxt);
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
	it = object_iter(cfg->val.binary.data);
	while (object_next(&it, &k, &v))
	{
		if (jbv_str_eq(&k, "attachEntity"))
			p->attach_entity = def_bool(cs, "config.attachEntity", &v);
		else if (jbv_str_eq(&k, "calculationNodesTags"))
			def_string(cs, "config.calculationNodesTags", &v);
		else if (jbv_str_eq(&k, "responseTimeoutMs"))
			p->response_timeout_ms = (int) def_int(cs, "config.responseTimeoutMs", &v,
												   0, INT_MAX, "must not be negative");
		else if (jbv_str_eq(&k, "retryPolicy"))
		{
			def_string(cs, "config.retryPolicy", &v);
			if (jbv_str_eq(&v, "NONE"))
				p->retry_policy = CW_RETRY_NONE;
			else if (jbv_str_eq(&v, "FIXED"))
				p->retry_policy = CW_RETRY_FIXED;
			else
				def_error(cs, NULL, "\"config.retryPolicy\" must be one of %s, not \"%s\"",
						  RETRY_POLICIES, jbv_display(&v));
		}
		else if (jbv_str_eq(&k, "context"))
		{
			def_string(cs, "config.context", &v);
			p->context = jbv_cstring(&v, cs->cxt);
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
				  jbv_display(&v), NAMEDATALEN - 1);
	p->name = jbv_cstring(&v, cs->cxt);
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

	it = object_iter(c);
	while (object_next(&it, &k, &v))
	{
		if (jbv_str_eq(&k, "name"))
			continue;
		else if (jbv_str_eq(&k, "type"))
			def_string(cs, "type", &v);
		else if (jbv_str_eq(&k, "executionMode"))
		{
			def_string(cs, "executionMode", &v);
			if (jbv_str_eq(&v, "SYNC"))
				p->mode = CW_EXEC_SYNC;
			else if (jbv_str_eq(&v, "ASYNC_SAME_TX"))
				p->mode = CW_EXEC_ASYNC_SAME_TX;
			else if (jbv_str_eq(&v, "ASYNC_NEW_TX"))
				p->mode = CW_EXEC_ASYNC_NEW_TX;
			else if (jbv_str_eq(&v, "COMMIT_BEFORE_DISPATCH"))
				p->mode = CW_EXEC_COMMIT_BEFORE_DISPATCH;
			else
				def_error(cs, NULL, "\"executionMode\" must be one of %s, not \"%s\"",
						  EXEC_MODES, jbv_display(&v));
		}
		else if (jbv_str_eq(&k, "config"))
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
	it = object_iter(sv->val.binary.data);
	while (object_next(&it, &k, &v))
	{
		if (jbv_str_eq(&k, "delayMs"))
			tr->delay_ms = def_int(cs, "schedule.delayMs", &v, 1, PG_INT64_MAX,
								   "must be greater than 0");
		else if (jbv_str_eq(&k, "timeoutMs"))
			tr->timeout_ms = def_int(cs, "schedule.timeoutMs", &v, 0, PG_INT64_MAX,
									 "must not be negative");
		else
			def_unknown_key(cs, "a schedule", SCHEDULE_KEYS, &k);
	}
	if (tr->delay_ms < 0)
		def_error(cs, NULL, "\"schedule\" needs \"delayMs\"");
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

	it = object_iter(c);
	while (object_next(&it, &k, &v))
	{
		if (jbv_str_eq(&k, "name"))
			continue;
		else if (jbv_str_eq(&k, "next"))
		{
			def_string(cs, "next", &v);
			next_v = v;
			have_next = true;
		}
		else if (jbv_str_eq(&k, "manual"))
			tr->manual = def_bool(cs, "manual", &v);
		else if (jbv_str_eq(&k, "disabled"))
			tr->disabled = def_bool(cs, "disabled", &v);
		else if (jbv_str_eq(&k, "criterion"))
		{
			crit_v = v;
			have_crit = true;
		}
		else if (jbv_str_eq(&k, "processors"))
		{
			JsonbIterator *pit;
			JsonbValue	pv;
			Jsonb	  **norm;
			int			n;

			if (!cw_jbv_is_container(&v, true))
				def_type_error(cs, "processors", "an array", &v);
			n = JsonContainerSize(v.val.binary.data);
			tr->nprocessors = n;
			tr->processors = MemoryContextAllocZero(cs->cxt, sizeof(CwProcessor) * Max(n, 1));
			norm = palloc(sizeof(Jsonb *) * Max(n, 1));
			pit = array_iter(v.val.binary.data);
			for (int i = 0; array_next(&pit, &pv); i++)
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
			if (cs->normalize)
				norm_procs = jsonb_array_of(norm, n);
		}
		else if (jbv_str_eq(&k, "schedule"))
			compile_schedule(cs, &v, tr);
		else if (jbv_str_eq(&k, "annotations"))
			def_object(cs, "annotations", &v);
		else
			def_unknown_key(cs, "a transition", TRANSITION_KEYS, &k);
	}

	if (!have_next)
		def_error(cs, NULL, "\"next\" is required");
	{
		char	   *next = jbv_cstring(&next_v, CurrentMemoryContext);

		tr->next = cw_state_index(cs->wf, next);
		if (tr->next < 0)
			def_error(cs, "\"next\" must be one of the keys of \"states\".",
					  "next state \"%s\" does not exist", jbv_display(&next_v));
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

	it = object_iter(sv->val.binary.data);
	while (object_next(&it, &k, &v))
	{
		JsonbIterator *tit;
		JsonbValue	tv;
		Jsonb	  **norm;
		const char **names;
		const char *dup;
		int			n;

		if (!jbv_str_eq(&k, "transitions"))
			def_unknown_key(cs, "a state", STATE_KEYS, &k);
		if (!cw_jbv_is_container(&v, true))
			def_type_error(cs, "transitions", "an array", &v);

		n = JsonContainerSize(v.val.binary.data);
		st->ntransitions = n;
		st->transitions = MemoryContextAllocZero(cs->cxt, sizeof(CwTransition) * Max(n, 1));
		norm = palloc(sizeof(Jsonb *) * Max(n, 1));
		names = palloc(sizeof(const char *) * Max(n, 1));
		tit = array_iter(v.val.binary.data);
		for (int i = 0; array_next(&tit, &tv); i++)
		{
			cs->tr_no = i + 1;
			cs->tr_name = NULL;
			norm[i] = compile_transition(cs, &tv, &st->transitions[i]);
			names[i] = st->transitions[i].name;
		}
		cs->tr_no = 0;
		cs->tr_name = NULL;

		dup = find_duplicate(names, n);
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

	it = object_iter(c);
	for (i = 0; object_next(&it, &k, &v); i++)
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
			jsonb_as_value(norm[i], &v);
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
 * in (allocated in the caller's memory context).
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

	it = object_iter(&def->root);
	while (object_next(&it, &k, &v))
	{
		if (jbv_str_eq(&k, "name"))
			continue;
		else if (jbv_str_eq(&k, "version"))
		{
			def_string(&cs, "version", &v);
			if (!jbv_str_eq(&v, "1.0") && !jbv_str_eq(&v, "1.1") &&
				!jbv_str_eq(&v, "1.2") && !jbv_str_eq(&v, "1.3"))
				def_error(&cs, NULL, "\"version\" must be one of %s, not \"%s\"",
						  FORMAT_VERSIONS, jbv_display(&v));
		}
		else if (jbv_str_eq(&k, "desc"))
			def_string(&cs, "desc", &v);
		else if (jbv_str_eq(&k, "initialState"))
		{
			def_string(&cs, "initialState", &v);
			init_v = v;
			have_init = true;
		}
		else if (jbv_str_eq(&k, "active"))
			wf->active = def_bool(&cs, "active", &v);
		else if (jbv_str_eq(&k, "criterion"))
		{
			crit_v = v;
			have_crit = true;
		}
		else if (jbv_str_eq(&k, "states"))
		{
			states_v = v;
			have_states = true;
		}
		else if (jbv_str_eq(&k, "annotations"))
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
		char	   *init = jbv_cstring(&init_v, CurrentMemoryContext);

		wf->initial_state = cw_state_index(wf, init);
		if (wf->initial_state < 0)
			def_error(&cs, "\"initialState\" must be one of the keys of \"states\".",
					  "initial state \"%s\" does not exist", jbv_display(&init_v));
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

/*
 * Reject a cycle that automatic transitions without criteria (not
 * disabled) can run on their own; iterative depth-first search.
 */
static void
check_cycles(CwWorkflow *wf)
{
	int			n = wf->nstates;
	char	   *color = palloc0(n);		/* 0 new, 1 on the path, 2 done */
	int		   *path = palloc(sizeof(int) * n);
	int		   *edge = palloc(sizeof(int) * n);	/* next transition to try */

	for (int root = 0; root < n; root++)
	{
		int			sp = 0;

		if (color[root] != 0)
			continue;
		path[0] = root;
		edge[0] = 0;
		color[root] = 1;
		while (sp >= 0)
		{
			CwState    *st = &wf->states[path[sp]];
			CwTransition *tr;
			int			to;

			if (edge[sp] >= st->ntransitions)
			{
				color[path[sp]] = 2;
				sp--;
				continue;
			}
			tr = &st->transitions[edge[sp]++];
			if (tr->manual || tr->disabled || tr->criterion != NULL)
				continue;
			to = tr->next;
			if (color[to] == 0)
			{
				sp++;
				path[sp] = to;
				edge[sp] = 0;
				color[to] = 1;
			}
			else if (color[to] == 1)
			{
				StringInfoData states;
				StringInfoData trans;
				int			start = sp;

				while (path[start] != to)
					start--;
				initStringInfo(&states);
				initStringInfo(&trans);
				for (int i = start; i <= sp; i++)
				{
					CwState    *s = &wf->states[path[i]];

					appendStringInfo(&states, "\"%s\" -> ", s->name);
					appendStringInfo(&trans, "%s\"%s\"", i > start ? ", " : "",
									 s->transitions[edge[i] - 1].name);
				}
				appendStringInfo(&states, "\"%s\"", wf->states[to].name);
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid workflow \"%s\": automatic transitions without criteria form a cycle: %s",
								wf->name, states.data),
						 errdetail("The cycle runs through transition(s) %s.", trans.data),
						 errhint("Give one of these transitions a criterion, make it manual or disabled, or import with \"allowCycles\": true.")));
			}
		}
	}
	pfree(color);
	pfree(path);
	pfree(edge);
}

/* ------------------------------------------------------------------------
 * Import and export
 * ------------------------------------------------------------------------
 */

/* Raise 22023 "invalid import body: ...". */
static void
pg_attribute_printf(2, 3) pg_attribute_noreturn()
body_error(const char *hint, const char *fmt,...)
{
	StringInfoData msg;

	initStringInfo(&msg);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&msg, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&msg, needed);
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid import body: %s", msg.data),
			 hint ? errhint("%s", hint) : 0));
	pg_unreachable();
}

/* Check a model name and version given to import or export. */
static void
check_model_key(const char *model, int32 version)
{
	if (model == NULL || model[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid model name: must not be empty")));
	if (pg_mbstrlen(model) > CW_MAX_NAME_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid model name \"%.*s...\": longer than %d characters",
						pg_mbcliplen(model, strlen(model), 40), model, CW_MAX_NAME_LEN)));
	if (version < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid model version %d: must be 1 or more", version)));
}

/*
 * Switch to the extension owner, with a safe search_path, for the engine's
 * own SQL; end_engine_access() undoes it on success, restore_engine_user()
 * (in PG_FINALLY) restores the identity on every path.
 */
static void
begin_engine_access(EngineAccess *ea)
{
	cw_become_engine_owner(&ea->user);
	ea->guc_level = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
}

static void
end_engine_access(EngineAccess *ea)
{
	AtEOXact_GUC(true, ea->guc_level);
}

static void
restore_engine_user(EngineAccess *ea)
{
	cw_restore_user(&ea->user);
}

/* Run one statement with $n parameters; raise on an unexpected result. */
static void
spi_exec(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls,
		 int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	if (rc != expected)
		elog(ERROR, "cyoda_wf: SPI_execute_with_args failed (%s): %s",
			 SPI_result_code_string(rc), sql);
}

/* The function_schema of a stored model row, or NULL (palloc'd in cxt). */
static char *
model_function_schema(Datum model, Datum version, bool lock, MemoryContext cxt)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {model, version};
	bool		isnull;
	Datum		d;

	spi_exec(lock ?
			 "SELECT function_schema FROM cyoda_wf.model"
			 " WHERE name = $1 AND version = $2 FOR UPDATE" :
			 "SELECT function_schema FROM cyoda_wf.model"
			 " WHERE name = $1 AND version = $2",
			 2, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return NULL;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return NULL;
	return MemoryContextStrdup(cxt, TextDatumGetCString(d));
}

/* An import body, parsed. */
typedef struct ImportBody
{
	ImportMode	mode;
	bool		allow_cycles;
	int			nworkflows;
	Jsonb	  **workflows;		/* each element, as its own Jsonb */
} ImportBody;

/* Parse and check the shape of an import body (not the workflows themselves). */
static void
parse_import_body(Jsonb *body, const char *model, int32 version, ImportBody *ib)
{
	JsonbIterator *it;
	JsonbValue	k,
				v;
	bool		have_workflows = false;

	ib->mode = IMPORT_MERGE;
	ib->allow_cycles = false;
	ib->nworkflows = 0;
	ib->workflows = NULL;

	if (!JB_ROOT_IS_OBJECT(body))
		body_error("The body is {\"importMode\": \"MERGE\", \"workflows\": [...]}.",
				   "must be an object, not %s", cw_jb_kind(body));

	it = object_iter(&body->root);
	while (object_next(&it, &k, &v))
	{
		if (jbv_str_eq(&k, "importMode"))
		{
			int			m;

			if (v.type != jbvString)
				body_error(NULL, "\"importMode\" must be a string, not %s", cw_jbv_kind(&v));
			for (m = 0; m < lengthof(import_mode_names); m++)
				if (v.val.string.len == strlen(import_mode_names[m]) &&
					pg_strncasecmp(v.val.string.val, import_mode_names[m],
								   v.val.string.len) == 0)
					break;
			if (m == lengthof(import_mode_names))
				body_error(NULL, "\"importMode\" must be one of %s, not \"%s\"",
						   IMPORT_MODES, jbv_display(&v));
			ib->mode = (ImportMode) m;
		}
		else if (jbv_str_eq(&k, "allowCycles"))
		{
			if (v.type != jbvBool)
				body_error(NULL, "\"allowCycles\" must be a boolean, not %s", cw_jbv_kind(&v));
			ib->allow_cycles = v.val.boolean;
		}
		else if (jbv_str_eq(&k, "workflows"))
		{
			JsonbIterator *wit;
			JsonbValue	wv;

			if (!cw_jbv_is_container(&v, true))
				body_error(NULL, "\"workflows\" must be an array, not %s", cw_jbv_kind(&v));
			ib->nworkflows = JsonContainerSize(v.val.binary.data);
			ib->workflows = palloc(sizeof(Jsonb *) * Max(ib->nworkflows, 1));
			wit = array_iter(v.val.binary.data);
			for (int i = 0; array_next(&wit, &wv); i++)
				ib->workflows[i] = JsonbValueToJsonb(&wv);
			have_workflows = true;
		}
		else if (jbv_str_eq(&k, "entityName"))
		{
			if (v.type != jbvString)
				body_error(NULL, "\"entityName\" must be a string, not %s", cw_jbv_kind(&v));
			if (!jbv_str_eq(&v, model))
				body_error("Leave \"entityName\" out, or make it the model imported into.",
						   "\"entityName\" \"%s\" differs from the model \"%s\"",
						   jbv_display(&v), model);
		}
		else if (jbv_str_eq(&k, "modelVersion"))
		{
			int64		mv;

			if (v.type != jbvNumeric)
				body_error(NULL, "\"modelVersion\" must be an integer, not %s", cw_jbv_kind(&v));
			if (jbv_int64(&v, PG_INT32_MIN, PG_INT32_MAX, &mv) != 0 || mv != version)
				body_error("Leave \"modelVersion\" out, or make it the model version imported into.",
						   "\"modelVersion\" %s differs from the model version %d",
						   numeric_normalize(v.val.numeric), version);
		}
		else
			body_error("Allowed keys: " BODY_KEYS ".",
					   "unknown key \"%s\"", jbv_display(&k));
	}
	if (!have_workflows)
		body_error("The body is {\"importMode\": \"MERGE\", \"workflows\": [...]}.",
				   "\"workflows\" is required");
}

/* errcontext of an import: which workflow of the body. */
static void
import_error_context(void *arg)
{
	int			pos = *(int *) arg;

	if (pos > 0)
		errcontext("workflow %d of the import body", pos);
}

/*
 * Validate every workflow of the body (compiled in a scratch context, then
 * discarded); returns their normalized definitions and names.
 */
static void
validate_import(ImportBody *ib, const char *model, const char *function_schema,
				Oid caller, Jsonb **normalized, char **names)
{
	MemoryContext scratch;
	const char *dup;
	int			pos = 0;
	ErrorContextCallback errcb;

	scratch = AllocSetContextCreate(CurrentMemoryContext, "cyoda_wf import validation",
									ALLOCSET_DEFAULT_SIZES);
	errcb.callback = import_error_context;
	errcb.arg = &pos;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	for (int i = 0; i < ib->nworkflows; i++)
	{
		CwWorkflow *wf;

		pos = i + 1;
		wf = cw_compile_workflow(ib->workflows[i], model, caller, function_schema,
								 &normalized[i], scratch);
		names[i] = pstrdup(wf->name);
		if (!ib->allow_cycles)
			check_cycles(wf);
		/* the importer must be allowed to run the functions it names */
		cw_check_import_access(wf, caller);
		MemoryContextReset(scratch);
	}
	pos = 0;

	dup = find_duplicate((const char **) names, ib->nworkflows);
	if (dup)
		body_error("Workflow names are unique per model.",
				   "duplicate workflow name \"%s\"", dup);

	error_context_stack = errcb.previous;
	MemoryContextDelete(scratch);
}

/* Write the validated workflows of one import (inside SPI, as the owner). */
static void
store_import(ImportBody *ib, Datum model, Datum version, const char *function_schema,
			 Oid caller, Jsonb **normalized, char **names)
{
	char	   *store_schema;
	SPIPlanPtr	upsert;
	Oid			ensure_types[3] = {TEXTOID, INT4OID, TEXTOID};
	Datum		ensure_values[3];
	Oid			key_types[2] = {TEXTOID, INT4OID};
	Datum		key_values[2] = {model, version};
	Oid			up_types[6] = {TEXTOID, INT4OID, TEXTOID, JSONBOID, TEXTOID, REGROLEOID};

	/* the model row exists, and is locked against concurrent imports */
	ensure_values[0] = model;
	ensure_values[1] = version;
	ensure_values[2] = CStringGetTextDatum(function_schema ? function_schema : "public");
	spi_exec("INSERT INTO cyoda_wf.model (name, version, function_schema)"
			 " VALUES ($1, $2, $3) ON CONFLICT (name, version) DO NOTHING",
			 3, ensure_types, ensure_values, NULL, SPI_OK_INSERT);
	store_schema = model_function_schema(model, version, true, CurrentMemoryContext);
	if (function_schema)
		store_schema = pstrdup(function_schema);
	else if (store_schema == NULL)
		store_schema = pstrdup("public");

	if (ib->mode == IMPORT_REPLACE)
		spi_exec("DELETE FROM cyoda_wf.workflow WHERE model = $1 AND model_version = $2",
				 2, key_types, key_values, NULL, SPI_OK_DELETE);

	/* a replaced workflow keeps its ord; a new one goes last */
	upsert = SPI_prepare("INSERT INTO cyoda_wf.workflow"
						 " (model, model_version, name, ord, definition, function_schema, owner)"
						 " VALUES ($1, $2, $3,"
						 "  (SELECT COALESCE(max(w.ord), 0) + 1 FROM cyoda_wf.workflow w"
						 "    WHERE w.model = $1 AND w.model_version = $2),"
						 "  $4, $5, $6)"
						 " ON CONFLICT (model, model_version, name) DO UPDATE"
						 " SET definition = EXCLUDED.definition,"
						 "     function_schema = EXCLUDED.function_schema,"
						 "     owner = EXCLUDED.owner,"
						 "     imported_at = EXCLUDED.imported_at",
						 6, up_types);
	if (upsert == NULL)
		elog(ERROR, "cyoda_wf: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	for (int i = 0; i < ib->nworkflows; i++)
	{
		Datum		values[6];
		int			rc;

		values[0] = model;
		values[1] = version;
		values[2] = CStringGetTextDatum(names[i]);
		values[3] = JsonbPGetDatum(normalized[i]);
		values[4] = CStringGetTextDatum(store_schema);
		values[5] = ObjectIdGetDatum(caller);
		rc = SPI_execute_plan(upsert, values, NULL, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "cyoda_wf: storing workflow \"%s\" failed: %s",
				 names[i], SPI_result_code_string(rc));
	}
	SPI_freeplan(upsert);

	if (ib->mode == IMPORT_ACTIVATE)
	{
		Oid			types[3] = {TEXTOID, INT4OID, TEXTARRAYOID};
		Datum		values[3];
		Datum	   *elems = palloc(sizeof(Datum) * Max(ib->nworkflows, 1));

		for (int i = 0; i < ib->nworkflows; i++)
			elems[i] = CStringGetTextDatum(names[i]);
		values[0] = model;
		values[1] = version;
		values[2] = PointerGetDatum(construct_array(elems, ib->nworkflows, TEXTOID,
													-1, false, TYPALIGN_INT));
		spi_exec("UPDATE cyoda_wf.workflow"
				 " SET definition = jsonb_set(definition, '{active}', 'false')"
				 " WHERE model = $1 AND model_version = $2 AND name <> ALL ($3)"
				 "   AND definition -> 'active' IS DISTINCT FROM 'false'::jsonb",
				 3, types, values, NULL, SPI_OK_UPDATE);
	}
}

/* The summary an import returns. */
static Jsonb *
import_summary(const char *model, int32 version, ImportMode mode, char **names, int n)
{
	JsonbParseState *ps = NULL;
	JsonbValue	k,
				v;
	JsonbValue *res;

#define PUSH_KEY(s) \
	(k.type = jbvString, k.val.string.val = (s), k.val.string.len = strlen(s), \
	 pushJsonbValue(&ps, WJB_KEY, &k))
#define SET_STRING(s) \
	(v.type = jbvString, v.val.string.val = (char *) (s), v.val.string.len = strlen(s))

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	PUSH_KEY("model");
	SET_STRING(model);
	pushJsonbValue(&ps, WJB_VALUE, &v);
	PUSH_KEY("modelVersion");
	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(version);
	pushJsonbValue(&ps, WJB_VALUE, &v);
	PUSH_KEY("importMode");
	SET_STRING(import_mode_names[mode]);
	pushJsonbValue(&ps, WJB_VALUE, &v);
	PUSH_KEY("workflows");
	pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < n; i++)
	{
		SET_STRING(names[i]);
		pushJsonbValue(&ps, WJB_ELEM, &v);
	}
	pushJsonbValue(&ps, WJB_END_ARRAY, NULL);
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);

#undef PUSH_KEY
#undef SET_STRING
	return JsonbValueToJsonb(res);
}

/*
 * Import a body of workflow definitions into a model version: validate all,
 * then store (as the extension owner), then invalidate every backend's
 * definition cache.  function_schema NULL keeps the model's (or 'public').
 */
Jsonb *
cw_import_workflows(const char *model, int32 version, Jsonb *body,
					const char *function_schema)
{
	Oid			caller = GetUserId();
	MemoryContext callercxt = CurrentMemoryContext;
	MemoryContext work;
	ImportBody	ib;
	Jsonb	  **normalized;
	char	  **names;
	Datum		model_d;
	Datum		version_d;
	EngineAccess ea;
	Jsonb	   *result;

	check_model_key(model, version);
	cw_reserved_refuse_import(model);

	work = AllocSetContextCreate(callercxt, "cyoda_wf import", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(work);

	parse_import_body(body, model, version, &ib);
	normalized = palloc0(sizeof(Jsonb *) * Max(ib.nworkflows, 1));
	names = palloc0(sizeof(char *) * Max(ib.nworkflows, 1));
	model_d = CStringGetTextDatum(model);
	version_d = Int32GetDatum(version);

	begin_engine_access(&ea);
	PG_TRY();
	{
		char	   *schema = function_schema ? pstrdup(function_schema) : NULL;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "cyoda_wf: SPI_connect failed");

		/* validate everything first: an invalid body stores nothing */
		if (schema == NULL)
			schema = model_function_schema(model_d, version_d, false, work);
		MemoryContextSwitchTo(work);
		validate_import(&ib, model, schema ? schema : "public", caller,
						normalized, names);

		store_import(&ib, model_d, version_d, function_schema, caller, normalized, names);

		SPI_finish();
		end_engine_access(&ea);
	}
	PG_FINALLY();
	{
		restore_engine_user(&ea);
	}
	PG_END_TRY();

	CacheInvalidateRelcacheByRelid(cw_relid("workflow"));

	MemoryContextSwitchTo(callercxt);
	result = import_summary(model, version, ib.mode, names, ib.nworkflows);
	MemoryContextDelete(work);
	return result;
}

/* The stored workflows of a model version, in export shape. */
static Jsonb *
export_workflows(const char *model, int32 version)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2];
	EngineAccess ea;
	volatile Datum result = (Datum) 0;

	values[0] = CStringGetTextDatum(model);
	values[1] = Int32GetDatum(version);

	begin_engine_access(&ea);
	PG_TRY();
	{
		int			rc;
		bool		isnull;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "cyoda_wf: SPI_connect failed");
		rc = SPI_execute_with_args("SELECT jsonb_build_object("
								   "  'entityName', $1::text, 'modelVersion', $2::integer,"
								   "  'workflows', COALESCE(jsonb_agg(w.definition ORDER BY w.ord),"
								   "                        '[]'::jsonb))"
								   " FROM cyoda_wf.workflow w"
								   " WHERE w.model = $1 AND w.model_version = $2",
								   2, types, values, NULL, true, 1);
		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "cyoda_wf: reading workflows failed: %s",
				 SPI_result_code_string(rc));
		result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (isnull)
			elog(ERROR, "cyoda_wf: unexpected null export");
		result = SPI_datumTransfer(result, false, -1);
		SPI_finish();
		end_engine_access(&ea);
	}
	PG_FINALLY();
	{
		restore_engine_user(&ea);
	}
	PG_END_TRY();

	return DatumGetJsonbP(result);
}

/* SQL: cyoda_wf.import_workflows(model text, model_version int, body jsonb) */
Datum
cyoda_wf_import_workflows(PG_FUNCTION_ARGS)
{
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int32		version = PG_GETARG_INT32(1);
	Jsonb	   *body = PG_GETARG_JSONB_P(2);

	PG_RETURN_JSONB_P(cw_import_workflows(model, version, body, NULL));
}

/* SQL: cyoda_wf.export_workflows(model text, model_version int) */
Datum
cyoda_wf_export_workflows(PG_FUNCTION_ARGS)
{
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int32		version = PG_GETARG_INT32(1);

	PG_RETURN_JSONB_P(export_workflows(model, version));
}
