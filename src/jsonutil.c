/*-------------------------------------------------------------------------
 * jsonutil.c
 *		Small helpers for reading and building jsonb in C.
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"

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

/* Start building a JSON object. */
void
cw_jbb_begin(CwJsonBuilder *b)
{
	b->ps = NULL;
	pushJsonbValue(&b->ps, WJB_BEGIN_OBJECT, NULL);
}

static void
cw_jbb_key(CwJsonBuilder *b, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(&b->ps, WJB_KEY, &k);
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
