/*-------------------------------------------------------------------------
 * cyoda_wf.h
 *		Shared declarations of the cyoda_wf workflow engine.
 *
 * The data path: workflow JSON is validated and compiled by wf_compile.c
 * into the structures below, cached per backend by cache.c, walked by
 * engine.c, whose conditions are evaluated by cond_eval.c and whose
 * processes and criterion functions are called by dispatch.c.  The store_*.c
 * files own the entity table triggers and every write of versions, audit
 * rows, task rows and notifications; catalog.c (catalog.h) the lookups of the
 * extension's own tables and their owner.
 *-------------------------------------------------------------------------
 */
#ifndef CYODA_WF_H
#define CYODA_WF_H

#include "postgres.h"

#include "fmgr.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#define CW_SCHEMA "cyoda_wf"
#define CW_MAX_NAME_LEN 256
#define CW_MAX_STATE_VISITS 10
#define CW_MAX_TRANSITIONS 100
#define CW_DEFAULT_WORKFLOW_NAME "default"

/* Allowed entity sources, as a bit mask on a model. */
#define CW_SOURCE_API_REQUEST	0x01
#define CW_SOURCE_SCHEDULED		0x02
#define CW_SOURCE_ENTITY_EVENT	0x04
#define CW_SOURCE_ANY			0x07

typedef enum CwExecMode
{
	CW_EXEC_SYNC,
	CW_EXEC_ASYNC_SAME_TX,
	CW_EXEC_ASYNC_NEW_TX,
	CW_EXEC_COMMIT_BEFORE_DISPATCH
} CwExecMode;

typedef enum CwRetryPolicy
{
	CW_RETRY_NONE,
	CW_RETRY_FIXED
} CwRetryPolicy;

/*
 * A function named in a workflow (processor or criterion), resolved lazily
 * by dispatch.c in the workflow's function schema and cached until pg_proc
 * changes; the importer's right to run it is cached until functions,
 * schemas or roles change.
 */
typedef struct CwFunc
{
	const char *schema;			/* function schema of the workflow */
	const char *name;			/* function name, exact */
	bool		is_criterion;	/* returns boolean instead of jsonb */
	uint64		resolved_gen;	/* dispatch generation it was resolved at; 0 = never */
	uint64		access_gen;		/* privilege generation access_role was checked at; 0 = never */
	Oid			access_role;	/* role found allowed to run it */
	Oid			oid;
	bool		is_python;		/* in a PL/Python language: its errors are tidied (dispatch.c) */
	MemoryContext cxt;			/* context that holds this CwFunc (the compiled model) */
	FmgrInfo	finfo;
} CwFunc;

/* Opaque compiled condition (cond.h, cond_compile.c). */
typedef struct CwCondition CwCondition;

typedef struct CwProcessor
{
	const char *name;
	CwExecMode	mode;
	const char *context;		/* config.context, or NULL */
	bool		attach_entity;
	int			response_timeout_ms;
	CwRetryPolicy retry_policy;
	CwFunc		func;
} CwProcessor;

typedef struct CwTransition
{
	const char *name;
	int			next;			/* index into the workflow's states */
	bool		manual;
	bool		disabled;
	bool		has_schedule;
	int64		delay_ms;
	int64		timeout_ms;		/* -1 = none */
	bool		is_async;		/* some processor runs ASYNC_NEW_TX / COMMIT_BEFORE_DISPATCH */
	CwCondition *criterion;		/* NULL = always */
	int			nprocessors;
	CwProcessor *processors;
} CwTransition;

typedef struct CwState
{
	const char *name;
	int			ntransitions;
	CwTransition *transitions;
} CwState;

struct HTAB;

typedef struct CwWorkflow
{
	const char *name;
	bool		active;
	CwCondition *criterion;		/* workflow selection; NULL matches all */
	int			initial_state;
	int			nstates;
	CwState    *states;			/* in jsonb key order: see cw_state_index */
	Oid			owner;			/* role processes and criteria run as */
	const char *function_schema;
	bool		has_schedules;	/* some transition has a schedule (timers) */
} CwWorkflow;

