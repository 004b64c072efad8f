/*-------------------------------------------------------------------------
 * model_schema.c
 *		The schema of an entity model (README: Entity models): a tree of CwMNode
 *		inferred from JSON, merged, checked against data, stored and exported.
 *
 * A node records what was seen at one path: a set of scalar types (at most
 * one numeric type: numeric types collapse), an object's fields and an
 * array's merged element and widest length.  Fields are kept in jsonb's key
 * order (length, then bytes), so a lookup is a binary search and the stored
 * form is built in order.
 *
 * Stored form (cyoda_wf.model.model_schema), one object per node:
 * {"t": type bit set, "o": {field: node, ...}, "a": element node, "w": width},
 * each key present only when it says something.
 *
 * Numbers are classified by value: numeric_normalize gives the digits
 * without exponent or trailing zeros, so 1.0 and 1e2 are integers.
 *-------------------------------------------------------------------------
 */
#include "model.h"

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

static const char *const mtype_names[CW_MT_COUNT] = {
	"INTEGER", "LONG", "BIG_INTEGER", "UNBOUND_INTEGER", "DOUBLE",
	"BIG_DECIMAL", "UNBOUND_DECIMAL", "STRING", "LOCAL_DATE",
	"LOCAL_DATE_TIME", "LOCAL_TIME", "ZONED_DATE_TIME", "YEAR_MONTH",
	"BOOLEAN", "NULL"
};

const char *const cw_mchange_names[] = {
	"NONE", "ARRAY_LENGTH", "ARRAY_ELEMENTS", "TYPE", "STRUCTURAL", "INCOMPATIBLE"
};

#define INT_BITS	0x0Fu		/* INTEGER .. UNBOUND_INTEGER */
#define DEC_BITS	0x70u		/* DOUBLE .. UNBOUND_DECIMAL */
#define STR_BITS	0x1F80u		/* STRING and the string-shaped types */
#define NULL_BIT	CW_MT_BIT(CW_MT_NULL)

/* The change level named exactly, or -1. */
int
cw_mchange_level(const char *name)
{
	for (int i = CW_MC_ARRAY_LENGTH; i <= CW_MC_STRUCTURAL; i++)
		if (strcmp(name, cw_mchange_names[i]) == 0)
			return i;
	return -1;
}

/* Whether the unsigned digit string d is at most the bound b. */
static bool
digits_le(const char *d, int len, const char *b)
{
	int			blen = strlen(b);

	return len < blen || (len == blen && strncmp(d, b, len) <= 0);
}

static CwMType
classify_number(Numeric num)
{
	char	   *s = numeric_normalize(num);
	bool		neg = (*s == '-');
	char	   *d = neg ? s + 1 : s;
	char	   *dot = strchr(d, '.');
	int			ip,
				scale,
				prec;
	const char *p;

	if (dot == NULL)
	{
		int			len = strlen(d);

		if (digits_le(d, len, neg ? "2147483648" : "2147483647"))
			return CW_MT_INTEGER;
		if (digits_le(d, len, neg ? "9223372036854775808" : "9223372036854775807"))
			return CW_MT_LONG;
		if (digits_le(d, len, neg ? "170141183460469231731687303715884105728" :
					  "170141183460469231731687303715884105727"))
			return CW_MT_BIG_INTEGER;
		return CW_MT_UNBOUND_INTEGER;
	}
	ip = (dot - d == 1 && d[0] == '0') ? 0 : (int) (dot - d);
	scale = strlen(dot + 1);
	/* precision: significant digits of the unscaled value */
	p = ip > 0 ? d : dot + 1;
	while (*p == '0')
		p++;
	prec = ip > 0 ? ip + scale : (int) strlen(p);
	if (prec <= 15)
		return CW_MT_DOUBLE;
	if (prec <= 38 && ip <= 20 && scale <= 18)
		return CW_MT_BIG_DECIMAL;
	return CW_MT_UNBOUND_DECIMAL;
}

static bool
ndigits(const char *s, int n)
{
	for (int i = 0; i < n; i++)
		if (!isdigit((unsigned char) s[i]))
			return false;
	return true;
}

