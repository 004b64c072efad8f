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

#endif
