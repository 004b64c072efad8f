/*-------------------------------------------------------------------------
 * jsonutil.c
 *		Small helpers for reading and building jsonb in C, and for the text
 *		of messages.
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"

#include <errno.h>

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"
#include "utils/jsonb.h"

/* A palloc'd C string of a string scalar, or NULL for anything else. */
char *
cw_jb_text(JsonbValue *v)
{
	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* Member key of object obj into *res; NULL when absent. */
JsonbValue *
cw_jb_key(JsonbContainer *obj, const char *key, JsonbValue *res)
{
	return getKeyJsonValueFromContainer(obj, key, strlen(key), res);
}

/* Whether v is a JSON string equal to s, ignoring ASCII case. */
bool
cw_jbv_ieq(const JsonbValue *v, const char *s)
{
	int			len = strlen(s);

	return v->type == jbvString && v->val.string.len == len &&
		pg_strncasecmp(v->val.string.val, s, len) == 0;
}

/* Whether v is an array (array = true; a raw scalar is not one) or an object. */
bool
cw_jbv_is_container(const JsonbValue *v, bool array)
{
	if (v->type != jbvBinary)
		return false;
	return array ? JsonContainerIsArray(v->val.binary.data) &&
		!JsonContainerIsScalar(v->val.binary.data) :
		JsonContainerIsObject(v->val.binary.data);
}

/* Compact JSON text of a value (scalar, object or array). */
char *
cw_jbv_json_text(const JsonbValue *v)
{
	Jsonb	   *jb = JsonbValueToJsonb((JsonbValue *) v);

	return JsonbToCString(NULL, &jb->root, VARSIZE(jb));
}

/* The JSON type of a value, with its article, for messages ("an array"). */
const char *
cw_jbv_kind(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "a string";
		case jbvNumeric:
			return "a number";
		case jbvBool:
			return "a boolean";
		case jbvBinary:
			if (JsonContainerIsScalar(v->val.binary.data))
				return "a scalar";
			return JsonContainerIsArray(v->val.binary.data) ? "an array" : "an object";
		default:
			return "an unexpected value";
	}
}

/* The JSON type of a whole jsonb document, with its article. */
const char *
cw_jb_kind(Jsonb *jb)
{
	JsonbValue	v;

	if (JsonbExtractScalar(&jb->root, &v))
		return cw_jbv_kind(&v);
	return JB_ROOT_IS_ARRAY(jb) ? "an array" : "an object";
}

/* Does the JSON string v equal the C string s? */
bool
cw_jbv_eq(JsonbValue *v, const char *s)
{
	size_t		len = strlen(s);

	return v->type == jbvString && v->val.string.len == len &&
		memcmp(v->val.string.val, s, len) == 0;
}

/* The JSON string v as a NUL-terminated copy in cxt. */
char *
cw_jbv_cstring(JsonbValue *v, MemoryContext cxt)
{
	char	   *s = MemoryContextAlloc(cxt, v->val.string.len + 1);

	memcpy(s, v->val.string.val, v->val.string.len);
	s[v->val.string.len] = '\0';
	return s;
}

/* printf-style formatting of fmt with args, palloc'd (for varargs helpers). */
char *
cw_format_va(const char *fmt, va_list args)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (;;)
	{
		va_list		copy;
		int			needed;

		va_copy(copy, args);
		needed = appendStringInfoVA(&buf, fmt, copy);
		va_end(copy);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	return buf.data;
}

/*
 * A user string for a message: cut after max bytes (at a character
 * boundary) and marked with "..." when longer.
 */
char *
cw_clip_text(const char *s, int len, int max)
{
	int			cut = pg_mbcliplen(s, len, max);

	if (cut < len)
		return psprintf("%.*s...", cut, s);
	return pnstrdup(s, len);
}

/* A JSON string cut for display in a message (long names are elided). */
char *
cw_jbv_display(JsonbValue *v)
{
	return cw_clip_text(v->val.string.val, v->val.string.len, 40);
}

/* Wrap a Jsonb as a jbvBinary value, to push it into another one. */
void
cw_jb_as_value(Jsonb *jb, JsonbValue *v)
{
	v->type = jbvBinary;
	v->val.binary.data = &jb->root;
	v->val.binary.len = VARSIZE(jb) - VARHDRSZ;
}

