/*-------------------------------------------------------------------------
 * cond_compile.c
 *		Cyoda's condition language: compiled once, evaluated on every save
 *		(cond_eval.c).
 *
 * A condition (criterion of a workflow or a transition, or a search filter)
 * is JSON:
 *
 *	simple		{"type":"simple","jsonPath":"$.a.b","operatorType":"EQUALS","value":...}
 *	group		{"type":"group","operator":"AND"|"OR"|"NOT","conditions":[...]}
 *	lifecycle	{"type":"lifecycle","field":"state",...,"operatorType":...,"value":...}
 *	array		{"type":"array","jsonPath":"$.tags","values":[v0, null, ...]}
 *	function	{"type":"function","function":{"name":"C","config":{...}}}
 *
 * cw_condition_compile() validates the JSON and turns it into a tree of
 * CwCondition nodes (cond.h, which search_sql.c and diagram.c walk too)
 * allocated in the caller's (cache) memory context: paths
 * are split into steps, operators resolved, operands converted once (numbers
 * parsed, strings lower-cased for the case-insensitive operators, LIKE
 * patterns tokenized, regular expressions compiled, dates parsed), so that
 * cw_condition_eval() only walks the entity's data.  What each operator
 * means is in cond_eval.c's header.
 *
 * Bounds: a condition has at most CW_COND_MAX_NODES nodes (condition
 * objects and values of array conditions), nests at most CW_COND_MAX_DEPTH
 * levels deep, and each jsonPath has at most CW_PATH_MAX_STEPS steps;
 * beyond, compilation fails with 54000 naming the limit and where.  Every
 * loop over the condition or the data checks for interrupts, so
 * statement_timeout and pg_cancel_backend stop compilation and evaluation.
 *
 * Merged groups: where the members of an AND / OR group test one jsonPath
 * with one operator, compile_group() has cond_merge.c merge them into one
 * node (see there).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <limits.h>

#include "catalog/pg_collation.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "regex/regex.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/formatting.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "cyoda_wf.h"
#include "cond.h"

/* Conditions nested deeper than this are refused (54000). */
#define CW_COND_MAX_DEPTH 64

/* Nodes (condition objects, values of array conditions) per condition. */
#define CW_COND_MAX_NODES 10000

/* Steps of one jsonPath. */
#define CW_PATH_MAX_STEPS 100

/* How much of a user string an error message quotes. */
#define CW_SHOW_MAX 64

const OpInfo cw_cond_ops[] = {
	{"EQUALS", OPB_EQ, false, false},
	{"NOT_EQUAL", OPB_EQ, true, false},
	{"GREATER_THAN", OPB_GT, false, false},
	{"GREATER_OR_EQUAL", OPB_GE, false, false},
	{"LESS_THAN", OPB_LT, false, false},
	{"LESS_OR_EQUAL", OPB_LE, false, false},
	{"CONTAINS", OPB_CONTAINS, false, false},
	{"NOT_CONTAINS", OPB_CONTAINS, true, false},
	{"STARTS_WITH", OPB_STARTS, false, false},
	{"NOT_STARTS_WITH", OPB_STARTS, true, false},
	{"ENDS_WITH", OPB_ENDS, false, false},
	{"NOT_ENDS_WITH", OPB_ENDS, true, false},
	{"LIKE", OPB_LIKE, false, false},
	{"IS_NULL", OPB_IS_NULL, false, false},
	{"NOT_NULL", OPB_NOT_NULL, false, false},
	{"BETWEEN", OPB_BETWEEN, false, false},
	{"BETWEEN_INCLUSIVE", OPB_BETWEEN_INCL, false, false},
	{"MATCHES_PATTERN", OPB_REGEX, false, false},
	{"IEQUALS", OPB_EQ, false, true},
	{"INOT_EQUAL", OPB_EQ, true, true},
	{"ICONTAINS", OPB_CONTAINS, false, true},
	{"INOT_CONTAINS", OPB_CONTAINS, true, true},
	{"ISTARTS_WITH", OPB_STARTS, false, true},
	{"INOT_STARTS_WITH", OPB_STARTS, true, true},
	{"IENDS_WITH", OPB_ENDS, false, true},
	{"INOT_ENDS_WITH", OPB_ENDS, true, true}
};
const int	cw_cond_nops = lengthof(cw_cond_ops);

#define CW_OP_LIST \
	"EQUALS, NOT_EQUAL, GREATER_THAN, GREATER_OR_EQUAL, LESS_THAN, " \
	"LESS_OR_EQUAL, CONTAINS, NOT_CONTAINS, STARTS_WITH, NOT_STARTS_WITH, " \
	"ENDS_WITH, NOT_ENDS_WITH, LIKE, IS_NULL, NOT_NULL, BETWEEN, " \
	"BETWEEN_INCLUSIVE, MATCHES_PATTERN, IEQUALS, INOT_EQUAL, ICONTAINS, " \
	"INOT_CONTAINS, ISTARTS_WITH, INOT_STARTS_WITH, IENDS_WITH, INOT_ENDS_WITH"


typedef struct CompileState
{
	const char *where;
	StringInfoData path;		/* sub-path of the node being compiled */
	const char *function_schema;
	MemoryContext cxt;
	int			nodes;			/* nodes compiled so far */
	bool		merge;			/* merge groups (cw_op_merges) */
} CompileState;

static CwCondition *compile_node(CompileState *st, JsonbValue *node, int depth);

/* ----------------------------------------------------------------
 * Compile-time helpers
 * ----------------------------------------------------------------
 */

