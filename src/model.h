/*-------------------------------------------------------------------------
 * model.h
 *		Entity models (README: Entity models): the schema of a registered model,
 *		inferred from sample JSON, and the checks every save makes against it.
 *
 * model_schema.c holds the schema tree (inference, merge, conformance,
 * export and its stored jsonb form); model_api.c the SQL functions, the
 * save path checks and GUC cyoda_wf.require_model.
 *-------------------------------------------------------------------------
 */
#ifndef CW_MODEL_H
#define CW_MODEL_H

#include "cyoda_wf.h"
#include "lib/stringinfo.h"

/* Cyoda's DataType names, in DataType order: bit i of a type set is type i. */
typedef enum CwMType
{
	CW_MT_INTEGER, CW_MT_LONG, CW_MT_BIG_INTEGER, CW_MT_UNBOUND_INTEGER,
	CW_MT_DOUBLE, CW_MT_BIG_DECIMAL, CW_MT_UNBOUND_DECIMAL,
	CW_MT_STRING, CW_MT_LOCAL_DATE, CW_MT_LOCAL_DATE_TIME, CW_MT_LOCAL_TIME,
	CW_MT_ZONED_DATE_TIME, CW_MT_YEAR_MONTH, CW_MT_BOOLEAN, CW_MT_NULL,
	CW_MT_COUNT
} CwMType;

#define CW_MT_BIT(t) (1u << (t))

/* Change kinds (and change levels: a level permits its kind and the lower). */
typedef enum CwMChange
{
	CW_MC_NONE = 0,
	CW_MC_ARRAY_LENGTH,
	CW_MC_ARRAY_ELEMENTS,
	CW_MC_TYPE,
	CW_MC_STRUCTURAL,
	CW_MC_INCOMPATIBLE			/* object/array vs scalar: never permitted */
} CwMChange;

typedef struct CwMNode CwMNode;

typedef struct CwMField
{
	char	   *name;
	int			len;
	CwMNode    *node;
} CwMField;

/* What was seen at one path: scalar types, an object's fields, an array. */
struct CwMNode
{
	uint32		types;			/* CW_MT_BIT set of scalar types */
	bool		is_object;
	int			nfields;		/* sorted as jsonb sorts keys (length, bytes) */
	CwMField   *fields;
	bool		is_array;
	int			width;			/* widest array seen */
	CwMNode    *elem;			/* all elements merged */
};

/* A registered model's schema as a save sees it (in the model's context). */
typedef struct CwModelSchema
{
	CwMNode    *root;
	bool		locked;
	int			level;			/* CwMChange permitted; CW_MC_NONE when NULL */
} CwModelSchema;

/* What a check found: the worst change needed and where (first of its kind). */
typedef struct CwMCheck
{
	CwMChange	worst;
	StringInfoData path;		/* the path being walked */
	char	   *at;				/* path of the worst change */
	char	   *expected;
	char	   *actual;
} CwMCheck;

/* model_schema.c */
extern const char *const cw_mchange_names[];
extern CwMNode *cw_mnode_infer(JsonbValue *v);
extern CwMNode *cw_mnode_infer_jsonb(Jsonb *jb);
extern void cw_mnode_merge(CwMNode *into, const CwMNode *from);
extern CwMNode *cw_mnode_copy(const CwMNode *n, MemoryContext cxt);
extern Jsonb *cw_mnode_to_jsonb(const CwMNode *n);
extern CwMNode *cw_mnode_from_jsonb(Jsonb *jb);
extern void cw_mnode_check(const CwMNode *schema, Jsonb *data, CwMCheck *chk);
extern char *cw_mtypes_text(uint32 types);
extern CwMType cw_mtype_of(JsonbValue *v);
extern const CwMNode *cw_mnode_find(const CwMNode *n, const char *name, int len);
extern bool cw_mtype_assignable_to(CwMType t, uint32 types);
extern Jsonb *cw_mnode_export(const CwMNode *root, bool json_schema, bool locked);
extern int	cw_mchange_level(const char *name);

/* model_api.c */
#define CW_REQUIRE_MODEL_OFF	0
#define CW_REQUIRE_MODEL_KNOWN	1
#define CW_REQUIRE_MODEL_ON		2
extern int	cw_require_model;
extern void cw_model_init(void);
extern CwModelSchema *cw_model_schema_load(Jsonb *schema, const char *state,
										   const char *level, MemoryContext cxt);
extern void cw_model_check_save(CwModel *m, Jsonb *data);
extern void cw_model_check_patch(CwModel *m, Jsonb *data);
extern void cw_model_check_condition(const char *model, int32 version, Jsonb *condition);
extern void cw_model_require_registered(const char *model, int32 version, const char *what);

#endif							/* CW_MODEL_H */
