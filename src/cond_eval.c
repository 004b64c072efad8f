/*-------------------------------------------------------------------------
 * cond_eval.c
 *		Cyoda's condition language: a compiled condition (cond_compile.c)
 *		evaluated on every save.
 *
 * cw_condition_failing() names the innermost sub-condition that made a
 * condition false, and the value it found, for the audit, fire's error
 * and explain().
 *
 * cw_condition_eval() only walks the entity's Jsonb with
 * getKeyJsonValueFromContainer / getIthJsonbValueFromContainer; the few
 * temporary allocations it makes land in CurrentMemoryContext.  How a
 * value reads as a number or a boolean (cw_looks_numeric, cw_text_bool)
 * and the orderings of the merged groups' sorted operand sets
 * (cw_num_ptr_cmp, ...) are defined here and shared with the compiler.
 *
 * Semantic choices, all in one place:
 *	- Null rule: a missing or JSON-null field matches no operator except
 *	  IS_NULL; negative operators (NOT_EQUAL, NOT_CONTAINS, INOT_*, ...) are
 *	  false on it too.  On a present field a negative operator is exactly the
 *	  negation of its positive one.
 *	- Numbers compare as numbers (numeric semantics) whether the field or the
 *	  operand is written 30 or "30".  Booleans compare with true/false and
 *	  "true"/"false".  Two strings that are not both numbers compare
 *	  byte-wise (memcmp order, shorter first), not by collation, so results
 *	  do not depend on the database's locale.  Values of different kinds
 *	  (a number and a non-numeric string, an object and a scalar) are
 *	  unequal and unordered: EQUALS and the orderings are false, NOT_EQUAL
 *	  true.  EQUALS with an object or array operand is JSON equality.
 *	- Arrays (cyoda-go's internal/match): a path that resolves to an array
 *	  is matched element by element with the operator itself, and holds
 *	  when some element passes (CONTAINS "ru" matches ["go", "rust"];
 *	  NOT_EQUAL "go" matches it too, through "rust").  An empty array
 *	  matches no operator, IS_NULL and NOT_NULL included.  Only one level:
 *	  an element that is itself an array is a value (EQUALS [1] matches
 *	  [[1]], not [1]).
 *	- CONTAINS is a substring test on text.  STARTS_WITH, ENDS_WITH, LIKE
 *	  and MATCHES_PATTERN work on the field's text: a string, a number's
 *	  text as stored, or true/false; objects and arrays never match them.
 *	  NOT_CONTAINS, NOT_STARTS_WITH and NOT_ENDS_WITH match strings only:
 *	  never a number, a boolean, an object (nor null or missing); their
 *	  case-insensitive forms are the negation of the positive test on any
 *	  present value.
 *	- Case-insensitive operators lower-case both sides with the database's
 *	  default collation.
 *	- Paths: "$", ".name", "['name']" / ["name"], "[N]", "[*]" (any element
 *	  of an array satisfies the rest of the condition); the leading "$." may
 *	  be left out.  A ".N" step on an array addresses element N.
 *	- BETWEEN is exclusive, BETWEEN_INCLUSIVE inclusive; both take [low, high].
 *	- Lifecycle dates (creationDate, lastUpdateTime) compare as timestamptz;
 *	  a date without a time zone is read in the session's TimeZone at
 *	  compile time.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "regex/regex.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "cyoda_wf.h"
#include "cond.h"

/*
 * Whether a string is a plain decimal number (JSON number syntax, also
 * ".5" and "5."), short enough that numeric_in can never fail on it.
 */
bool
cw_looks_numeric(const char *s, int len)
{
	int			i = 0;
	int			digits = 0;

	if (len <= 0 || len > CW_NUMERIC_TEXT_MAX)
		return false;
	if (s[i] == '-')
		i++;
	while (i < len && isdigit((unsigned char) s[i]))
		i++, digits++;
	if (i < len && s[i] == '.')
	{
		i++;
		while (i < len && isdigit((unsigned char) s[i]))
			i++, digits++;
	}
	if (digits == 0)
		return false;
	if (i < len && (s[i] == 'e' || s[i] == 'E'))
	{
		int			exp = 0;
		int			edigits = 0;

		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		while (i < len && isdigit((unsigned char) s[i]))
		{
			exp = exp * 10 + (s[i] - '0');
			if (exp > 1000)
				return false;
			i++, edigits++;
		}
		if (edigits == 0)
			return false;
	}
	return i == len;
}