/* Raise the 22023 error for the node being compiled; sub names the key. */
static void
pg_attribute_noreturn()
cond_error(CompileState *st, const char *sub, const char *what,
		   const char *detail, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid condition at %s%s%s: %s",
					st->where, st->path.data, sub ? sub : "", what),
			 detail ? errdetail("%s", detail) : 0,
			 hint ? errhint("%s", hint) : 0));
	pg_unreachable();
}

/* Raise the 54000 error of a condition beyond one of its limits. */
static void
pg_attribute_noreturn()
limit_error(CompileState *st, const char *sub, const char *what,
			const char *detail, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("condition exceeds a limit at %s%s%s: %s",
					st->where, st->path.data, sub ? sub : "", what),
			 errdetail("%s", detail),
			 errhint("%s", hint)));
	pg_unreachable();
}

/*
 * Count one node of the condition: the object being compiled, or value
 * number value_index (>= 0) of its array condition.
 */
static void
count_node(CompileState *st, int value_index)
{
	if (++st->nodes > CW_COND_MAX_NODES)
		limit_error(st,
					value_index >= 0 ? psprintf(".values[%d]", value_index) : NULL,
					psprintf("more than %d nodes", CW_COND_MAX_NODES),
					psprintf("A condition has at most %d nodes: each condition object and each value of an array condition counts one.",
							 CW_COND_MAX_NODES),
					"Split it into several smaller conditions, e.g. search in parts and combine the results.");
}

/* Copy of a JSON string into the cache context, NUL-terminated. */
static char *
cxt_strndup(CompileState *st, const char *s, int len)
{
	char	   *r = MemoryContextAlloc(st->cxt, len + 1);

	memcpy(r, s, len);
	r[len] = '\0';
	return r;
}

/* Copy an object/array value into a Jsonb of its own in the cache context. */
static Jsonb *
cxt_jsonb(CompileState *st, JsonbValue *v)
{
	MemoryContext old = MemoryContextSwitchTo(st->cxt);
	Jsonb	   *jb = JsonbValueToJsonb(v);

	MemoryContextSwitchTo(old);
	return jb;
}

/* Copy of a numeric into the cache context. */
static Numeric
cxt_numeric(CompileState *st, Numeric n)
{
	Numeric		r = MemoryContextAlloc(st->cxt, VARSIZE(n));

	memcpy(r, n, VARSIZE(n));
	return r;
}

/*
 * Convert an operand (anything but null) into a CondValue in the cache
 * context.  Objects and arrays only where allow_container.
 */
static void
build_value(CompileState *st, JsonbValue *v, bool allow_container,
			bool icase, const char *sub, const char *opname, CondValue *out)
{
	memset(out, 0, sizeof(CondValue));
	out->boolval = -1;

	switch (v->type)
	{
		case jbvString:
			{
				int			len = v->val.string.len;
				char	   *s = cxt_strndup(st, v->val.string.val, len);

				out->jv.type = jbvString;
				out->jv.val.string.val = s;
				out->jv.val.string.len = len;
				out->text = s;
				out->textlen = len;
				if (cw_looks_numeric(s, len))
					out->num = cxt_numeric(st, cw_text_to_numeric(s, len));
				out->boolval = cw_text_bool(s, len);
				break;
			}
		case jbvNumeric:
			{
				char	   *t;

				out->num = cxt_numeric(st, v->val.numeric);
				out->jv.type = jbvNumeric;
				out->jv.val.numeric = out->num;
				t = DatumGetCString(DirectFunctionCall1(numeric_out,
														NumericGetDatum(out->num)));
				out->textlen = strlen(t);
				out->text = cxt_strndup(st, t, out->textlen);
				break;
			}
		case jbvBool:
			out->jv.type = jbvBool;
			out->jv.val.boolean = v->val.boolean;
			out->boolval = v->val.boolean ? 1 : 0;
			out->text = v->val.boolean ? "true" : "false";
			out->textlen = strlen(out->text);
			break;
		case jbvBinary:
			{
				Jsonb	   *copy;

				if (!allow_container)
					cond_error(st, sub,
							   psprintf("operator %s needs a string, number or boolean value, not an %s",
										opname, JsonbTypeName(v)),
							   NULL, NULL);
				copy = cxt_jsonb(st, v);
				out->jv.type = jbvBinary;
				out->jv.val.binary.data = &copy->root;
				out->jv.val.binary.len = VARSIZE(copy) - VARHDRSZ;
				break;
			}
		default:
			elog(ERROR, "unexpected jsonb value type %d in condition operand",
				 (int) v->type);
	}

	if (icase && out->text)
	{
		char	   *low = str_tolower(out->text, out->textlen,
									  DEFAULT_COLLATION_OID);

		out->lowerlen = strlen(low);
		out->lower = cxt_strndup(st, low, out->lowerlen);
		pfree(low);
	}
}

/*
 * A ".name" step (or the implicit first name of "a.b") of jsonPath p,
 * whose name starts at offset i, into *step; returns the offset after it.
 */
static int
path_name_step(CompileState *st, const char *p, int len, int i, const char *sub,
			   PathStep *step)
{
	int			start = i;

	while (i < len && p[i] != '.' && p[i] != '[')
		i++;
	if (i == start)
		cond_error(st, sub,
				   psprintf("invalid jsonPath \"%s\": empty field name at offset %d",
							cw_clip_text(p, len, CW_SHOW_MAX), start),
				   NULL, NULL);
	if (i - start == 1 && p[start] == '*')
		cond_error(st, sub,
				   psprintf("invalid jsonPath \"%s\": \".*\" is not supported",
							cw_clip_text(p, len, CW_SHOW_MAX)),
				   NULL, "Use [*] to match any element of an array.");
	step->kind = PS_KEY;
	step->keylen = i - start;
	step->key = cxt_strndup(st, p + start, step->keylen);
	if (step->keylen <= 9)
	{
		int			k;

		for (k = 0; k < step->keylen; k++)
			if (!isdigit((unsigned char) step->key[k]))
				break;
		if (k == step->keylen)
			step->index = atoi(step->key);
	}
	return i;
}