/* Start iterating the pairs of an object container. */
JsonbIterator *
cw_jb_object_iter(JsonbContainer *c)
{
	JsonbIterator *it = JsonbIteratorInit(c);
	JsonbValue	v;

	if (JsonbIteratorNext(&it, &v, true) != WJB_BEGIN_OBJECT)
		elog(ERROR, "cyoda_wf: expected a jsonb object");
	return it;
}

/* Next key/value pair of an object (nested containers stay jbvBinary). */
bool
cw_jb_object_next(JsonbIterator **it, JsonbValue *key, JsonbValue *val)
{
	if (JsonbIteratorNext(it, key, true) != WJB_KEY)
		return false;
	if (JsonbIteratorNext(it, val, true) != WJB_VALUE)
		elog(ERROR, "cyoda_wf: malformed jsonb object");
	return true;
}

/* Start iterating the elements of an array container. */
JsonbIterator *
cw_jb_array_iter(JsonbContainer *c)
{
	JsonbIterator *it = JsonbIteratorInit(c);
	JsonbValue	v;

	if (JsonbIteratorNext(&it, &v, true) != WJB_BEGIN_ARRAY)
		elog(ERROR, "cyoda_wf: expected a jsonb array");
	return it;
}

/* Next element of an array. */
bool
cw_jb_array_next(JsonbIterator **it, JsonbValue *elem)
{
	return JsonbIteratorNext(it, elem, true) == WJB_ELEM;
}

/*
 * A JSON number that is an integer (1 and 1.0 are, 1.5 is not) in
 * [min, max]; returns 0 when it is, 1 when it is no integer, 2 when below
 * min, 3 when above max.
 */
int
cw_jbv_int64(JsonbValue *v, int64 min, int64 max, int64 *result)
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

/* Push key into the object being built in *ps. */
void
cw_jb_push_key(JsonbParseState **ps, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(ps, WJB_KEY, &k);
}

/* Push the string s as tok (WJB_VALUE or WJB_ELEM) into *ps. */
void
cw_jb_push_string(JsonbParseState **ps, JsonbIteratorToken tok, const char *s)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) s;
	v.val.string.len = strlen(s);
	pushJsonbValue(ps, tok, &v);
}

/* key: "string" in the object being built in *ps. */
void
cw_jb_push_pair(JsonbParseState **ps, const char *key, const char *s)
{
	cw_jb_push_key(ps, key);
	cw_jb_push_string(ps, WJB_VALUE, s);
}

/* Start building a JSON object. */
void
cw_jbb_begin(CwJsonBuilder *b)
{
	b->ps = NULL;
	pushJsonbValue(&b->ps, WJB_BEGIN_OBJECT, NULL);
}

/* Add a key to the object being built. */
static void
cw_jbb_key(CwJsonBuilder *b, const char *key)
{
	cw_jb_push_key(&b->ps, key);
}

/* Add key: string (JSON null when val is NULL). */
void
cw_jbb_str(CwJsonBuilder *b, const char *key, const char *val)
{
	JsonbValue	v;

	cw_jbb_key(b, key);
	if (val == NULL)
		v.type = jbvNull;
	else
	{
		v.type = jbvString;
		v.val.string.val = (char *) val;
		v.val.string.len = strlen(val);
	}
	pushJsonbValue(&b->ps, WJB_VALUE, &v);
}

/* Add key: integer. */
void
cw_jbb_int(CwJsonBuilder *b, const char *key, int64 val)
{
	JsonbValue	v;

	cw_jbb_key(b, key);
	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(val);
	pushJsonbValue(&b->ps, WJB_VALUE, &v);
}

/* Add key: number from a double (timings). */
void
cw_jbb_float(CwJsonBuilder *b, const char *key, double val)
{
	JsonbValue	v;

	cw_jbb_key(b, key);
	v.type = jbvNumeric;
	v.val.numeric = DatumGetNumeric(DirectFunctionCall1(float8_numeric, Float8GetDatum(val)));
	pushJsonbValue(&b->ps, WJB_VALUE, &v);
}