/* Numeric of a string cw_looks_numeric() accepted, in CurrentMemoryContext. */
Numeric
cw_text_to_numeric(const char *s, int len)
{
	char	   *z = pnstrdup(s, len);
	Numeric		n;

	n = DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(z),
											ObjectIdGetDatum(InvalidOid),
											Int32GetDatum(-1)));
	pfree(z);
	return n;
}

/* 1 for "true", 0 for "false", else -1. */
int
cw_text_bool(const char *s, int len)
{
	if (len == 4 && memcmp(s, "true", 4) == 0)
		return 1;
	if (len == 5 && memcmp(s, "false", 5) == 0)
		return 0;
	return -1;
}

/* qsort / bsearch comparators of the sets. */
int
cw_num_ptr_cmp(const void *a, const void *b)
{
	return cw_num_cmp(*(const Numeric *) a, *(const Numeric *) b);
}

int
cw_text_ptr_cmp(const void *a, const void *b)
{
	const CondText *x = a;
	const CondText *y = b;

	return cw_bytes_cmp(x->s, x->len, y->s, y->len);
}

int
cw_cont_ptr_cmp(const void *a, const void *b)
{
	return compareJsonbContainers(*(JsonbContainer *const *) a,
								  *(JsonbContainer *const *) b);
}

/* Whether a present field equals some operand of a merged group. */
static bool
set_equals(const CondSet *set, const JsonbValue *fv, bool icase)
{
	switch (fv->type)
	{
		case jbvNumeric:
			return set->nnums > 0 &&
				bsearch(&fv->val.numeric, set->nums, set->nnums,
						sizeof(Numeric), cw_num_ptr_cmp) != NULL;

		case jbvBool:
			return fv->val.boolean ? set->has_true : set->has_false;

		case jbvString:
			{
				CondText	key;
				char	   *low = NULL;
				bool		r = false;
				int			b;

				/* as value_compare: numbers, then booleans, then bytes */
				key.s = fv->val.string.val;
				key.len = fv->val.string.len;
				if (set->nnums > 0 && cw_looks_numeric(key.s, key.len))
				{
					Numeric		n = cw_text_to_numeric(key.s, key.len);

					r = bsearch(&n, set->nums, set->nnums, sizeof(Numeric),
								cw_num_ptr_cmp) != NULL;
					pfree(n);
					if (r)
						return true;
				}
				if ((b = cw_text_bool(key.s, key.len)) >= 0 &&
					(b ? set->has_true : set->has_false))
					return true;
				if (set->ntexts == 0)
					return false;
				if (icase)
				{
					low = str_tolower(key.s, key.len, DEFAULT_COLLATION_OID);
					key.s = low;
					key.len = strlen(low);
				}
				r = bsearch(&key, set->texts, set->ntexts, sizeof(CondText),
							cw_text_ptr_cmp) != NULL;
				if (low)
					pfree(low);
				return r;
			}

		case jbvBinary:
			{
				JsonbContainer *jc = fv->val.binary.data;

				return set->nconts > 0 &&
					bsearch(&jc, set->conts, set->nconts,
							sizeof(JsonbContainer *), cw_cont_ptr_cmp) != NULL;
			}

		default:
			return false;
	}
}

/* ----------------------------------------------------------------
 * Evaluation
 * ----------------------------------------------------------------
 */

/*
 * Compare a present, non-null field value with an operand.  Returns false
 * when the two are of kinds that do not compare (see the header comment);
 * else sets *cmp to <0, 0 or >0.
 */
