/*-------------------------------------------------------------------------
 * catalog.h
 *		The extension's own catalog: its tables, their owner, function
 *		lookup, the switch to the engine owner and kept SPI plans.
 *
 * The bottom of the module graph: it uses only PostgreSQL.
 *-------------------------------------------------------------------------
 */
#ifndef CW_CATALOG_H
#define CW_CATALOG_H

#include "access/tableam.h"
#include "executor/spi.h"

/* The identity and security context in force before a switch. */
typedef struct CwSavedUser
{
	Oid			userid;
	int			sec;
} CwSavedUser;

extern void cw_catalog_init(void);
extern uint64 cw_definitions_generation(void);
extern Oid	cw_relid(const char *relname);
extern bool cw_catalog_rels_known(void);
extern void cw_lock_conflict(TM_Result res);
extern Oid	cw_entity_relid(void);
extern Oid	cw_version_relid(void);
extern Oid	cw_audit_relid(void);
extern Oid	cw_audit_seqid(void);
extern Oid	cw_task_relid(void);
extern Oid	cw_workflow_relid(void);
extern Oid	cw_engine_owner(void);
extern Oid	cw_function_lookup(const char *schema, const char *name);
extern void cw_become_engine_owner(CwSavedUser *saved);
extern void cw_map_columns(Relation rel, const char *const *names, int n, int *attnum);
extern void cw_restore_user(const CwSavedUser *saved);
extern SPIPlanPtr cw_kept_plan(SPIPlanPtr *slot, const char *sql, int nargs,
							   Oid *argtypes);
extern SPIPlanPtr cw_kept_plan_opts(SPIPlanPtr *slot, const char *sql, int nargs,
									Oid *argtypes, int cursor_options);

#endif							/* CW_CATALOG_H */
