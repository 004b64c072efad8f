/*-------------------------------------------------------------------------
 * cond.h
 *		The compiled condition tree, private to the modules that walk it.
 *
 * cond_compile.c compiles a condition's JSON into a tree of CwCondition
 * nodes (validating it: every 22023 / 54000 error comes from there) and
 * cond_eval.c evaluates it; the others only walk the compiled tree and never read the
 * condition's JSON themselves: search_sql.c translates it to SQL, diagram.c
 * summarizes it for a diagram label and lists the criterion functions it
 * calls.  A walker that needs each member of a group as written compiles
 * with cw_condition_compile_unmerged(); the evaluator's tree has merged
 * groups (see cw_op_merges below).
 *
 * For a walker every leaf keeps its source: the jsonPath as written
 * (path_text), the lifecycle field's name, the operator (op), and each
 * operand's JSON value (CondValue.jv; a date operand keeps its string).
 * The unmerged tree also keeps each node's JSON as written (source), so
 * that search_sql.c can hand a subtree to the evaluator
 * (cyoda_wf_internal.matches_condition) as a condition of its own.
 *-------------------------------------------------------------------------
 */
#ifndef CYODA_WF_COND_H
#define CYODA_WF_COND_H

#include "cyoda_wf.h"

#include "regex/regex.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

/* The operator families; the negated and case-insensitive forms are flags. */
typedef enum OpBase
{
	OPB_EQ,
	OPB_GT,
	OPB_GE,
	OPB_LT,
	OPB_LE,
	OPB_CONTAINS,
	OPB_STARTS,
	OPB_ENDS,
	OPB_LIKE,
	OPB_REGEX,
	OPB_IS_NULL,
	OPB_NOT_NULL,
	OPB_BETWEEN,
	OPB_BETWEEN_INCL
} OpBase;

typedef struct OpInfo
{
	const char *name;
	OpBase		base;
	bool		negate;
	bool		icase;
} OpInfo;

/* Every operator by name, defined in cond_compile.c. */
extern const OpInfo cw_cond_ops[];
extern const int cw_cond_nops;

/*
 * Whether the members of an AND (and_group) or OR group that test one
 * jsonPath with this operator may be merged into one test against the set
 * of their operands, in evaluation (cond_eval.c) and in the SQL
 * translation (search_sql.c) alike:
 *	OR of EQUALS / IEQUALS: the field (or some element of an array field)
 *	equals some operand;
 *	OR of CONTAINS / ICONTAINS: the field's text (or some element's)
 *	contains some operand.
 * An OR of tests that each hold when some array element passes is one test
 * that holds when some element passes one of them, so these are exact.  An
 * AND is never merged: NOT_EQUAL "a" AND NOT_EQUAL "b" on ["a", "b"] holds
 * (each member finds its own element), "equal to none" does not.
 * The null rule needs nothing more: a missing or null field fails every
 * member and the merged test alike.  Groups that call criterion functions
 * are never merged, so merging cannot change which functions run.
 */
static inline bool
cw_op_merges(const OpInfo *op, bool and_group)
{
	if (op->base != OPB_EQ && op->base != OPB_CONTAINS)
		return false;
	return !and_group && !op->negate;
}

/*
 * NOT_CONTAINS, NOT_STARTS_WITH, NOT_ENDS_WITH (case-sensitive): they match
 * a present string only, never a number, boolean, object or array element
 * that is not a string (cyoda-go's internal/match).
 */
static inline bool
cw_op_strings_only(const OpInfo *op)
{
	return op->negate && !op->icase &&
		(op->base == OPB_CONTAINS || op->base == OPB_STARTS ||
		 op->base == OPB_ENDS);
}

/* A member of a group that may be merged, with its merge key. */
typedef struct CwMergeItem
{
	int			index;			/* position in the group */
	char	   *key;			/* operator and path, as bytes */
	int			keylen;
} CwMergeItem;

/*
 * The runs of members of group c (AND or OR; none for NOT) that test one
 * path with one operator (cw_op_merges), for the evaluator's merged nodes
 * and the SQL translation's merged tests alike: run_of[i] of member i is
 * the index into items of its run's first item, or -1; run_len[] of that
 * item is the run's length; items[k].index is the member of item k.  The
 * arrays have one entry per member.  Returns whether any run was found.
 * Defined in cond_merge.c.
 */
extern bool cw_group_runs(const CwCondition *c, CwMergeItem *items, int *run_of,
						  int *run_len);

/*
 * Longest string read as a number (keeps numeric_in in range); the SQL
 * translation's numeric test has the same bound.
 */
#define CW_NUMERIC_TEXT_MAX 1000

/* The kinds of node; a group is CK_AND, CK_OR or CK_NOT. */
typedef enum CondKind
{
	CK_SIMPLE,
	CK_LIFECYCLE,
	CK_ARRAY,
	CK_AND,
	CK_OR,
	CK_NOT,
	CK_FUNCTION
} CondKind;