static bool
value_compare(const JsonbValue *fv, const CondValue *v, bool icase, int *cmp)
{
	switch (fv->type)
	{
		case jbvNumeric:
			if (v->num == NULL)
				return false;
			*cmp = cw_num_cmp(fv->val.numeric, v->num);
			return true;

		case jbvBool:
			if (v->boolval < 0)
				return false;
			*cmp = (fv->val.boolean ? 1 : 0) - v->boolval;
			return true;

		case jbvString:
			{
				const char *s = fv->val.string.val;
				int			len = fv->val.string.len;
				int			b;

				if (v->num != NULL && cw_looks_numeric(s, len))
				{
					Numeric		n = cw_text_to_numeric(s, len);

					*cmp = cw_num_cmp(n, v->num);
					pfree(n);
					return true;
				}
				if (v->boolval >= 0 && (b = cw_text_bool(s, len)) >= 0)
				{
					*cmp = b - v->boolval;
					return true;
				}
				if (v->jv.type != jbvString)
					return false;
				if (icase)
				{
					char	   *low = str_tolower(s, len, DEFAULT_COLLATION_OID);

					*cmp = cw_bytes_cmp(low, strlen(low), v->lower, v->lowerlen);
					pfree(low);
				}
				else
					*cmp = cw_bytes_cmp(s, len, v->text, v->textlen);
				return true;
			}

		case jbvBinary:
			if (v->jv.type != jbvBinary)
				return false;
			*cmp = compareJsonbContainers(fv->val.binary.data,
										  v->jv.val.binary.data);
			return true;

		default:
			return false;
	}
}

/* Equality as EQUALS (IEQUALS with icase) sees it. */
static inline bool
value_equals(const JsonbValue *fv, const CondValue *v, bool icase)
{
	int			cmp;

	return value_compare(fv, v, icase, &cmp) && cmp == 0;
}

/*
 * Text of a field for the string operators: strings as they are, numbers
 * as stored, booleans as true/false.  Lower-cased when icase.  Returns false
 * for objects and arrays.  *tofree is set when the text was allocated.
 */
static bool
field_text(const JsonbValue *fv, bool icase, const char **s, int *len,
		   char **tofree)
{
	*tofree = NULL;
	switch (fv->type)
	{
		case jbvString:
			*s = fv->val.string.val;
			*len = fv->val.string.len;
			break;
		case jbvNumeric:
			*tofree = DatumGetCString(DirectFunctionCall1(numeric_out,
														  NumericGetDatum(fv->val.numeric)));
			*s = *tofree;
			*len = strlen(*tofree);
			break;
		case jbvBool:
			*s = fv->val.boolean ? "true" : "false";
			*len = strlen(*s);
			break;
		default:
			return false;
	}
	if (icase)
	{
		char	   *low = str_tolower(*s, *len, DEFAULT_COLLATION_OID);

		if (*tofree)
			pfree(*tofree);
		*tofree = low;
		*s = low;
		*len = strlen(low);
	}
	return true;
}

/*
 * Whether to step character by character: in multi-byte encodings other
 * than UTF-8 a byte match may start inside a character.
 */
static inline bool
charwise_encoding(void)
{
	return pg_database_encoding_max_length() > 1 &&
		GetDatabaseEncoding() != PG_UTF8;
}

/* Substring test, on character boundaries. */
static bool
text_contains(const char *s, int slen, const char *sub, int sublen)
{
	bool		charwise = charwise_encoding();
	int			i = 0;

	if (sublen == 0)
		return true;
	while (i <= slen - sublen)
	{
		CHECK_FOR_INTERRUPTS();
		if (s[i] == sub[0] && memcmp(s + i, sub, sublen) == 0)
			return true;
		i += charwise ? pg_mblen(s + i) : 1;
	}
	return false;
}

/* Suffix test, on a character boundary. */
static bool
text_ends_with(const char *s, int slen, const char *sub, int sublen)
{
	int			start = slen - sublen;

	if (start < 0 || memcmp(s + start, sub, sublen) != 0)
		return false;
	if (charwise_encoding())
	{
		int			i = 0;

		while (i < start)
		{
			CHECK_FOR_INTERRUPTS();
			i += pg_mblen(s + i);
		}
		return i == start;
	}
	return true;
}