/* Everything the engine needs to know about one model version. */
typedef struct CwModel
{
	const char *name;
	int32		version;
	int			sources;		/* CW_SOURCE_* mask of who may create */
	const char *entity_type;	/* NULL when not from a design */
	const char *depends_on;		/* NULL when none */
	int			nworkflows;
	CwWorkflow **workflows;		/* stored order */
	CwWorkflow *default_wf;		/* Cyoda's default workflow, when nothing matches */
	const char *function_schema;
	bool		declared;		/* a cyoda_wf.model row exists */
	struct CwModelSchema *schema;	/* NULL unless registered (model.h) */
	MemoryContext cxt;			/* holds everything above */
	int			pins;			/* saves currently using it */
	bool		dead;			/* dropped from the cache; free at last unpin */
} CwModel;

/* Lifecycle facts a condition may test, besides the data. */
typedef struct CwEvalContext
{
	Jsonb	   *data;
	const char *entity_id;		/* text form, or NULL */
	const char *state;
	const char *previous_transition;
	TimestampTz creation_date;	/* 0 = unknown */
	TimestampTz last_update_time;
	/* function criteria call back into dispatch with this argument */
	void	   *fn_arg;
	bool		(*call_criterion) (void *fn_arg, CwFunc *fn, Jsonb *config);
} CwEvalContext;

/* A task a save queues: an async transition or an armed timer. */
typedef struct CwTaskEntry
{
	const char *transition;
	const char *from_state;
	bool		timer;
	int64		delay_ms;		/* run_at = now + delay_ms */
	int64		timeout_ms;		/* process: response timeout; timer: expiry; -1 none */
	int			max_attempts;
	int			retry_delay_ms;
	bool		named;			/* the transition the save named (fire): NOTICE its id */
} CwTaskEntry;

/* One audit row buffered by a save, written with the save. */
typedef struct CwAuditEntry
{
	TimestampTz at;
	const char *event;
	const char *transition;
	const char *from_state;
	const char *to_state;
	Jsonb	   *detail;
} CwAuditEntry;

/*
 * One save of one entity in progress.  Saves nest (a process may create or
 * update other entities), so they form a stack; the innermost save whose
 * process is running is the parent of entities created meanwhile.
 */
typedef struct CwSave
{
	CwModel    *model;
	CwWorkflow *wf;				/* NULL: the entity's workflow no longer exists */
	const char *wf_name;
	int			state;			/* index in wf->states; -1 when unknown to wf */
	const char *state_name;
	Jsonb	   *data;
	char		id[40];			/* entity id as text */
	TimestampTz created_at;
	TimestampTz updated_at;
	TimestampTz started_at;		/* when this save started (0: with its end) */
	const char *prev_transition;	/* entity's last_transition before the save */
	const char *made;			/* last transition made by this save, or NULL */
	const char *queued;			/* async transition queued by this save, or NULL */
	int			ntransitions;
	uint8	   *visits;			/* per state, this save */
	List	   *audit;			/* CwAuditEntry *, in order */
	List	   *tasks;			/* CwTaskEntry *, queued by this save */
	const char *role;			/* who saves */
	bool		client_data;	/* an update carries new data from the client */
	bool		strict_schema;	/* patch_item: checked, never extends the schema */
	bool		moved;			/* move_entity: workflow and state set by hand */
	int			attempt;		/* attempt number handed to processes */
	/* while a process or criterion function runs */
	bool		in_process;
	const char *cur_transition;
	const char *cur_next;
	char		token[64];
	/* search_path pinned for this save's functions (see cw_engine_pin_path) */
	bool		path_pinned;
	int			path_nestlevel;
	const char *path_prev_schema;
	struct CwSave *outer;
} CwSave;