/*
 * A "[...]" step of jsonPath p (quoted name, [*] or [N]), whose content
 * starts at offset i, into *step; returns the offset after the "]".
 */
static int
path_bracket_step(CompileState *st, CwCondition *c, const char *p, int len, int i,
				  const char *sub, PathStep *step)
{
	if (i < len && (p[i] == '\'' || p[i] == '"'))
	{
		char		q = p[i++];
		StringInfoData name;

		initStringInfo(&name);
		while (i < len && p[i] != q)
		{
			CHECK_FOR_INTERRUPTS();
			if (p[i] == '\\' && i + 1 < len)
				i++;
			appendStringInfoChar(&name, p[i]);
			i++;
		}
		if (i >= len || i + 1 >= len || p[i + 1] != ']')
			cond_error(st, sub,
					   psprintf("invalid jsonPath \"%s\": unterminated quoted name",
								cw_clip_text(p, len, CW_SHOW_MAX)),
					   NULL, NULL);
		i += 2;
		step->kind = PS_KEY;
		step->keylen = name.len;
		step->key = cxt_strndup(st, name.data, name.len);
		pfree(name.data);
	}
	else if (i + 1 < len && p[i] == '*' && p[i + 1] == ']')
	{
		i += 2;
		step->kind = PS_ANY;
		c->wildcard = true;
	}
	else if (i < len && isdigit((unsigned char) p[i]))
	{
		int64		n = 0;

		while (i < len && isdigit((unsigned char) p[i]))
		{
			n = n * 10 + (p[i] - '0');
			if (n > INT_MAX)
				cond_error(st, sub,
						   psprintf("invalid jsonPath \"%s\": array index out of range",
									cw_clip_text(p, len, CW_SHOW_MAX)),
						   NULL, NULL);
			i++;
		}
		if (i >= len || p[i] != ']')
			cond_error(st, sub,
					   psprintf("invalid jsonPath \"%s\": missing \"]\" after array index",
								cw_clip_text(p, len, CW_SHOW_MAX)),
					   NULL, NULL);
		i++;
		step->kind = PS_INDEX;
		step->index = (int) n;
	}
	else
		cond_error(st, sub,
				   psprintf("invalid jsonPath \"%s\": expected a quoted name, an index or * after \"[\" at offset %d",
							cw_clip_text(p, len, CW_SHOW_MAX), i - 1),
				   NULL, NULL);
	return i;
}

/* Parse one jsonPath into steps in the cache context. */
static void
parse_path(CompileState *st, CwCondition *c, const char *p, int len,
		   const char *sub)
{
	int			i = 0;
	int			cap = 8;
	bool		implicit_name = false;

	c->steps = MemoryContextAlloc(st->cxt, cap * sizeof(PathStep));
	c->nsteps = 0;

	if (len == 0)
		cond_error(st, sub, "jsonPath is empty", NULL,
				   "Use \"$\" for the whole data, \"$.field\" for a field.");
	if (p[0] == '$')
		i = 1;
	else if (p[0] != '.' && p[0] != '[')
		implicit_name = true;	/* "a.b" means "$.a.b" */

	while (i < len || implicit_name)
	{
		PathStep	step;

		CHECK_FOR_INTERRUPTS();
		if (c->nsteps == CW_PATH_MAX_STEPS)
			limit_error(st, sub,
						psprintf("jsonPath has more than %d steps",
								 CW_PATH_MAX_STEPS),
						psprintf("A jsonPath has at most %d steps (names, [N] and [*]).",
								 CW_PATH_MAX_STEPS),
						"Address the field with a shorter path.");
		memset(&step, 0, sizeof(step));
		step.index = -1;

		if (implicit_name || p[i] == '.')
		{
			if (!implicit_name)
				i++;
			implicit_name = false;
			i = path_name_step(st, p, len, i, sub, &step);
		}
		else if (p[i] == '[')
			i = path_bracket_step(st, c, p, len, i + 1, sub, &step);
		else
			cond_error(st, sub,
					   psprintf("invalid jsonPath \"%s\": unexpected character at offset %d",
								cw_clip_text(p, len, CW_SHOW_MAX), i),
					   NULL,
					   "Write paths as $.field.sub, $.list[0], $['odd name'] or $.list[*].field.");

		if (c->nsteps == cap)
		{
			cap *= 2;
			c->steps = repalloc(c->steps, cap * sizeof(PathStep));
		}
		c->steps[c->nsteps++] = step;
	}
}

/* Read the jsonPath key of a simple or array condition. */
static void
compile_json_path(CompileState *st, CwCondition *c, JsonbContainer *obj)
{
	JsonbValue	pv;

	if (!cw_jb_key(obj, "jsonPath", &pv))
		cond_error(st, NULL, "\"jsonPath\" is required", NULL, NULL);
	if (pv.type != jbvString)
		cond_error(st, ".jsonPath",
				   psprintf("jsonPath must be a string, not %s",
							JsonbTypeName(&pv)),
				   NULL, NULL);
	c->path_len = pv.val.string.len;
	c->path_text = cxt_strndup(st, pv.val.string.val, c->path_len);
	parse_path(st, c, pv.val.string.val, pv.val.string.len, ".jsonPath");
}