/* YYYY-MM-DD or YYYY-MM (len 10 or 7) with a month and day in range. */
static bool
is_date(const char *s, int len)
{
	int			m,
				d;

	if ((len != 10 && len != 7) || !ndigits(s, 4) || s[4] != '-' || !ndigits(s + 5, 2))
		return false;
	m = (s[5] - '0') * 10 + (s[6] - '0');
	if (m < 1 || m > 12)
		return false;
	if (len == 7)
		return true;
	if (s[7] != '-' || !ndigits(s + 8, 2))
		return false;
	d = (s[8] - '0') * 10 + (s[9] - '0');
	return d >= 1 && d <= 31;
}

/* hh:mm[:ss[.f]]: how many bytes of s it takes, 0 when none. */
static int
time_len(const char *s, int len)
{
	int			n = 5;

	if (len < 5 || !ndigits(s, 2) || s[2] != ':' || !ndigits(s + 3, 2) ||
		(s[0] - '0') * 10 + (s[1] - '0') > 23 || (s[3] - '0') * 10 + (s[4] - '0') > 59)
		return 0;
	if (len >= 8 && s[5] == ':' && ndigits(s + 6, 2))
	{
		if ((s[6] - '0') * 10 + (s[7] - '0') > 59)
			return 0;
		n = 8;
		if (len > 9 && s[8] == '.' && isdigit((unsigned char) s[9]))
		{
			n = 9;
			while (n < len && isdigit((unsigned char) s[n]))
				n++;
		}
	}
	return n;
}

static CwMType
classify_string(const char *s, int len)
{
	int			t;

	if (len == 10 && is_date(s, 10))
		return CW_MT_LOCAL_DATE;
	if (len == 7 && is_date(s, 7))
		return CW_MT_YEAR_MONTH;
	t = time_len(s, len);
	if (t > 0 && t == len)
		return CW_MT_LOCAL_TIME;
	if (len > 11 && s[10] == 'T' && is_date(s, 10))
	{
		const char *r = s + 11;
		int			rlen = len - 11;

		t = time_len(r, rlen);
		if (t == 0)
			return CW_MT_STRING;
		if (t == rlen)
			return CW_MT_LOCAL_DATE_TIME;
		r += t;
		rlen -= t;
		if (rlen == 1 && r[0] == 'Z')
			return CW_MT_ZONED_DATE_TIME;
		if (rlen == 6 && (r[0] == '+' || r[0] == '-') && ndigits(r + 1, 2) &&
			r[3] == ':' && ndigits(r + 4, 2))
			return CW_MT_ZONED_DATE_TIME;
	}
	return CW_MT_STRING;
}

/* The DataType of a scalar jsonb value. */
CwMType
cw_mtype_of(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return CW_MT_NULL;
		case jbvBool:
			return CW_MT_BOOLEAN;
		case jbvNumeric:
			return classify_number(v->val.numeric);
		case jbvString:
			return classify_string(v->val.string.val, v->val.string.len);
		default:
			elog(ERROR, "cyoda_wf: not a scalar jsonb value");
	}
	return CW_MT_NULL;
}

static int
highest_bit(uint32 bits)
{
	int			h = -1;

	for (int i = 0; i < CW_MT_COUNT; i++)
		if (bits & CW_MT_BIT(i))
			h = i;
	return h;
}

/* For collapsing: whether values of t fit decimal type d without loss. */
static bool
collapse_fits(int t, int d)
{
	if (t == d || d == CW_MT_UNBOUND_DECIMAL)
		return true;
	if (d == CW_MT_DOUBLE)
		return t == CW_MT_INTEGER;
	/* BIG_DECIMAL */
	return t == CW_MT_INTEGER || t == CW_MT_LONG;
}

/* One numeric type for a set: the wider of a family, or the narrowest common. */
static uint32
collapse_numeric(uint32 types)
{
	uint32		ints = types & INT_BITS;
	uint32		decs = types & DEC_BITS;
	uint32		rest = types & ~(INT_BITS | DEC_BITS);
	int			i,
				d;

	if (ints == 0 && decs == 0)
		return types;
	if (decs == 0)
		return rest | CW_MT_BIT(highest_bit(ints));
	d = highest_bit(decs);
	if (ints == 0)
		return rest | CW_MT_BIT(d);
	i = highest_bit(ints);
	for (; d < CW_MT_UNBOUND_DECIMAL; d++)
		if (collapse_fits(i, d) && collapse_fits(highest_bit(decs), d))
			break;
	return rest | CW_MT_BIT(d);
}