/* LIKE on tokens: greedy with backtracking to the latest %; O(n*m). */
static bool
like_match(const CwCondition *c, const char *s, int slen)
{
	int			ti = 0;
	int			si = 0;
	int			star_ti = -1;
	int			star_si = 0;

	for (;;)
	{
		if (ti < c->nlike)
		{
			const LikeTok *t = &c->like[ti];

			if (t->kind == LT_ANY)
			{
				star_ti = ti++;
				star_si = si;
				continue;
			}
			if (t->kind == LT_ONE)
			{
				if (si < slen)
				{
					si = Min(si + pg_mblen(s + si), slen);
					ti++;
					continue;
				}
			}
			else if (slen - si >= t->len && memcmp(s + si, t->lit, t->len) == 0)
			{
				si += t->len;
				ti++;
				continue;
			}
		}
		else if (si == slen)
			return true;

		/* mismatch: let the latest % swallow one more character */
		if (star_ti < 0 || star_si >= slen)
			return false;
		star_si = Min(star_si + pg_mblen(s + star_si), slen);
		si = star_si;
		ti = star_ti + 1;
		CHECK_FOR_INTERRUPTS();
	}
}

/* Run the compiled MATCHES_PATTERN regex on a text. */
static bool
regex_match(const CwCondition *c, const char *s, int slen)
{
	pg_wchar   *w = palloc((slen + 1) * sizeof(pg_wchar));
	int			wlen = pg_mb2wchar_with_len(s, w, slen);
	int			rc;

	rc = pg_regexec(c->re, w, wlen, 0, NULL, 0, NULL, 0);
	pfree(w);
	if (rc != REG_OKAY && rc != REG_NOMATCH)
	{
		char		msg[100];

		CHECK_FOR_INTERRUPTS();
		pg_regerror(rc, c->re, msg, sizeof(msg));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_REGULAR_EXPRESSION),
				 errmsg("regular expression failed: %s", msg)));
	}
	return rc == REG_OKAY;
}

/*
 * An operator that is not a null test, on a present non-null field.  One
 * switch over the operator families, kept whole: it runs for every leaf.
 */
static bool
leaf_positive(const CwCondition *c, const JsonbValue *fv)
{
	const OpInfo *op = c->op;
	int			cmp,
				cmp2;
	const char *s;
	int			len;
	char	   *tofree;
	bool		r;

	switch (op->base)
	{
		case OPB_EQ:
			if (c->set)
				return set_equals(c->set, fv, op->icase);
			return value_equals(fv, &c->val, op->icase);
		case OPB_GT:
			return value_compare(fv, &c->val, false, &cmp) && cmp > 0;
		case OPB_GE:
			return value_compare(fv, &c->val, false, &cmp) && cmp >= 0;
		case OPB_LT:
			return value_compare(fv, &c->val, false, &cmp) && cmp < 0;
		case OPB_LE:
			return value_compare(fv, &c->val, false, &cmp) && cmp <= 0;
		case OPB_BETWEEN:
			return value_compare(fv, &c->val, false, &cmp) && cmp > 0 &&
				value_compare(fv, &c->hi, false, &cmp2) && cmp2 < 0;
		case OPB_BETWEEN_INCL:
			return value_compare(fv, &c->val, false, &cmp) && cmp >= 0 &&
				value_compare(fv, &c->hi, false, &cmp2) && cmp2 <= 0;
		case OPB_CONTAINS:
		case OPB_STARTS:
		case OPB_ENDS:
		case OPB_LIKE:
		case OPB_REGEX:
			if ((c->set ? c->set->nsubs == 0 : c->val.text == NULL) ||
				!field_text(fv, op->icase, &s, &len, &tofree))
				return false;
			switch (op->base)
			{
				case OPB_CONTAINS:
					if (c->set)
					{
						/* for ICONTAINS both s and the subs are lower-cased */
						r = false;
						for (int k = 0; k < c->set->nsubs && !r; k++)
							r = text_contains(s, len, c->set->subs[k].s,
											  c->set->subs[k].len);
					}
					else
						r = op->icase ?
							text_contains(s, len, c->val.lower, c->val.lowerlen) :
							text_contains(s, len, c->val.text, c->val.textlen);
					break;
				case OPB_STARTS:
					if (op->icase)
						r = len >= c->val.lowerlen &&
							memcmp(s, c->val.lower, c->val.lowerlen) == 0;
					else
						r = len >= c->val.textlen &&
							memcmp(s, c->val.text, c->val.textlen) == 0;
					break;
				case OPB_ENDS:
					r = op->icase ?
						text_ends_with(s, len, c->val.lower, c->val.lowerlen) :
						text_ends_with(s, len, c->val.text, c->val.textlen);
					break;
				case OPB_LIKE:
					r = like_match(c, s, len);
					break;
				default:
					r = regex_match(c, s, len);
					break;
			}
			if (tofree)
				pfree(tofree);
			return r;
		case OPB_IS_NULL:
		case OPB_NOT_NULL:
			break;
	}
	elog(ERROR, "unexpected condition operator %d", (int) op->base);
	return false;
}