/*
 * The operator of a simple or lifecycle condition, under any of its three
 * spellings (operatorType, operator, operation; first found wins).
 */
static const OpInfo *
compile_operator(CompileState *st, JsonbContainer *obj)
{
	static const char *const keys[] = {"operatorType", "operator", "operation"};
	JsonbValue	ov;
	int			k;

	for (k = 0; k < lengthof(keys); k++)
	{
		char	   *sub;
		int			i;

		if (!cw_jb_key(obj, keys[k], &ov))
			continue;
		sub = psprintf(".%s", keys[k]);
		if (ov.type != jbvString)
			cond_error(st, sub,
					   psprintf("%s must be a string, not %s", keys[k],
								JsonbTypeName(&ov)),
					   NULL, NULL);
		for (i = 0; i < cw_cond_nops; i++)
			if (cw_jbv_ieq(&ov, cw_cond_ops[i].name))
				return &cw_cond_ops[i];
		cond_error(st, sub,
				   psprintf("unknown operator \"%s\"",
							cw_clip_text(ov.val.string.val, ov.val.string.len, CW_SHOW_MAX)),
				   "Valid operators are " CW_OP_LIST ".", NULL);
	}
	cond_error(st, NULL, "\"operatorType\" is required", NULL,
			   "Give the operator as \"operatorType\": \"EQUALS\" (or under \"operator\" / \"operation\").");
	return NULL;				/* keep compiler quiet */
}

/* Tokenize a LIKE pattern: % any run, _ one character, \ escapes. */
static void
compile_like(CompileState *st, CwCondition *c)
{
	const char *p = c->val.text;
	int			len = c->val.textlen;
	char	   *lits = MemoryContextAlloc(st->cxt, len + 1);
	int			nlit = 0;
	int			i = 0;

	c->like = MemoryContextAlloc(st->cxt, (len + 1) * sizeof(LikeTok));
	c->nlike = 0;
	while (i < len)
	{
		LikeTok    *prev = c->nlike > 0 ? &c->like[c->nlike - 1] : NULL;

		CHECK_FOR_INTERRUPTS();
		if (p[i] == '%')
		{
			if (!prev || prev->kind != LT_ANY)
			{
				c->like[c->nlike].kind = LT_ANY;
				c->nlike++;
			}
			i++;
		}
		else if (p[i] == '_')
		{
			c->like[c->nlike].kind = LT_ONE;
			c->nlike++;
			i++;
		}
		else
		{
			int			clen;

			if (p[i] == '\\' && i + 1 < len)
				i++;			/* escaped character is literal */
			clen = Min(pg_mblen(p + i), len - i);
			if (!prev || prev->kind != LT_LITERAL)
			{
				c->like[c->nlike].kind = LT_LITERAL;
				c->like[c->nlike].lit = lits + nlit;
				c->like[c->nlike].len = 0;
				c->nlike++;
				prev = &c->like[c->nlike - 1];
			}
			memcpy(lits + nlit, p + i, clen);
			nlit += clen;
			prev->len += clen;
			i += clen;
		}
	}
}

/* Free a compiled regular expression (malloc'd) with its cache context. */
static void
regex_free_callback(void *arg)
{
	pg_regfree((regex_t *) arg);
}

/* pg_regcomp on a byte string; returns the regcomp result code. */
static int
regcomp_bytes(regex_t *re, const char *s, int len)
{
	pg_wchar   *w = palloc((len + 1) * sizeof(pg_wchar));
	int			wlen = pg_mb2wchar_with_len(s, w, len);
	int			rc;

	rc = pg_regcomp(re, w, wlen, REG_ADVANCED | REG_NOSUB, DEFAULT_COLLATION_OID);
	pfree(w);
	return rc;
}

/*
 * Compile MATCHES_PATTERN's regex once, anchored to match the whole value:
 * ^(?:pattern)$, after any leading "***:" director or (?flags) options.
 */
static void
compile_regex(CompileState *st, CwCondition *c)
{
	const char *p = c->val.text;
	int			len = c->val.textlen;
	int			prefix = 0;
	bool		expanded = false;
	regex_t		probe;
	int			rc;
	StringInfoData buf;
	MemoryContextCallback *cb;

	/* Check the pattern as written, for an honest error message. */
	rc = regcomp_bytes(&probe, p, len);
	if (rc != REG_OKAY)
	{
		char		msg[100];

		if (rc == REG_CANCEL)
			CHECK_FOR_INTERRUPTS();
		pg_regerror(rc, &probe, msg, sizeof(msg));
		cond_error(st, ".value",
				   psprintf("invalid regular expression \"%s\": %s",
							cw_clip_text(p, len, CW_SHOW_MAX), msg),
				   NULL, NULL);
	}
	pg_regfree(&probe);

	if (len >= 4 && strncmp(p, "***", 3) == 0)
	{
		if (p[3] == '=')
			cond_error(st, ".value",
					   "the \"***=\" director is not supported by MATCHES_PATTERN",
					   NULL, "Escape the pattern's special characters instead.");
		if (p[3] == ':')
			prefix = 4;
	}
	if (len - prefix >= 3 && p[prefix] == '(' && p[prefix + 1] == '?' &&
		isalpha((unsigned char) p[prefix + 2]))
	{
		int			j = prefix + 2;

		while (j < len && isalpha((unsigned char) p[j]))
		{
			CHECK_FOR_INTERRUPTS();
			if (p[j] == 'b' || p[j] == 'e' || p[j] == 'q')
				cond_error(st, ".value",
						   psprintf("embedded option \"%c\" is not supported by MATCHES_PATTERN",
									p[j]),
						   NULL, NULL);
			if (p[j] == 'x')
				expanded = true;
			j++;
		}
		if (j < len && p[j] == ')')
			prefix = j + 1;
	}

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, p, prefix);
	appendStringInfoString(&buf, "^(?:");
	appendBinaryStringInfo(&buf, p + prefix, len - prefix);
	/* in expanded syntax a trailing # comment would swallow the anchor */
	appendStringInfoString(&buf, expanded ? "\n)$" : ")$");

	c->re_text = cxt_strndup(st, buf.data, buf.len);
	c->re = MemoryContextAllocZero(st->cxt, sizeof(regex_t));
	cb = MemoryContextAllocZero(st->cxt, sizeof(MemoryContextCallback));
	rc = regcomp_bytes(c->re, buf.data, buf.len);
	if (rc != REG_OKAY)
	{
		char		msg[100];

		if (rc == REG_CANCEL)
			CHECK_FOR_INTERRUPTS();
		pg_regerror(rc, c->re, msg, sizeof(msg));
		c->re = NULL;
		cond_error(st, ".value",
				   psprintf("invalid regular expression \"%s\": %s",
							cw_clip_text(p, len, CW_SHOW_MAX), msg),
				   NULL, NULL);
	}
	cb->func = regex_free_callback;
	cb->arg = c->re;
	MemoryContextRegisterResetCallback(st->cxt, cb);
	pfree(buf.data);
}