/* engine.c */
/* what a save asks of the engine (cw_engine_run) */
typedef enum CwRunKind
{
	CW_RUN_CREATE,				/* a new entity: choose a workflow, cascade */
	CW_RUN_UPDATE,				/* an existing entity: named transition or loopback */
	CW_RUN_TASK,				/* a queued transition (async processors) */
	CW_RUN_TIMER				/* a due timer: its criterion decides */
} CwRunKind;

extern int	cw_retry_attempts;	/* cyoda_wf.retry_attempts */
extern int	cw_retry_delay_ms;	/* cyoda_wf.retry_delay_ms */
extern int	cw_min_self_loop_delay;	/* ms: least delay of a timer that leads back */
extern void cw_engine_run(CwSave *s, CwRunKind kind, const char *transition);
extern void cw_engine_move(CwSave *s, const char *workflow, const char *state,
						   const char *reason);
extern int	cw_engine_depth(void);
extern CwSave *cw_engine_running_process(void);
extern CwSave *cw_engine_find_token(const char *token);
extern CwSave *cw_engine_saving(const char *id);
extern CwWorkflow *cw_engine_workflow_by_name(CwModel *m, const char *name);
extern const char *cw_engine_failing_process(void);

/* one row of explain(): a criterion evaluated against the entity now */
typedef struct CwExplainRow
{
	CwTransition *t;			/* NULL: the workflow's own criterion */
	const char *next_state;		/* t's next state */
	bool		matches;
	Jsonb	   *failing;		/* when not: cw_condition_failing's sub-condition */
	Jsonb	   *found;			/* and the value it found (NULL: absent) */
} CwExplainRow;
extern CwExplainRow *cw_engine_explain(CwSave *s, int *nrows);

/* store_rows.c */
extern void cw_store_init(void);
extern void cw_store_flush(void);

/* store_trigger.c: cyoda_wf.notify and cyoda_wf.notify_payload */
typedef enum CwNotifyPayload
{
	CW_NOTIFY_PAYLOAD_FULL,		/* id, model, state, version, changeType,
								 * transition, modelVersion */
	CW_NOTIFY_PAYLOAD_ID		/* id and changeType only */
} CwNotifyPayload;
extern bool cw_notify;
extern int	cw_notify_payload;

/* tasks.c */
extern int	cw_task_retention;	/* seconds finished tasks are kept; -1 forever */
extern bool cw_task_run_one(void);
extern int64 cw_task_next_due_ms(void);
extern void cw_task_sweep(void);
extern int64 cw_task_prune(Interval *older_than, bool include_failed, int64 limit);
extern Interval *cw_task_retention_interval(void);

/* workers.c */
extern int	cw_workers;			/* cyoda_wf.workers */
extern char *cw_database_name;	/* cyoda_wf.database_name */
extern int	cw_worker_idle_ms;	/* cyoda_wf.worker_idle_ms */
extern void cw_workers_init(void);
extern void cw_workers_wake_on_commit(bool process);
extern bool cw_workers_db_missing(int slot);
extern void cw_workers_set_db_missing(int slot, bool missing);

/* schedules.c */
extern void cw_schedules_init(void);

/* wf_compile.c */
extern CwWorkflow *cw_compile_workflow(Jsonb *def, const char *model,
									   Oid owner, const char *function_schema,
									   Jsonb **normalized, MemoryContext cxt);
extern CwWorkflow *cw_default_workflow(const char *function_schema, MemoryContext cxt);
extern int	cw_state_index(CwWorkflow *wf, const char *state);

/* wf_import.c */
typedef struct CwImportOptions
{
	bool		force;			/* store even when entities would be stranded */
	bool		dry_run;		/* validate and plan only; store nothing */
} CwImportOptions;
extern void cw_import_parse_options(Jsonb *options, CwImportOptions *opts);
extern Jsonb *cw_import_workflows(const char *model, int32 version, Jsonb *body,
								  const char *function_schema,
								  const CwImportOptions *opts);

