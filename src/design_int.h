/*-------------------------------------------------------------------------
 * design_int.h
 *		Private declarations shared by the design_*.c files and design.c.
 *
 * The design front end: Cyoda design JSON (the seed's "Required Output")
 * checked, translated into native workflow definitions and imported
 * through cw_import_workflows().
 *
 * design_check.c      every rule of the design format, and the native
 *                     compiler run on each translated workflow
 * design_translate.c  a checked design entity into a native workflow
 *                     definition and an import body
 * design.c            the SQL entry points: validate_design() and
 *                     import_design(), from jsonb or text
 *-------------------------------------------------------------------------
 */
#ifndef CYODA_WF_DESIGN_INT_H
#define CYODA_WF_DESIGN_INT_H

#include "cyoda_wf.h"

/* The initial state of every design workflow, as the design writes it. */
#define DESIGN_INITIAL_STATE "None"
#define DESIGN_VERSION 1

/* An entity type of the design format and the sources it allows (A3). */
typedef struct DesignType
{
	const char *name;
	const char *stored;			/* the name stored in cyoda_wf.model */
	int			sources;		/* CW_SOURCE_* */
} DesignType;

/* One row of validate_design(). */
typedef struct DesignIssue
{
	bool		error;
	char	   *path;
	char	   *message;
} DesignIssue;

/* A transition of a design workflow, as far as it could be read. */
typedef struct DTransition
{
	char	   *path;			/* $.entities[i].entity_workflow.transitions[k] */
	char	   *name;			/* NULL: missing or invalid */
	char	   *start;			/* NULL: missing or invalid */
	char	   *end;
	bool		manual;
	bool		has_criteria;	/* "criteria" given (even if invalid) */
	char	   *criteria;		/* criterion function, or NULL */
	char	   *process;		/* process function, or NULL */
	char	   *description;
	char	   *start_description;
	char	   *end_description;
	char	   *criteria_description;
	char	   *process_description;
	List	   *adds;			/* entity names (char *) */
} DTransition;

/* An entity of the design, as far as it could be read. */
typedef struct DEntity
{
	char	   *path;			/* $.entities[i] */
	char	   *name;			/* NULL: missing or invalid */
	const DesignType *type;		/* NULL: missing or unknown */
	char	   *source;			/* normalized, or NULL */
	char	   *depends_on;		/* NULL: none */
	Jsonb	   *object;			/* the entity as written */
	bool		has_workflow;
	char	   *wf_name;
	char	   *wf_description;
	char	   *class_name;
	int			ntransitions;
	DTransition *transitions;
	Jsonb	   *native;			/* translated workflow, when valid */
	char	   *schedule;		/* cron text of a SCHEDULED entity, or NULL */
} DEntity;

/* A process or criterion function the design uses, with its first use. */
typedef struct DFunction
{
	char	   *name;
	bool		is_criterion;
	char	   *path;
	Oid			oid;			/* InvalidOid: does not exist yet */
} DFunction;

/* The whole check of one design. */
typedef struct Design
{
	const char *function_schema;
	List	   *names;			/* every string entity_name, for references */
	List	   *entities;		/* DEntity * */
	List	   *functions;		/* DFunction * */
	List	   *issues;			/* DesignIssue *, in the order found */
	int			nerrors;
} Design;

/* design_check.c */
extern void cw_design_check(Design *d, Jsonb *design, const char *function_schema);

/* design_translate.c */
extern char *cw_design_path_key(const char *path, const char *key);
extern int	cw_design_state_pos(char **states, int n, const char *name);
extern int	cw_design_states(DEntity *e, char ***states_out, char ***where_out);
extern Jsonb *cw_design_translate(DEntity *e);
extern Jsonb *cw_design_import_body(DEntity *e);

#endif							/* CYODA_WF_DESIGN_INT_H */