/* Apply a simple/lifecycle condition's operator to a field (NULL = missing). */
static bool
leaf_eval(const CwCondition *c, const JsonbValue *fv)
{
	bool		isnull = (fv == NULL || fv->type == jbvNull);
	bool		r;

	if (c->op->base == OPB_IS_NULL)
		return isnull;
	if (c->op->base == OPB_NOT_NULL)
		return !isnull;
	if (isnull)
		return false;			/* the null rule, negative operators included */
	if (cw_op_strings_only(c->op) && fv->type != jbvString)
		return false;
	r = leaf_positive(c, fv);
	return c->op->negate ? !r : r;
}

/* Whether v is an array (not a scalar's pseudo-array). */
static inline bool
is_array(const JsonbValue *v)
{
	return v != NULL && v->type == jbvBinary &&
		JsonContainerIsArray(v->val.binary.data) &&
		!JsonContainerIsScalar(v->val.binary.data);
}

/*
 * A simple condition's operator on the value its path resolves to (NULL =
 * missing): on an array, some element passes (none for an empty array).
 */
static bool
leaf_match(const CwCondition *c, const JsonbValue *fv)
{
	JsonbContainer *jc;
	uint32		n;

	if (!is_array(fv))
		return leaf_eval(c, fv);
	jc = fv->val.binary.data;
	n = JsonContainerSize(jc);
	for (uint32 i = 0; i < n; i++)
	{
		JsonbValue *e = getIthJsonbValueFromContainer(jc, i);
		bool		r = leaf_eval(c, e);

		pfree(e);
		if (r)
			return true;
		CHECK_FOR_INTERRUPTS();
	}
	return false;
}

/* One path step from cur into *out; false when there is nothing there. */
static bool
path_step(const JsonbValue *cur, const PathStep *step, JsonbValue *out)
{
	JsonbContainer *jc;

	if (cur->type != jbvBinary)
		return false;
	jc = cur->val.binary.data;
	if (step->kind == PS_KEY && JsonContainerIsObject(jc))
		return getKeyJsonValueFromContainer(jc, step->key, step->keylen,
											out) != NULL;
	if (step->index >= 0 && JsonContainerIsArray(jc))
	{
		JsonbValue *e = getIthJsonbValueFromContainer(jc, (uint32) step->index);

		if (e == NULL)
			return false;
		*out = *e;
		pfree(e);
		return true;
	}
	return false;
}

/* The value at the end of c's path from cur (no wildcards); NULL = missing. */
static const JsonbValue *
walk_path(const CwCondition *c, const JsonbValue *cur, JsonbValue bufs[2])
{
	int			i;

	for (i = 0; cur != NULL && i < c->nsteps; i++)
	{
		JsonbValue *out = &bufs[i & 1];

		cur = path_step(cur, &c->steps[i], out) ? out : NULL;
	}
	return cur;
}

/* A simple condition from path step i on; [*] means any element. */
static bool
eval_simple(const CwCondition *c, const JsonbValue *cur, int i)
{
	JsonbValue	bufs[2];

	for (; cur != NULL && i < c->nsteps; i++)
	{
		const PathStep *step = &c->steps[i];
		JsonbValue *out = &bufs[i & 1];

		if (step->kind == PS_ANY)
		{
			JsonbContainer *jc;
			uint32		n,
						k;

			if (cur->type != jbvBinary ||
				!JsonContainerIsArray(cur->val.binary.data))
			{
				cur = NULL;		/* not an array: nothing there */
				break;
			}
			check_stack_depth();
			jc = cur->val.binary.data;
			n = JsonContainerSize(jc);
			for (k = 0; k < n; k++)
			{
				JsonbValue *e = getIthJsonbValueFromContainer(jc, k);
				bool		r = eval_simple(c, e, i + 1);

				pfree(e);
				if (r)
					return true;
				CHECK_FOR_INTERRUPTS();
			}
			return false;
		}
		cur = path_step(cur, step, out) ? out : NULL;
	}
	return leaf_match(c, cur);
}