/*
 * A date operand of a lifecycle date field, parsed like timestamptz_in but
 * reporting a bad date as an invalid condition instead of 22007.
 */
static TimestampTz
parse_date(CompileState *st, JsonbValue *v, const char *sub)
{
	char	   *str;
	char		workbuf[MAXDATELEN + MAXDATEFIELDS];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf;
	int			dterr;
	int			dtype;
	struct pg_tm tt,
			   *tm = &tt;
	fsec_t		fsec;
	int			tz;
	TimestampTz result = 0;
	int			i;

	if (v->type != jbvString)
		cond_error(st, sub,
				   psprintf("a date must be a string, not %s", JsonbTypeName(v)),
				   NULL, "Write dates as ISO 8601 strings, e.g. \"2024-05-01T12:00:00Z\".");
	str = pnstrdup(v->val.string.val, v->val.string.len);
	dterr = ParseDateTime(str, workbuf, sizeof(workbuf), field, ftype,
						  MAXDATEFIELDS, &nf);
	if (dterr == 0)
	{
		for (i = 0; i < nf; i++)
			if (strcmp(field[i], "now") == 0 || strcmp(field[i], "today") == 0 ||
				strcmp(field[i], "tomorrow") == 0 ||
				strcmp(field[i], "yesterday") == 0)
				cond_error(st, sub,
						   psprintf("relative date \"%s\" is not allowed",
									cw_clip_text(str, strlen(str), CW_SHOW_MAX)),
						   "A condition is compiled once; a relative date would be frozen at that moment.",
						   NULL);
		dterr = DecodeDateTime(field, ftype, nf, &dtype, tm, &fsec, &tz);
	}
	if (dterr != 0)
		cond_error(st, sub,
				   psprintf("invalid date \"%s\"", cw_clip_text(str, strlen(str), CW_SHOW_MAX)),
				   NULL, "Write dates as ISO 8601 strings, e.g. \"2024-05-01T12:00:00Z\".");
	switch (dtype)
	{
		case DTK_DATE:
			if (tm2timestamp(tm, fsec, &tz, &result) != 0)
				cond_error(st, sub,
						   psprintf("date out of range \"%s\"",
									cw_clip_text(str, strlen(str), CW_SHOW_MAX)),
						   NULL, NULL);
			break;
		case DTK_EPOCH:
			result = SetEpochTimestamp();
			break;
		case DTK_LATE:
			TIMESTAMP_NOEND(result);
			break;
		case DTK_EARLY:
			TIMESTAMP_NOBEGIN(result);
			break;
		default:
			cond_error(st, sub,
					   psprintf("invalid date \"%s\"", cw_clip_text(str, strlen(str), CW_SHOW_MAX)),
					   NULL, NULL);
	}
	pfree(str);
	return result;
}

/* A date operand: its instant, and its string for the tree's walkers. */
static void
date_value(CompileState *st, JsonbValue *v, const char *sub, CondValue *out)
{
	out->ts = parse_date(st, v, sub);
	out->jv.type = jbvString;
	out->jv.val.string.len = v->val.string.len;
	out->jv.val.string.val = cxt_strndup(st, v->val.string.val,
										 v->val.string.len);
}

