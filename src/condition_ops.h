/*-------------------------------------------------------------------------
 * condition_ops.h
 *		The 26 operators of Cyoda's condition language, shared by the
 *		evaluator (conditions.c) and the SQL translation (search.c).
 *-------------------------------------------------------------------------
 */
#ifndef CYODA_WF_CONDITION_OPS_H
#define CYODA_WF_CONDITION_OPS_H

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

/* Every operator by name, defined in conditions.c. */
extern const OpInfo cw_cond_ops[];
extern const int cw_cond_nops;

/*
 * Whether the members of an AND (and_group) or OR group that test one
 * jsonPath with this operator may be merged into one test against the set
 * of their operands, in evaluation (conditions.c) and in the SQL
 * translation (search.c) alike:
 *	OR of EQUALS / IEQUALS: the field equals some operand;
 *	OR of CONTAINS / ICONTAINS: some array element equals some operand, or
 *	the text contains some operand;
 *	AND of NOT_EQUAL / INOT_EQUAL / NOT_CONTAINS / INOT_CONTAINS: the field
 *	is present and none of the above, which is exact only when the path has
 *	no [*] step (each member would pick its own element).
 * The null rule needs nothing more: a missing or null field fails every
 * member and the merged test alike.  Groups that call criterion functions
 * are never merged, so merging cannot change which functions run.
 */
static inline bool
cw_op_merges(const OpInfo *op, bool and_group, bool wildcard)
{
	if (op->base != OPB_EQ && op->base != OPB_CONTAINS)
		return false;
	if (and_group)
		return op->negate && !wildcard;
	return !op->negate;
}

/* A member of a group that may be merged, with its merge key. */
typedef struct CwMergeItem
{
	int			index;			/* position in the group */
	char	   *key;			/* operator and path, as bytes */
	int			keylen;
} CwMergeItem;

/*
 * Sort items by key and mark the runs of two or more equal keys: run_of[i]
 * of group member i is the index (into the sorted items) of its run's first
 * item, or -1; run_len[] of that item is the run's length.  run_of must be
 * initialised to -1 for every member.  Returns whether any run was found.
 * Defined in conditions.c, used by search.c as well.
 */
extern bool cw_merge_runs(CwMergeItem *items, int nitems, int *run_of, int *run_len);

#endif