/* A lifecycle condition on the facts in ctx (NULL / 0 = unknown). */
static bool
eval_lifecycle(const CwCondition *c, CwEvalContext *ctx)
{
	const char *s = NULL;
	JsonbValue	fv;

	if (c->never)
		return false;
	if (c->date_field)
	{
		TimestampTz t = (c->field == LF_CREATION_DATE) ?
		ctx->creation_date : ctx->last_update_time;
		bool		r;

		if (c->op->base == OPB_IS_NULL)
			return t == 0;
		if (c->op->base == OPB_NOT_NULL)
			return t != 0;
		if (t == 0)
			return false;
		switch (c->op->base)
		{
			case OPB_EQ:
				r = t == c->val.ts;
				break;
			case OPB_GT:
				r = t > c->val.ts;
				break;
			case OPB_GE:
				r = t >= c->val.ts;
				break;
			case OPB_LT:
				r = t < c->val.ts;
				break;
			case OPB_LE:
				r = t <= c->val.ts;
				break;
			case OPB_BETWEEN:
				r = t > c->val.ts && t < c->hi.ts;
				break;
			case OPB_BETWEEN_INCL:
				r = t >= c->val.ts && t <= c->hi.ts;
				break;
			default:
				elog(ERROR, "unexpected operator on a date field");
				r = false;
		}
		return c->op->negate ? !r : r;
	}

	switch (c->field)
	{
		case LF_STATE:
			s = ctx->state;
			break;
		case LF_PREVIOUS_TRANSITION:
			s = ctx->previous_transition;
			break;
		case LF_ID:
			s = ctx->entity_id;
			break;
		default:
			break;
	}
	if (s == NULL)
		return leaf_eval(c, NULL);
	fv.type = jbvString;
	fv.val.string.val = (char *) s;
	fv.val.string.len = strlen(s);
	return leaf_eval(c, &fv);
}

/* An array condition: element i equals values[i] where that is not null. */
static bool
eval_array(const CwCondition *c, const JsonbValue *root)
{
	JsonbValue	bufs[2];
	const JsonbValue *fv = root ? walk_path(c, root, bufs) : NULL;
	JsonbContainer *jc;
	int			i;

	if (fv == NULL || fv->type != jbvBinary ||
		!JsonContainerIsArray(fv->val.binary.data))
		return false;
	jc = fv->val.binary.data;
	if ((int) JsonContainerSize(jc) < c->nvalues)
		return false;
	for (i = 0; i < c->nvalues; i++)
	{
		JsonbValue *e;
		bool		r;

		CHECK_FOR_INTERRUPTS();
		if (c->skip[i])
			continue;
		e = getIthJsonbValueFromContainer(jc, i);
		r = value_equals(e, &c->values[i], false);
		pfree(e);
		if (!r)
			return false;
	}
	return true;
}

/* Evaluate one node of the condition tree. */
static bool
eval_node(const CwCondition *c, CwEvalContext *ctx, const JsonbValue *root)
{
	int			i;

	switch (c->kind)
	{
		case CK_SIMPLE:
			return eval_simple(c, root, 0);
		case CK_LIFECYCLE:
			return eval_lifecycle(c, ctx);
		case CK_ARRAY:
			return eval_array(c, root);
		case CK_AND:
			check_stack_depth();
			for (i = 0; i < c->nchildren; i++)
			{
				CHECK_FOR_INTERRUPTS();
				if (!eval_node(c->children[i], ctx, root))
					return false;
			}
			return true;
		case CK_OR:
			check_stack_depth();
			for (i = 0; i < c->nchildren; i++)
			{
				CHECK_FOR_INTERRUPTS();
				if (eval_node(c->children[i], ctx, root))
					return true;
			}
			return false;
		case CK_NOT:
			check_stack_depth();
			return !eval_node(c->children[0], ctx, root);
		case CK_FUNCTION:
			if (ctx->call_criterion == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("function criteria cannot be evaluated here"),
						 errdetail("The condition calls criterion function \"%s\".",
								   c->fn->name),
						 errhint("Function criteria run only inside workflows.")));
			return ctx->call_criterion(ctx->fn_arg, c->fn, c->config);
	}
	elog(ERROR, "unexpected condition kind %d", (int) c->kind);
	return false;
}