/* The operand(s) of a simple or lifecycle condition. */
static void
compile_operand(CompileState *st, CwCondition *c, JsonbContainer *obj)
{
	const OpInfo *op = c->op;
	JsonbValue	vv;
	bool		allow_container = (op->base == OPB_EQ && !op->icase) ||
		op->base == OPB_CONTAINS;

	if (op->base == OPB_IS_NULL || op->base == OPB_NOT_NULL)
		return;					/* value, if any, is ignored */

	if (!cw_jb_key(obj, "value", &vv))
		cond_error(st, NULL,
				   psprintf("\"value\" is required for operator %s", op->name),
				   NULL, NULL);
	if (vv.type == jbvNull)
		cond_error(st, ".value",
				   psprintf("value must not be null for operator %s", op->name),
				   NULL, "Use IS_NULL or NOT_NULL to test for null.");

	if (op->base == OPB_BETWEEN || op->base == OPB_BETWEEN_INCL)
	{
		JsonbValue *lo,
				   *hi;
		JsonbContainer *jc;

		if (!cw_jbv_is_container(&vv, true) ||
			JsonContainerSize(vv.val.binary.data) != 2)
			cond_error(st, ".value",
					   psprintf("value of %s must be an array [low, high]",
								op->name),
					   NULL, NULL);
		jc = vv.val.binary.data;
		lo = getIthJsonbValueFromContainer(jc, 0);
		hi = getIthJsonbValueFromContainer(jc, 1);
		if (lo->type == jbvNull || hi->type == jbvNull)
			cond_error(st, ".value",
					   psprintf("bounds of %s must not be null", op->name),
					   NULL, NULL);
		if (c->date_field)
		{
			date_value(st, lo, ".value[0]", &c->val);
			date_value(st, hi, ".value[1]", &c->hi);
		}
		else
		{
			build_value(st, lo, false, false, ".value[0]", op->name, &c->val);
			build_value(st, hi, false, false, ".value[1]", op->name, &c->hi);
		}
		return;
	}

	if (c->date_field)
	{
		date_value(st, &vv, ".value", &c->val);
		return;
	}

	if ((op->base == OPB_LIKE || op->base == OPB_REGEX) && vv.type != jbvString)
		cond_error(st, ".value",
				   psprintf("operator %s needs a string value, not %s",
							op->name, JsonbTypeName(&vv)),
				   NULL, NULL);

	build_value(st, &vv, allow_container, op->icase, ".value", op->name,
				&c->val);

	if (op->base == OPB_LIKE)
		compile_like(st, c);
	else if (op->base == OPB_REGEX)
		compile_regex(st, c);
}

/* {"type":"simple","jsonPath":...,"operatorType":...,"value":...} */
static void
compile_simple(CompileState *st, CwCondition *c, JsonbContainer *obj)
{
	c->kind = CK_SIMPLE;
	compile_json_path(st, c, obj);
	c->op = compile_operator(st, obj);
	compile_operand(st, c, obj);
}

/* {"type":"lifecycle","field":...,"operatorType":...,"value":...} */
static void
compile_lifecycle(CompileState *st, CwCondition *c, JsonbContainer *obj)
{
	static const struct
	{
		const char *name;
		LifeField	field;
	}			fields[] = {
		{"state", LF_STATE},
		{"creationDate", LF_CREATION_DATE},
		{"lastUpdateTime", LF_LAST_UPDATE_TIME},
		{"previousTransition", LF_PREVIOUS_TRANSITION},
		{"transitionForLatestSave", LF_PREVIOUS_TRANSITION},
		{"id", LF_ID}
	};
	JsonbValue	fv;
	int			i;

	c->kind = CK_LIFECYCLE;
	if (!cw_jb_key(obj, "field", &fv))
		cond_error(st, NULL, "\"field\" is required for a lifecycle condition",
				   NULL, NULL);
	if (fv.type != jbvString)
		cond_error(st, ".field",
				   psprintf("field must be a string, not %s", JsonbTypeName(&fv)),
				   NULL, NULL);
	for (i = 0; i < lengthof(fields); i++)
		if (cw_jbv_ieq(&fv, fields[i].name))
			break;
	if (i == lengthof(fields))
		cond_error(st, ".field",
				   psprintf("unknown lifecycle field \"%s\"",
							cw_clip_text(fv.val.string.val, fv.val.string.len, CW_SHOW_MAX)),
				   "Valid fields are state, creationDate, lastUpdateTime, previousTransition and id.",
				   NULL);
	c->field = fields[i].field;
	c->field_name = fields[i].name;
	c->date_field = (c->field == LF_CREATION_DATE ||
					 c->field == LF_LAST_UPDATE_TIME);

	c->op = compile_operator(st, obj);
	/* as cyoda-go: CONTAINS on creationDate is accepted and never matches */
	if (c->field == LF_CREATION_DATE && c->op->base == OPB_CONTAINS &&
		!c->op->negate && !c->op->icase)
	{
		c->never = true;
		return;
	}
	if (c->date_field)
	{
		switch (c->op->base)
		{
			case OPB_EQ:
				if (!c->op->icase)
					break;
				/* FALLTHROUGH */
			case OPB_CONTAINS:
			case OPB_STARTS:
			case OPB_ENDS:
			case OPB_LIKE:
			case OPB_REGEX:
				cond_error(st, NULL,
						   psprintf("operator %s cannot be used on date field %s",
									c->op->name, fields[i].name),
						   "Dates take EQUALS, NOT_EQUAL, GREATER_THAN, GREATER_OR_EQUAL, LESS_THAN, LESS_OR_EQUAL, BETWEEN, BETWEEN_INCLUSIVE, IS_NULL and NOT_NULL.",
						   NULL);
			default:
				break;
		}
	}
	compile_operand(st, c, obj);
}

/* {"type":"array","jsonPath":...,"values":[...]} */
static void
compile_array(CompileState *st, CwCondition *c, JsonbContainer *obj)
{
	JsonbValue	vv;
	JsonbContainer *jc;
	int			i;

	c->kind = CK_ARRAY;
	compile_json_path(st, c, obj);
	if (c->wildcard)
		cond_error(st, ".jsonPath",
				   "[*] is not allowed in the path of an array condition",
				   NULL, NULL);
	if (!cw_jb_key(obj, "values", &vv))
		cond_error(st, NULL, "\"values\" is required for an array condition",
				   NULL, NULL);
	if (!cw_jbv_is_container(&vv, true))
		cond_error(st, ".values",
				   psprintf("values must be an array, not %s", JsonbTypeName(&vv)),
				   NULL, NULL);
	jc = vv.val.binary.data;
	c->nvalues = JsonContainerSize(jc);
	c->values = MemoryContextAllocZero(st->cxt,
									   Max(c->nvalues, 1) * sizeof(CondValue));
	c->skip = MemoryContextAllocZero(st->cxt, Max(c->nvalues, 1) * sizeof(bool));
	for (i = 0; i < c->nvalues; i++)
	{
		JsonbValue *e;

		CHECK_FOR_INTERRUPTS();
		count_node(st, i);
		e = getIthJsonbValueFromContainer(jc, i);
		if (e->type == jbvNull)
			c->skip[i] = true;
		else
			build_value(st, e, true, false, psprintf(".values[%d]", i),
						"array", &c->values[i]);
		pfree(e);
	}
}