/* Whether a value of type t may be stored where the types are those given. */
bool
cw_mtype_assignable_to(CwMType t, uint32 types)
{
	uint32		tb = CW_MT_BIT(t);

	if (types & tb)
		return true;
	if ((tb & INT_BITS) && (types & INT_BITS) && highest_bit(types & INT_BITS) > (int) t)
		return true;
	if ((tb & DEC_BITS) && (types & DEC_BITS) && highest_bit(types & DEC_BITS) > (int) t)
		return true;
	if ((tb & INT_BITS) && (types & CW_MT_BIT(CW_MT_UNBOUND_DECIMAL)))
		return true;
	if ((t == CW_MT_INTEGER || t == CW_MT_LONG) && (types & CW_MT_BIT(CW_MT_BIG_DECIMAL)))
		return true;
	if (t == CW_MT_INTEGER && (types & CW_MT_BIT(CW_MT_DOUBLE)))
		return true;
	if ((tb & STR_BITS) && (types & CW_MT_BIT(CW_MT_STRING)))
		return true;
	return false;
}

/* "INTEGER" or "[INTEGER, STRING]". */
char *
cw_mtypes_text(uint32 types)
{
	StringInfoData buf;
	int			n = 0;

	initStringInfo(&buf);
	for (int i = 0; i < CW_MT_COUNT; i++)
		if (types & CW_MT_BIT(i))
			appendStringInfo(&buf, "%s%s", n++ ? ", " : "", mtype_names[i]);
	if (n > 1)
	{
		char	   *s = psprintf("[%s]", buf.data);

		pfree(buf.data);
		return s;
	}
	return buf.data;
}

static int
key_cmp(const char *a, int alen, const char *b, int blen)
{
	if (alen != blen)
		return alen < blen ? -1 : 1;
	return memcmp(a, b, alen);
}

/* The field named (len bytes) of an object node, or NULL. */
const CwMNode *
cw_mnode_find(const CwMNode *n, const char *name, int len)
{
	int			lo = 0,
				hi = n->nfields - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			c = key_cmp(name, len, n->fields[mid].name, n->fields[mid].len);

		if (c == 0)
			return n->fields[mid].node;
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return NULL;
}

static void
drop_null(CwMNode *n)
{
	if ((n->types & ~NULL_BIT) || n->is_object || n->is_array)
		n->types &= ~NULL_BIT;
}

/* The schema of one JSON value (nested containers as jbvBinary). */
CwMNode *
cw_mnode_infer(JsonbValue *v)
{
	CwMNode    *n = palloc0(sizeof(CwMNode));

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	if (v->type != jbvBinary)
	{
		n->types = CW_MT_BIT(cw_mtype_of(v));
		return n;
	}
	if (JsonContainerIsObject(v->val.binary.data))
	{
		JsonbIterator *it = cw_jb_object_iter(v->val.binary.data);
		JsonbValue	k,
					val;
		int			cap = JsonContainerSize(v->val.binary.data);

		n->is_object = true;
		n->fields = palloc(sizeof(CwMField) * Max(cap, 1));
		while (cw_jb_object_next(&it, &k, &val))
		{
			CwMField   *f = &n->fields[n->nfields++];

			f->name = pnstrdup(k.val.string.val, k.val.string.len);
			f->len = k.val.string.len;
			f->node = cw_mnode_infer(&val);
		}
	}
	else
	{
		JsonbIterator *it = cw_jb_array_iter(v->val.binary.data);
		JsonbValue	e;

		n->is_array = true;
		while (cw_jb_array_next(&it, &e))
		{
			CwMNode    *en = cw_mnode_infer(&e);

			if (n->elem == NULL)
				n->elem = en;
			else
				cw_mnode_merge(n->elem, en);
			n->width++;
		}
		if (n->elem == NULL)
		{
			n->elem = palloc0(sizeof(CwMNode));
			n->elem->types = NULL_BIT;
		}
	}
	return n;
}