/* The root value of the data a condition is evaluated on, or NULL. */
static const JsonbValue *
eval_root(CwEvalContext *ctx, JsonbValue *root)
{
	if (ctx->data == NULL)
		return NULL;
	if (JB_ROOT_IS_SCALAR(ctx->data))
		JsonbExtractScalar(&ctx->data->root, root);
	else
	{
		root->type = jbvBinary;
		root->val.binary.data = &ctx->data->root;
		root->val.binary.len = VARSIZE(ctx->data) - VARHDRSZ;
	}
	return root;
}

/*
 * Evaluate a compiled condition against an entity's data and lifecycle
 * facts.  A NULL condition matches.
 */
bool
cw_condition_eval(CwCondition *cond, CwEvalContext *ctx)
{
	JsonbValue	root;

	if (cond == NULL)
		return true;
	return eval_node(cond, ctx, eval_root(ctx, &root));
}

/*
 * The node that makes c false, followed down: an AND's first false member
 * (members that call criterion functions are not evaluated again: when
 * every other member is true, the first one that calls a function is
 * named); an OR (every member failed), a NOT or a leaf is itself.
 */
static const CwCondition *
failing_node(const CwCondition *c, CwEvalContext *ctx, const JsonbValue *root)
{
	check_stack_depth();
	if (c->kind != CK_AND)
		return c;
	for (int i = 0; i < c->nchildren; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (!c->children[i]->uses_function && !eval_node(c->children[i], ctx, root))
			return failing_node(c->children[i], ctx, root);
	}
	for (int i = 0; i < c->nchildren; i++)
		if (c->children[i]->uses_function)
			return c->children[i];
	return c;
}

/* Push the values c's path (with [*] steps) reaches from cur, as array elements. */
static void
collect_path(const CwCondition *c, const JsonbValue *cur, int i, JsonbParseState **ps)
{
	JsonbValue	bufs[2];

	for (; cur != NULL && i < c->nsteps; i++)
	{
		const PathStep *step = &c->steps[i];

		if (step->kind == PS_ANY)
		{
			JsonbContainer *jc;
			uint32		n;

			if (cur->type != jbvBinary || !JsonContainerIsArray(cur->val.binary.data))
				return;
			check_stack_depth();
			jc = cur->val.binary.data;
			n = JsonContainerSize(jc);
			for (uint32 k = 0; k < n; k++)
			{
				JsonbValue *e = getIthJsonbValueFromContainer(jc, k);

				CHECK_FOR_INTERRUPTS();
				collect_path(c, e, i + 1, ps);
				pfree(e);
			}
			return;
		}
		cur = path_step(cur, step, &bufs[i & 1]) ? &bufs[i & 1] : NULL;
	}
	if (cur != NULL)
	{
		JsonbValue	v = *cur;

		pushJsonbValue(ps, WJB_ELEM, &v);
	}
}

/*
 * The value a failing leaf found: at a data path, the value there (with [*]
 * steps, the array of the values reached, empty when none); for a
 * lifecycle field, its value (dates as JSON timestamps).  NULL when the
 * path or field is absent, and for groups and functions.
 */