/* {"type":"group","operator":"AND"|"OR"|"NOT","conditions":[...]} */
static void
compile_group(CompileState *st, CwCondition *c, JsonbContainer *obj,
			  int depth)
{
	static const char *const keys[] = {"operator", "operatorType", "operation"};
	JsonbValue	ov;
	JsonbValue	cv;
	JsonbContainer *jc;
	bool		found = false;
	int			k,
				i;

	for (k = 0; k < lengthof(keys) && !found; k++)
	{
		char	   *sub;

		if (!cw_jb_key(obj, keys[k], &ov))
			continue;
		found = true;
		sub = psprintf(".%s", keys[k]);
		if (cw_jbv_ieq(&ov, "AND"))
			c->kind = CK_AND;
		else if (cw_jbv_ieq(&ov, "OR"))
			c->kind = CK_OR;
		else if (cw_jbv_ieq(&ov, "NOT"))
			c->kind = CK_NOT;
		else if (ov.type != jbvString)
			cond_error(st, sub,
					   psprintf("group operator must be a string, not %s",
								JsonbTypeName(&ov)),
					   NULL, NULL);
		else
			cond_error(st, sub,
					   psprintf("unknown group operator \"%s\"",
								cw_clip_text(ov.val.string.val, ov.val.string.len, CW_SHOW_MAX)),
					   "Valid group operators are AND, OR and NOT.", NULL);
	}
	if (!found)
		cond_error(st, NULL, "\"operator\" is required for a group condition",
				   NULL, "Give \"operator\": \"AND\", \"OR\" or \"NOT\".");

	if (!cw_jb_key(obj, "conditions", &cv))
		cond_error(st, NULL, "\"conditions\" is required for a group condition",
				   NULL, NULL);
	if (!cw_jbv_is_container(&cv, true))
		cond_error(st, ".conditions",
				   psprintf("conditions must be an array, not %s",
							JsonbTypeName(&cv)),
				   NULL, NULL);
	jc = cv.val.binary.data;
	c->nchildren = JsonContainerSize(jc);
	if (c->kind == CK_NOT && c->nchildren != 1)
		cond_error(st, ".conditions",
				   psprintf("NOT takes exactly one condition, not %d",
							c->nchildren),
				   NULL, "Wrap several conditions in an AND or OR group first.");
	c->children = MemoryContextAllocZero(st->cxt,
										 Max(c->nchildren, 1) * sizeof(CwCondition *));
	for (i = 0; i < c->nchildren; i++)
	{
		JsonbValue *e = getIthJsonbValueFromContainer(jc, i);
		int			save = st->path.len;

		CHECK_FOR_INTERRUPTS();
		appendStringInfo(&st->path, ".conditions[%d]", i);
		c->children[i] = compile_node(st, e, depth + 1);
		st->path.len = save;
		st->path.data[save] = '\0';
		if (c->children[i]->uses_function)
			c->uses_function = true;
		pfree(e);
	}
	if (st->merge && c->kind != CK_NOT && !c->uses_function && c->nchildren > 1)
		cw_cond_merge_group(c, st->cxt);
}

/* {"type":"function","function":{"name":...,"config":{...}}} */
static void
compile_function(CompileState *st, CwCondition *c, JsonbContainer *obj)
{
	JsonbValue	fv;
	JsonbValue	nv;
	JsonbValue	cv;
	CwFunc	   *fn;

	c->kind = CK_FUNCTION;
	c->uses_function = true;
	if (!cw_jb_key(obj, "function", &fv))
		cond_error(st, NULL, "\"function\" is required for a function condition",
				   NULL, "Write {\"type\": \"function\", \"function\": {\"name\": \"my_criterion\"}}.");
	if (!cw_jbv_is_container(&fv, false))
		cond_error(st, ".function",
				   psprintf("function must be an object, not %s",
							JsonbTypeName(&fv)),
				   NULL, NULL);
	if (!cw_jb_key(fv.val.binary.data, "name", &nv) || nv.type != jbvString ||
		nv.val.string.len == 0)
		cond_error(st, ".function.name",
				   "function name must be a non-empty string", NULL, NULL);
	if (nv.val.string.len >= NAMEDATALEN)
		cond_error(st, ".function.name",
				   psprintf("function name \"%s\" is longer than %d bytes",
							cw_clip_text(nv.val.string.val, nv.val.string.len, CW_SHOW_MAX),
							NAMEDATALEN - 1),
				   NULL, NULL);

	fn = MemoryContextAllocZero(st->cxt, sizeof(CwFunc));
	fn->schema = MemoryContextStrdup(st->cxt, st->function_schema);
	fn->name = cxt_strndup(st, nv.val.string.val, nv.val.string.len);
	fn->is_criterion = true;
	fn->resolved_gen = 0;
	fn->oid = InvalidOid;
	fn->cxt = st->cxt;
	c->fn = fn;

	if (cw_jb_key(fv.val.binary.data, "config", &cv) && cv.type != jbvNull)
	{
		if (!cw_jbv_is_container(&cv, false))
			cond_error(st, ".function.config",
					   psprintf("function config must be an object, not %s",
								JsonbTypeName(&cv)),
					   NULL, NULL);
		c->config = cxt_jsonb(st, &cv);
	}
}