/* cond_compile.c */
extern CwCondition *cw_condition_compile(Jsonb *cond, const char *where,
										 const char *function_schema,
										 MemoryContext cxt);
extern bool cw_condition_uses_function(CwCondition *cond);
extern List *cw_condition_functions(CwCondition *cond, List *fns);

/* cond_eval.c */
extern bool cw_condition_eval(CwCondition *cond, CwEvalContext *ctx);
extern Jsonb *cw_condition_failing(CwCondition *cond, CwEvalContext *ctx, Jsonb **found);

/* cache.c */
extern CwModel *cw_model_pin(const char *model, int32 version);
extern void cw_model_unpin(CwModel *m);
extern void cw_cache_invalidate_all(void);
extern void cw_cache_init(void);

/* dispatch.c */
extern void cw_dispatch_init(void);
extern Jsonb *cw_call_process(CwFunc *fn, Oid owner, Jsonb *meta, Jsonb *data);
extern bool cw_call_criterion(CwFunc *fn, Oid owner, Jsonb *meta, Jsonb *data);
extern void cw_resolve_function(CwFunc *fn);
extern char *cw_function_access_grant(const char *schema, const char *name,
									  Oid fnoid, Oid role);
extern void cw_check_function_access(const char *schema, const char *name,
									 bool is_criterion, Oid fnoid, Oid role);
extern void cw_check_import_access(CwWorkflow *wf, Oid role);
extern const char *cw_dispatch_pinned_schema;

/* jsonutil.c */
extern char *cw_jb_text(JsonbValue *v);
extern const char *cw_jbv_kind(JsonbValue *v);
extern const char *cw_jb_kind(Jsonb *jb);
extern JsonbValue *cw_jb_key(JsonbContainer *obj, const char *key, JsonbValue *res);
extern bool cw_jbv_ieq(const JsonbValue *v, const char *s);
extern bool cw_jbv_is_container(const JsonbValue *v, bool array);
extern char *cw_jbv_json_text(const JsonbValue *v);
extern bool cw_jbv_eq(JsonbValue *v, const char *s);
extern char *cw_jbv_cstring(JsonbValue *v, MemoryContext cxt);
extern char *cw_format_va(const char *fmt, va_list args) pg_attribute_printf(1, 0);
extern char *cw_clip_text(const char *s, int len, int max);
extern char *cw_jbv_display(JsonbValue *v);
extern void cw_jb_as_value(Jsonb *jb, JsonbValue *v);
extern JsonbIterator *cw_jb_object_iter(JsonbContainer *c);
extern bool cw_jb_object_next(JsonbIterator **it, JsonbValue *key, JsonbValue *val);
extern JsonbIterator *cw_jb_array_iter(JsonbContainer *c);
extern bool cw_jb_array_next(JsonbIterator **it, JsonbValue *elem);
extern int	cw_jbv_int64(JsonbValue *v, int64 min, int64 max, int64 *result);
extern void cw_jb_push_key(JsonbParseState **ps, const char *key);
extern void cw_jb_push_string(JsonbParseState **ps, JsonbIteratorToken tok, const char *s);
extern void cw_jb_push_pair(JsonbParseState **ps, const char *key, const char *s);

typedef struct CwJsonBuilder
{
	JsonbParseState *ps;
} CwJsonBuilder;
extern void cw_jbb_begin(CwJsonBuilder *b);
extern void cw_jbb_str(CwJsonBuilder *b, const char *key, const char *val);
extern void cw_jbb_int(CwJsonBuilder *b, const char *key, int64 val);
extern void cw_jbb_float(CwJsonBuilder *b, const char *key, double val);
extern void cw_jbb_bool(CwJsonBuilder *b, const char *key, bool val);
extern void cw_jbb_jsonb(CwJsonBuilder *b, const char *key, Jsonb *val);
extern Jsonb *cw_jbb_end(CwJsonBuilder *b);
extern Jsonb *cw_jb_merge_patch(Jsonb *target, Jsonb *patch);

#endif							/* CYODA_WF_H */