static Jsonb *
found_value(const CwCondition *c, CwEvalContext *ctx, const JsonbValue *root)
{
	JsonbValue	v;
	const char *s = NULL;

	if (c->kind == CK_SIMPLE || c->kind == CK_ARRAY)
	{
		JsonbValue	bufs[2];
		const JsonbValue *fv;

		if (root == NULL)
			return NULL;
		if (c->wildcard)
		{
			JsonbParseState *ps = NULL;

			pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
			collect_path(c, root, 0, &ps);
			return JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_ARRAY, NULL));
		}
		fv = walk_path(c, root, bufs);
		if (fv == NULL)
			return NULL;
		v = *fv;
		return JsonbValueToJsonb(&v);
	}
	if (c->kind != CK_LIFECYCLE)
		return NULL;
	if (c->date_field)
	{
		TimestampTz t = (c->field == LF_CREATION_DATE) ?
		ctx->creation_date : ctx->last_update_time;

		if (t == 0)
			return NULL;
		s = JsonEncodeDateTime(NULL, TimestampTzGetDatum(t), TIMESTAMPTZOID, NULL);
	}
	else if (c->field == LF_STATE)
		s = ctx->state;
	else if (c->field == LF_PREVIOUS_TRANSITION)
		s = ctx->previous_transition;
	else if (c->field == LF_ID)
		s = ctx->entity_id;
	if (s == NULL)
		return NULL;
	v.type = jbvString;
	v.val.string.val = (char *) s;
	v.val.string.len = strlen(s);
	return JsonbValueToJsonb(&v);
}

/*
 * The innermost sub-condition of cond that did not match, as jsonb in the
 * condition's own terms: {"type": "simple", "jsonPath", "operatorType",
 * "value"} (no value for a merged group of one path and operator),
 * {"type": "lifecycle", "field", "operatorType", "value"}, {"type": "array",
 * "jsonPath"}, {"type": "group", "operator"} or {"type": "function",
 * "function": {"name"}}.  For the audit of a criterion that did not match:
 * call it only after cw_condition_eval returned false (cond not NULL);
 * criterion functions are not called again.  With found
 * not NULL, *found gets the value that sub-condition found (found_value).
 */
Jsonb *
cw_condition_failing(CwCondition *cond, CwEvalContext *ctx, Jsonb **found)
{
	JsonbValue	root;
	const JsonbValue *rootp = eval_root(ctx, &root);
	const CwCondition *c = failing_node(cond, ctx, rootp);
	CwJsonBuilder b;

	if (found != NULL)
		*found = found_value(c, ctx, rootp);

	cw_jbb_begin(&b);
	switch (c->kind)
	{
		case CK_SIMPLE:
		case CK_ARRAY:
			cw_jbb_str(&b, "type", c->kind == CK_SIMPLE ? "simple" : "array");
			cw_jbb_str(&b, "jsonPath", pnstrdup(c->path_text, c->path_len));
			break;
		case CK_LIFECYCLE:
			cw_jbb_str(&b, "type", "lifecycle");
			cw_jbb_str(&b, "field", c->field_name);
			break;
		case CK_AND:
		case CK_OR:
		case CK_NOT:
			cw_jbb_str(&b, "type", "group");
			cw_jbb_str(&b, "operator", c->kind == CK_AND ? "AND" : c->kind == CK_OR ? "OR" : "NOT");
			break;
		case CK_FUNCTION:
			cw_jb_push_key(&b.ps, "function");
			pushJsonbValue(&b.ps, WJB_BEGIN_OBJECT, NULL);
			cw_jb_push_pair(&b.ps, "name", c->fn->name);
			pushJsonbValue(&b.ps, WJB_END_OBJECT, NULL);
			cw_jbb_str(&b, "type", "function");
			break;
	}
	if ((c->kind == CK_SIMPLE || c->kind == CK_LIFECYCLE) && c->op != NULL)
	{
		cw_jbb_str(&b, "operatorType", c->op->name);
		if (c->set == NULL && c->op->base != OPB_IS_NULL && c->op->base != OPB_NOT_NULL)
		{
			JsonbValue	lo = c->val.jv,
						hi = c->hi.jv;

			cw_jb_push_key(&b.ps, "value");
			if (c->op->base == OPB_BETWEEN || c->op->base == OPB_BETWEEN_INCL)
			{
				pushJsonbValue(&b.ps, WJB_BEGIN_ARRAY, NULL);
				pushJsonbValue(&b.ps, WJB_ELEM, &lo);
				pushJsonbValue(&b.ps, WJB_ELEM, &hi);
				pushJsonbValue(&b.ps, WJB_END_ARRAY, NULL);
			}
			else
				pushJsonbValue(&b.ps, WJB_VALUE, &lo);
		}
	}
	return cw_jbb_end(&b);
}