CwMNode *
cw_mnode_infer_jsonb(Jsonb *jb)
{
	JsonbValue	v;

	cw_jb_as_value(jb, &v);
	return cw_mnode_infer(&v);
}

/* into := into united with from (allocations in the current context). */
void
cw_mnode_merge(CwMNode *into, const CwMNode *from)
{
	check_stack_depth();
	into->types = collapse_numeric(into->types | from->types);
	if (from->is_object)
	{
		CwMField   *merged = palloc(sizeof(CwMField) * (into->nfields + from->nfields + 1));
		int			i = 0,
					j = 0,
					k = 0;

		while (i < into->nfields || j < from->nfields)
		{
			int			c;

			if (i >= into->nfields)
				c = 1;
			else if (j >= from->nfields)
				c = -1;
			else
				c = key_cmp(into->fields[i].name, into->fields[i].len,
							from->fields[j].name, from->fields[j].len);
			if (c < 0)
				merged[k++] = into->fields[i++];
			else if (c > 0)
			{
				merged[k].name = pnstrdup(from->fields[j].name, from->fields[j].len);
				merged[k].len = from->fields[j].len;
				merged[k++].node = cw_mnode_copy(from->fields[j++].node, CurrentMemoryContext);
			}
			else
			{
				cw_mnode_merge(into->fields[i].node, from->fields[j].node);
				merged[k++] = into->fields[i++];
				j++;
			}
		}
		into->is_object = true;
		into->fields = merged;
		into->nfields = k;
	}
	if (from->is_array)
	{
		if (into->is_array)
			cw_mnode_merge(into->elem, from->elem);
		else
			into->elem = cw_mnode_copy(from->elem, CurrentMemoryContext);
		into->is_array = true;
		into->width = Max(into->width, from->width);
	}
	drop_null(into);
}

/* A deep copy in cxt. */
CwMNode *
cw_mnode_copy(const CwMNode *n, MemoryContext cxt)
{
	CwMNode    *c = MemoryContextAlloc(cxt, sizeof(CwMNode));

	*c = *n;
	if (n->is_object)
	{
		c->fields = MemoryContextAlloc(cxt, sizeof(CwMField) * Max(n->nfields, 1));
		for (int i = 0; i < n->nfields; i++)
		{
			c->fields[i].name = MemoryContextStrdup(cxt, n->fields[i].name);
			c->fields[i].len = n->fields[i].len;
			c->fields[i].node = cw_mnode_copy(n->fields[i].node, cxt);
		}
	}
	if (n->is_array)
		c->elem = cw_mnode_copy(n->elem, cxt);
	return c;
}

/* Stored form ---------------------------------------------------------- */

static void
store_text(StringInfo buf, const CwMNode *n)
{
	const char *sep = "";

	appendStringInfoChar(buf, '{');
	if (n->types)
	{
		appendStringInfo(buf, "\"t\": %u", n->types);
		sep = ", ";
	}
	if (n->is_object)
	{
		appendStringInfo(buf, "%s\"o\": {", sep);
		for (int i = 0; i < n->nfields; i++)
		{
			if (i > 0)
				appendStringInfoString(buf, ", ");
			escape_json(buf, n->fields[i].name);
			appendStringInfoString(buf, ": ");
			store_text(buf, n->fields[i].node);
		}
		appendStringInfoChar(buf, '}');
		sep = ", ";
	}
	if (n->is_array)
	{
		appendStringInfo(buf, "%s\"w\": %d, \"a\": ", sep, n->width);
		store_text(buf, n->elem);
	}
	appendStringInfoChar(buf, '}');
}