/* Compile one condition object (and everything below it). */
static CwCondition *
compile_node(CompileState *st, JsonbValue *node, int depth)
{
	JsonbContainer *obj;
	JsonbValue	tv;
	JsonbValue	probe;
	CwCondition *c;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	if (depth > CW_COND_MAX_DEPTH)
		limit_error(st, NULL,
					psprintf("conditions are nested deeper than %d levels",
							 CW_COND_MAX_DEPTH),
					psprintf("Groups nest at most %d levels deep.",
							 CW_COND_MAX_DEPTH),
					"Flatten the condition: an AND inside an AND (an OR inside an OR) is the same as one group with all their conditions.");
	count_node(st, -1);
	if (!cw_jbv_is_container(node, false))
		cond_error(st, NULL,
				   psprintf("a condition must be a JSON object, not %s",
							JsonbTypeName(node)),
				   NULL, NULL);
	obj = node->val.binary.data;

	c = MemoryContextAllocZero(st->cxt, sizeof(CwCondition));
	if (!st->merge)
		c->source = cxt_jsonb(st, node);	/* for walkers, see cond.h */

	if (!cw_jb_key(obj, "type", &tv) || tv.type == jbvNull)
	{
		/* no type: infer it from the keys present */
		if (cw_jb_key(obj, "jsonPath", &probe))
			compile_simple(st, c, obj);
		else if (cw_jb_key(obj, "conditions", &probe))
			compile_group(st, c, obj, depth);
		else
			cond_error(st, NULL, "condition has no \"type\"", NULL,
					   "Give \"type\": \"simple\", \"group\", \"lifecycle\", \"array\" or \"function\".");
	}
	else if (tv.type != jbvString)
		cond_error(st, ".type",
				   psprintf("type must be a string, not %s", JsonbTypeName(&tv)),
				   NULL, NULL);
	else if (cw_jbv_ieq(&tv, "simple"))
		compile_simple(st, c, obj);
	else if (cw_jbv_ieq(&tv, "group"))
		compile_group(st, c, obj, depth);
	else if (cw_jbv_ieq(&tv, "lifecycle"))
		compile_lifecycle(st, c, obj);
	else if (cw_jbv_ieq(&tv, "array"))
		compile_array(st, c, obj);
	else if (cw_jbv_ieq(&tv, "function"))
		compile_function(st, c, obj);
	else
		cond_error(st, ".type",
				   psprintf("unknown condition type \"%s\"",
							cw_clip_text(tv.val.string.val, tv.val.string.len, CW_SHOW_MAX)),
				   "Valid types are simple, group, lifecycle, array and function.",
				   NULL);
	return c;
}

/*
 * Validate and compile a condition, merging groups where merge.  Everything
 * the result needs lives in cxt; invalid input raises 22023 naming where +
 * the sub-path at fault.
 */
static CwCondition *
condition_compile(Jsonb *cond, const char *where,
				  const char *function_schema, MemoryContext cxt, bool merge)
{
	CompileState st;
	JsonbValue	root;
	CwCondition *c;
	MemoryContext tmp;
	MemoryContext old;

	/* scratch memory of the compilation; the result goes to cxt */
	tmp = AllocSetContextCreate(CurrentMemoryContext,
								"cyoda_wf condition compile",
								ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(tmp);

	st.where = where ? where : "condition";
	st.function_schema = function_schema ? function_schema : "public";
	st.cxt = cxt;
	st.nodes = 0;
	st.merge = merge;
	initStringInfo(&st.path);

	if (JB_ROOT_IS_SCALAR(cond))
	{
		JsonbValue	scalar;

		JsonbExtractScalar(&cond->root, &scalar);
		cond_error(&st, NULL,
				   psprintf("a condition must be a JSON object, not %s",
							JsonbTypeName(&scalar)),
				   NULL, NULL);
	}
	root.type = jbvBinary;
	root.val.binary.data = &cond->root;
	root.val.binary.len = VARSIZE(cond) - VARHDRSZ;

	c = compile_node(&st, &root, 1);

	MemoryContextSwitchTo(old);
	MemoryContextDelete(tmp);
	return c;
}

/* Validate and compile a condition for evaluation (groups merged). */
CwCondition *
cw_condition_compile(Jsonb *cond, const char *where,
					 const char *function_schema, MemoryContext cxt)
{
	return condition_compile(cond, where, function_schema, cxt, true);
}

/* See cond.h. */
CwCondition *
cw_condition_compile_unmerged(Jsonb *cond, const char *where,
							  const char *function_schema, MemoryContext cxt)
{
	return condition_compile(cond, where, function_schema, cxt, false);
}

/* Whether evaluating the condition may call a criterion function. */
bool
cw_condition_uses_function(CwCondition *cond)
{
	return cond != NULL && cond->uses_function;
}

/* fns with the criterion functions the condition calls appended. */
List *
cw_condition_functions(CwCondition *cond, List *fns)
{
	if (cond == NULL || !cond->uses_function)
		return fns;
	if (cond->kind == CK_FUNCTION)
		return lappend(fns, cond->fn);
	check_stack_depth();
	for (int i = 0; i < cond->nchildren; i++)
		fns = cw_condition_functions(cond->children[i], fns);
	return fns;
}