typedef enum PathStepKind
{
	PS_KEY,						/* .name or ['name'] */
	PS_INDEX,					/* [N] */
	PS_ANY						/* [*] */
} PathStepKind;

typedef struct PathStep
{
	PathStepKind kind;
	int			keylen;
	const char *key;
	int			index;			/* PS_INDEX; for PS_KEY the index a
								 * digits-only key means on an array, or -1 */
} PathStep;

typedef enum LifeField
{
	LF_STATE,
	LF_CREATION_DATE,
	LF_LAST_UPDATE_TIME,
	LF_PREVIOUS_TRANSITION,
	LF_ID
} LifeField;

/* An operand, converted once into every form the operators need. */
typedef struct CondValue
{
	JsonbValue	jv;				/* jbvString, jbvNumeric, jbvBool, or
								 * jbvBinary for an object or array */
	Numeric		num;			/* numeric reading (30 or "30"), or NULL */
	int			boolval;		/* 1/0 for true/"true"/false/"false", else -1 */
	const char *text;			/* text form; NULL for objects and arrays */
	int			textlen;
	const char *lower;			/* lower-cased text (case-insensitive ops) */
	int			lowerlen;
	TimestampTz ts;				/* lifecycle date operand (jv: its string) */
} CondValue;

/* LIKE pattern, tokenized. */
typedef enum LikeTokKind
{
	LT_LITERAL,
	LT_ONE,						/* _ */
	LT_ANY						/* % */
} LikeTokKind;

typedef struct LikeTok
{
	LikeTokKind kind;
	int			len;
	const char *lit;
} LikeTok;

/* A string operand of a merged group. */
typedef struct CondText
{
	const char *s;
	int			len;
} CondText;

/*
 * The operands of the members of a merged group, in the forms
 * value_compare() reads them, each sorted for binary search.
 */
typedef struct CondSet
{
	int			nnums;
	Numeric    *nums;			/* numeric readings (30 or "30") */
	bool		has_true;		/* some operand is true or "true" */
	bool		has_false;
	int			ntexts;
	CondText   *texts;			/* string operands, lower-cased when icase */
	int			nconts;
	JsonbContainer **conts;		/* object and array operands */
	int			nsubs;
	CondText   *subs;			/* CONTAINS: every operand's text (unsorted) */
} CondSet;

struct CwCondition
{
	CondKind	kind;
	bool		uses_function;	/* this node or one below is a function */
	Jsonb	   *source;			/* unmerged compile: the node's JSON as
								 * written; NULL in a merged tree */

	/* simple, lifecycle and array */
	const char *path_text;		/* jsonPath as written (simple, array) */
	int			path_len;
	int			nsteps;
	PathStep   *steps;
	bool		wildcard;		/* some step is [*] */
	LifeField	field;
	const char *field_name;		/* lifecycle: the field's name */
	bool		date_field;		/* lifecycle creationDate / lastUpdateTime */
	bool		never;			/* lifecycle CONTAINS on creationDate: never matches */
	const OpInfo *op;
	CondValue	val;			/* operand; low bound of BETWEEN */
	CondValue	hi;				/* high bound of BETWEEN */
	int			nlike;
	LikeTok    *like;
	regex_t    *re;
	const char *re_text;		/* MATCHES_PATTERN anchored: ^(?:pattern)$ */

	/* simple: the operands of a merged group (val is unused), or NULL */
	CondSet    *set;

	/* array */
	int			nvalues;
	CondValue  *values;
	bool	   *skip;			/* values[i] is null: matches anything */

	/* groups */
	int			nchildren;
	CwCondition **children;

	/* function */
	CwFunc	   *fn;
	Jsonb	   *config;
};

/* cond_eval.c: how operands and field values read and order */
extern bool cw_looks_numeric(const char *s, int len);
extern Numeric cw_text_to_numeric(const char *s, int len);
extern int	cw_text_bool(const char *s, int len);
extern int	cw_num_ptr_cmp(const void *a, const void *b);
extern int	cw_text_ptr_cmp(const void *a, const void *b);
extern int	cw_cont_ptr_cmp(const void *a, const void *b);

/* numeric_cmp on two numerics. */
static inline int
cw_num_cmp(Numeric a, Numeric b)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(a),
											 NumericGetDatum(b)));
}

/* Byte-wise string order: memcmp, then the shorter first. */
static inline int
cw_bytes_cmp(const char *a, int alen, const char *b, int blen)
{
	int			r = memcmp(a, b, Min(alen, blen));

	if (r != 0)
		return r;
	return (alen > blen) - (alen < blen);
}

/* cond_merge.c: merge the runs of group c into one node each, in cxt. */
extern void cw_cond_merge_group(CwCondition *c, MemoryContext cxt);

/* Compile without merging groups: one node per member as written. */
extern CwCondition *cw_condition_compile_unmerged(Jsonb *cond, const char *where,
												  const char *function_schema,
												  MemoryContext cxt);

#endif
