/*-------------------------------------------------------------------------
 * search_int.h
 *		Private declarations shared by the search*.c files.
 *
 * search.c      the entry points: arguments checked, the query assembled
 *               (source rows, condition, order, page), planned and run
 * search_field.c  parameters, operands, path reads (sort keys) and the
 *               test of a text lifecycle field (cond_eval.c's rules in SQL)
 * search_sql.c  the condition tree (cond.h) written as an SQL predicate
 *-------------------------------------------------------------------------
 */
#ifndef CYODA_WF_SEARCH_INT_H
#define CYODA_WF_SEARCH_INT_H

#include "cond.h"

#include "lib/stringinfo.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

/* The query being written and its parameters. */
typedef struct SqlQuery
{
	StringInfoData sql;
	bool		inline_params;	/* search_sql: literals instead of $n */
	int			nparams;
	int			maxparams;
	Oid		   *types;
	Datum	   *values;
} SqlQuery;

/* The steps of a compiled jsonPath. */
typedef struct Path
{
	int			n;
	const PathStep *steps;
} Path;

/* An operand, in every form the SQL needs; parameters made on first use. */
typedef enum OperandKind
{
	OV_STRING,
	OV_NUMBER,
	OV_BOOL,
	OV_CONTAINER
} OperandKind;

typedef struct Operand
{
	OperandKind kind;
	const char *text;			/* string, number as numeric_out, true/false */
	int			textlen;
	Numeric		num;			/* numeric reading (30 or "30"), or NULL */
	int			boolval;		/* 1/0 for true/"true"/false/"false", else -1 */
	const char *lower;			/* lower-cased text (case-insensitive ops) */
	Jsonb	   *container;		/* OV_CONTAINER */
	const char *pattern;		/* LIKE, MATCHES_PATTERN: the SQL pattern */
	char	   *p_text;
	char	   *p_num;
	char	   *p_bool;
	char	   *p_lower;
} Operand;


/* search_field.c */
extern char *cw_sq_param(SqlQuery *q, Oid type, Datum value);
extern char *cw_sq_op_text(SqlQuery *q, Operand *v);
extern char *cw_sq_array(SqlQuery *q, Oid arraytype, Oid elemtype, Datum *elems, int n);
extern void cw_sq_not_validated(const char *what) pg_attribute_noreturn();
extern void cw_sq_read_operand(const CondValue *cv, Operand *out);
extern void cw_sq_read_operands(const CwCondition *c, Operand *val, Operand *hi);
extern Path cw_sq_node_path(const CwCondition *c);
extern char *cw_sq_path_value(SqlQuery *q, const char *base, const Path *path,
							  int from, int to);
extern void cw_sq_text_leaf(SqlQuery *q, StringInfo out, const char *col,
							const OpInfo *op, Operand *val, Operand *hi);

/* search_sql.c */
extern void cw_sq_condition(SqlQuery *q, StringInfo out, const CwCondition *c);

#endif							/* CYODA_WF_SEARCH_INT_H */