/* Add key: boolean. */
void
cw_jbb_bool(CwJsonBuilder *b, const char *key, bool val)
{
	JsonbValue	v;

	cw_jbb_key(b, key);
	v.type = jbvBool;
	v.val.boolean = val;
	pushJsonbValue(&b->ps, WJB_VALUE, &v);
}

/* Add key: a whole jsonb document (JSON null when NULL). */
void
cw_jbb_jsonb(CwJsonBuilder *b, const char *key, Jsonb *val)
{
	JsonbValue	v;

	cw_jbb_key(b, key);
	if (val == NULL)
	{
		v.type = jbvNull;
		pushJsonbValue(&b->ps, WJB_VALUE, &v);
	}
	else if (JB_ROOT_IS_SCALAR(val))
	{
		JsonbExtractScalar(&val->root, &v);
		pushJsonbValue(&b->ps, WJB_VALUE, &v);
	}
	else
	{
		v.type = jbvBinary;
		v.val.binary.data = &val->root;
		v.val.binary.len = VARSIZE(val) - VARHDRSZ;
		pushJsonbValue(&b->ps, WJB_VALUE, &v);
	}
}

/* Finish the object and return it as a Jsonb. */
Jsonb *
cw_jbb_end(CwJsonBuilder *b)
{
	JsonbValue *res = pushJsonbValue(&b->ps, WJB_END_OBJECT, NULL);

	return JsonbValueToJsonb(res);
}

/*
 * Push onto ps the object that RFC 7386 makes of target (an object
 * container, or NULL for "not an object") merged with patch (an object
 * container): a key whose patch value is null goes, an object patch value
 * merges into the target's value recursively (into {} when that is not an
 * object, which also drops the nulls inside it), any other patch value
 * (arrays included) replaces the target's value whole.  Values are copied
 * as they are stored, so numbers stay exact.
 */
static JsonbValue *
cw_merge_patch_push(JsonbParseState **ps, JsonbContainer *target, JsonbContainer *patch)
{
	JsonbIterator *it;
	JsonbValue	k,
				v,
				pv;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	pushJsonbValue(ps, WJB_BEGIN_OBJECT, NULL);
	if (target != NULL)
	{
		it = cw_jb_object_iter(target);
		while (cw_jb_object_next(&it, &k, &v))
		{
			JsonbValue *p = getKeyJsonValueFromContainer(patch, k.val.string.val,
														 k.val.string.len, &pv);

			if (p == NULL)
			{
				pushJsonbValue(ps, WJB_KEY, &k);
				pushJsonbValue(ps, WJB_VALUE, &v);
			}
			else if (p->type == jbvNull)
				continue;
			else if (cw_jbv_is_container(p, false))
			{
				pushJsonbValue(ps, WJB_KEY, &k);
				cw_merge_patch_push(ps, cw_jbv_is_container(&v, false) ? v.val.binary.data : NULL,
									p->val.binary.data);
			}
			else
			{
				pushJsonbValue(ps, WJB_KEY, &k);
				pushJsonbValue(ps, WJB_VALUE, p);
			}
		}
	}
	/* the keys only the patch has */
	it = cw_jb_object_iter(patch);
	while (cw_jb_object_next(&it, &k, &v))
	{
		if (v.type == jbvNull ||
			(target != NULL &&
			 getKeyJsonValueFromContainer(target, k.val.string.val, k.val.string.len, &pv) != NULL))
			continue;
		pushJsonbValue(ps, WJB_KEY, &k);
		if (cw_jbv_is_container(&v, false))
			cw_merge_patch_push(ps, NULL, v.val.binary.data);
		else
			pushJsonbValue(ps, WJB_VALUE, &v);
	}
	return pushJsonbValue(ps, WJB_END_OBJECT, NULL);
}

/*
 * RFC 7386 JSON Merge Patch: target (NULL or not an object counts as {})
 * merged with patch, which the caller checks is an object; a new Jsonb.
 */
Jsonb *
cw_jb_merge_patch(Jsonb *target, Jsonb *patch)
{
	JsonbParseState *ps = NULL;

	return JsonbValueToJsonb(cw_merge_patch_push(&ps,
												 (target != NULL && JB_ROOT_IS_OBJECT(target)) ? &target->root : NULL,
												 &patch->root));
}