Jsonb *
cw_mnode_to_jsonb(const CwMNode *n)
{
	StringInfoData buf;

	initStringInfo(&buf);
	store_text(&buf, n);
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

static CwMNode *
from_container(JsonbContainer *c)
{
	CwMNode    *n = palloc0(sizeof(CwMNode));
	JsonbIterator *it = cw_jb_object_iter(c);
	JsonbValue	k,
				v;

	check_stack_depth();
	while (cw_jb_object_next(&it, &k, &v))
	{
		char		key = k.val.string.len == 1 ? k.val.string.val[0] : '?';

		if (key == 't' && v.type == jbvNumeric)
			n->types = (uint32) DatumGetInt64(DirectFunctionCall1(numeric_int8,
																 NumericGetDatum(v.val.numeric)));
		else if (key == 'w' && v.type == jbvNumeric)
			n->width = DatumGetInt32(DirectFunctionCall1(numeric_int4,
														 NumericGetDatum(v.val.numeric)));
		else if (key == 'a' && v.type == jbvBinary)
		{
			n->is_array = true;
			n->elem = from_container(v.val.binary.data);
		}
		else if (key == 'o' && v.type == jbvBinary)
		{
			JsonbIterator *fit = cw_jb_object_iter(v.val.binary.data);
			JsonbValue	fk,
						fv;

			n->is_object = true;
			n->fields = palloc(sizeof(CwMField) * Max(JsonContainerSize(v.val.binary.data), 1));
			while (cw_jb_object_next(&fit, &fk, &fv))
			{
				CwMField   *f = &n->fields[n->nfields++];

				f->name = pnstrdup(fk.val.string.val, fk.val.string.len);
				f->len = fk.val.string.len;
				f->node = from_container(fv.val.binary.data);
			}
		}
	}
	if (n->is_array && n->elem == NULL)
		elog(ERROR, "cyoda_wf: malformed stored model schema");
	return n;
}

/* The tree of a stored schema (in the current context). */
CwMNode *
cw_mnode_from_jsonb(Jsonb *jb)
{
	if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
		elog(ERROR, "cyoda_wf: malformed stored model schema");
	return from_container(&jb->root);
}

/* Conformance (11.4) ---------------------------------------------------- */

static void
note(CwMCheck *chk, CwMChange kind, const char *expected, const char *actual)
{
	if (kind <= chk->worst)
		return;
	chk->worst = kind;
	chk->at = pstrdup(chk->path.len ? chk->path.data : "$");
	chk->expected = pstrdup(expected);
	chk->actual = pstrdup(actual);
}

static const char *
shape_text(const CwMNode *n)
{
	if (n->types & ~NULL_BIT)
		return cw_mtypes_text(n->types & ~NULL_BIT);
	if (n->is_object)
		return "an object";
	if (n->is_array)
		return "an array";
	return "NULL";
}

static void check_value(const CwMNode *n, JsonbValue *v, CwMCheck *chk, bool elem);

static void
check_object(const CwMNode *n, JsonbContainer *c, CwMCheck *chk)
{
	JsonbIterator *it = cw_jb_object_iter(c);
	JsonbValue	k,
				v;
	int			save = chk->path.len;

	while (cw_jb_object_next(&it, &k, &v))
	{
		const CwMNode *f = cw_mnode_find(n, k.val.string.val, k.val.string.len);

		/* the path grows on every field: no formatting here */
		if (chk->path.len == 0)
			appendStringInfoChar(&chk->path, '$');
		appendStringInfoChar(&chk->path, '.');
		appendBinaryStringInfo(&chk->path, k.val.string.val, k.val.string.len);
		if (f == NULL)
			note(chk, CW_MC_STRUCTURAL, "no such field", v.type == jbvBinary ?
				 (JsonContainerIsObject(v.val.binary.data) ? "an object" : "an array") :
				 mtype_names[cw_mtype_of(&v)]);
		else
			check_value(f, &v, chk, false);
		chk->path.len = save;
		chk->path.data[save] = '\0';
	}
}

static void
check_value(const CwMNode *n, JsonbValue *v, CwMCheck *chk, bool elem)
{
	bool		has_scalar = (n->types & ~NULL_BIT) != 0;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	if (v->type == jbvNull)
		return;
	if (v->type != jbvBinary)
	{
		CwMType		t = cw_mtype_of(v);

		if (has_scalar)
		{
			if (!cw_mtype_assignable_to(t, n->types))
				note(chk, elem ? CW_MC_ARRAY_ELEMENTS : CW_MC_TYPE,
					 shape_text(n), mtype_names[t]);
		}
		else if (n->is_object || n->is_array)
			note(chk, CW_MC_INCOMPATIBLE, shape_text(n), mtype_names[t]);
		else
			note(chk, elem ? CW_MC_ARRAY_ELEMENTS : CW_MC_TYPE, "NULL", mtype_names[t]);
		return;
	}
	if (JsonContainerIsObject(v->val.binary.data))
	{
		if (n->is_object)
			check_object(n, v->val.binary.data, chk);
		else if (has_scalar || n->is_array)
			note(chk, CW_MC_INCOMPATIBLE, shape_text(n), "an object");
		else
		{
			note(chk, CW_MC_TYPE, "NULL", "an object");
			if (JsonContainerSize(v->val.binary.data) > 0)
				note(chk, CW_MC_STRUCTURAL, "NULL", "an object with fields");
		}
		return;
	}
	if (n->is_array)
	{
		JsonbIterator *it = cw_jb_array_iter(v->val.binary.data);
		JsonbValue	e;
		int			save = chk->path.len;
		int			len = JsonContainerSize(v->val.binary.data);

		if (len > n->width)
		{
			char	   *exp = psprintf("at most %d elements", n->width);
			char	   *act = psprintf("%d elements", len);

			note(chk, CW_MC_ARRAY_LENGTH, exp, act);
		}
		appendStringInfoString(&chk->path, chk->path.len ? "[*]" : "$[*]");
		while (cw_jb_array_next(&it, &e))
			check_value(n->elem, &e, chk, true);
		chk->path.len = save;
		chk->path.data[save] = '\0';
	}
	else if (has_scalar || n->is_object)
		note(chk, CW_MC_INCOMPATIBLE, shape_text(n), "an array");
	else
		note(chk, elem ? CW_MC_ARRAY_ELEMENTS : CW_MC_TYPE, "NULL", "an array");
}

/* Walk data against the schema; chk->worst is the worst change needed. */
void
cw_mnode_check(const CwMNode *schema, Jsonb *data, CwMCheck *chk)
{
	JsonbValue	v;

	memset(chk, 0, sizeof(*chk));
	initStringInfo(&chk->path);
	cw_jb_as_value(data, &v);
	check_value(schema, &v, chk, false);
}

/* Export (11.2) ------------------------------------------------------------ */

static void view_object(StringInfo out, const char *path, const CwMNode *n, bool elem);

static void
view_field(StringInfo entries, StringInfo nested, const char *path,
		   const CwMField *f, bool *first)
{
	const CwMNode *c = f->node;
	char	   *sub;

#define SEP() (appendStringInfoString(entries, *first ? "" : ", "), *first = false)
	if (c->types || (!c->is_object && !c->is_array))
	{
		StringInfoData key;

		initStringInfo(&key);
		appendStringInfo(&key, ".%s", f->name);
		SEP();
		escape_json(entries, key.data);
		appendStringInfoString(entries, ": ");
		escape_json(entries, cw_mtypes_text(c->types ? c->types : NULL_BIT));
	}
	if (c->is_object || (c->is_array && c->elem->is_object))
	{
		char	   *key = psprintf("#.%s", f->name);

		SEP();
		escape_json(entries, key);
		appendStringInfoString(entries, ": \"OBJECT\"");
	}
	if (c->is_object)
	{
		sub = psprintf("%s.%s", path, f->name);
		view_object(nested, sub, c, false);
	}
	if (c->is_array)
	{
		const CwMNode *e = c->elem;

		if (e->types || (!e->is_object && !e->is_array))
		{
			char	   *key = psprintf(".%s[*]", f->name);
			char	   *t = cw_mtypes_text(e->types ? e->types : NULL_BIT);

			SEP();
			escape_json(entries, key);
			appendStringInfoString(entries, ": ");
			escape_json(entries, c->width > 0 ? psprintf("(%s x %d)", t, c->width) : t);
		}
		if (e->is_object)
		{
			sub = psprintf("%s.%s[*]", path, f->name);
			view_object(nested, sub, e, true);
		}
	}
#undef SEP
}

/* Append "path": {entries} (and the nested paths) to out. */
static void
view_object(StringInfo out, const char *path, const CwMNode *n, bool elem)
{
	StringInfoData entries;
	StringInfoData nested;
	bool		first = true;

	check_stack_depth();
	initStringInfo(&entries);
	initStringInfo(&nested);
	if (elem)
	{
		appendStringInfoString(&entries, "\"#\": \"ARRAY_ELEMENT\"");
		first = false;
	}
	for (int i = 0; i < n->nfields; i++)
		view_field(&entries, &nested, path, &n->fields[i], &first);
	if (out->len > 1)
		appendStringInfoString(out, ", ");
	escape_json(out, path);
	appendStringInfo(out, ": {%s}", entries.data);
	if (nested.len > 0)
		appendStringInfo(out, ", %s", nested.data);
}

static const char *
json_schema_of(CwMType t)
{
	if ((CW_MT_BIT(t) & INT_BITS))
		return "{\"type\": \"integer\"}";
	if ((CW_MT_BIT(t) & DEC_BITS))
		return "{\"type\": \"number\"}";
	switch (t)
	{
		case CW_MT_LOCAL_DATE:
			return "{\"type\": \"string\", \"format\": \"date\"}";
		case CW_MT_LOCAL_DATE_TIME:
		case CW_MT_ZONED_DATE_TIME:
			return "{\"type\": \"string\", \"format\": \"date-time\"}";
		case CW_MT_LOCAL_TIME:
			return "{\"type\": \"string\", \"format\": \"time\"}";
		case CW_MT_YEAR_MONTH:
			return "{\"type\": \"string\", \"format\": \"year-month\"}";
		case CW_MT_BOOLEAN:
			return "{\"type\": \"boolean\"}";
		case CW_MT_NULL:
			return "{\"type\": \"null\"}";
		default:
			return "{\"type\": \"string\"}";
	}
}

static void
json_schema(StringInfo out, const CwMNode *n)
{
	StringInfoData alts;
	int			nalts = 0;

	check_stack_depth();
	initStringInfo(&alts);
	for (int i = 0; i < CW_MT_COUNT; i++)
		if (n->types & CW_MT_BIT(i))
			appendStringInfo(&alts, "%s%s", nalts++ ? ", " : "", json_schema_of(i));
	if (n->is_object)
	{
		appendStringInfo(&alts, "%s{\"type\": \"object\", \"properties\": {", nalts++ ? ", " : "");
		for (int i = 0; i < n->nfields; i++)
		{
			if (i > 0)
				appendStringInfoString(&alts, ", ");
			escape_json(&alts, n->fields[i].name);
			appendStringInfoString(&alts, ": ");
			json_schema(&alts, n->fields[i].node);
		}
		appendStringInfoString(&alts, "}}");
	}
	if (n->is_array)
	{
		appendStringInfo(&alts, "%s{\"type\": \"array\", \"items\": ", nalts++ ? ", " : "");
		json_schema(&alts, n->elem);
		appendStringInfoChar(&alts, '}');
	}
	if (nalts == 0)
		appendStringInfoString(out, json_schema_of(CW_MT_NULL));
	else if (nalts == 1)
		appendStringInfoString(out, alts.data);
	else
		appendStringInfo(out, "{\"oneOf\": [%s]}", alts.data);
}

/* {"currentState", "model"} in the SIMPLE_VIEW or JSON_SCHEMA form. */
Jsonb *
cw_mnode_export(const CwMNode *root, bool as_json_schema, bool locked)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"currentState\": \"%s\", \"model\": ",
					 locked ? "LOCKED" : "UNLOCKED");
	if (as_json_schema)
		json_schema(&buf, root);
	else
	{
		StringInfoData m;

		initStringInfo(&m);
		appendStringInfoChar(&m, '{');
		view_object(&m, "$", root, false);
		appendStringInfoChar(&m, '}');
		appendStringInfoString(&buf, m.data);
	}
	appendStringInfoChar(&buf, '}');
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/* The schema a save checks against, compiled into cxt; NULL when not registered. */
CwModelSchema *
cw_model_schema_load(Jsonb *schema, const char *state, const char *level, MemoryContext cxt)
{
	MemoryContext old;
	CwModelSchema *ms;

	if (schema == NULL)
		return NULL;
	old = MemoryContextSwitchTo(cxt);
	ms = palloc0(sizeof(CwModelSchema));
	ms->root = cw_mnode_from_jsonb(schema);
	ms->locked = state != NULL && strcmp(state, "LOCKED") == 0;
	ms->level = level ? Max(cw_mchange_level(level), CW_MC_NONE) : CW_MC_NONE;
	MemoryContextSwitchTo(old);
	return ms;
}
