/*-------------------------------------------------------------------------
 * engine.c
 *		The state machine: workflow selection, cascade, named transitions,
 *		loop guards.
 *
 * The engine works on a CwSave prepared by store_trigger.c (the entity
 * triggers): it moves s->state and s->data and buffers audit entries; the
 * store_*.c files write the row, the version and the audit rows when the
 * engine is done.  cw_engine_explain evaluates, for explain.c, the criteria
 * a save would evaluate, on a CwSave that is never stored.
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"
#include "model.h"

#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

/* what the tasks this engine queues carry (settings of the same names) */
int			cw_retry_attempts = 3;
int			cw_retry_delay_ms = 1000;
int			cw_min_self_loop_delay = 1000;

static CwSave *save_stack = NULL;
static const char *failing_process = NULL;	/* process running when an error left it */
static uint64 token_counter = 0;

/* Number of saves in progress in this backend (nesting depth). */
int
cw_engine_depth(void)
{
	int			n = 0;

	for (CwSave *p = save_stack; p != NULL; p = p->outer)
		n++;
	return n;
}

/* Make s the innermost save. */
static void
cw_engine_push(CwSave *s)
{
	s->outer = save_stack;
	save_stack = s;
	s->token[0] = '\0';		/* made when a process first needs it (cw_engine_token) */
}

/* The token s hands to its processes: made on first use, the same for all of them. */
static const char *
cw_engine_token(CwSave *s)
{
	if (s->token[0] == '\0')
		snprintf(s->token, sizeof(s->token), "cw-%d-" UINT64_FORMAT "-%s",
				 MyProcPid, ++token_counter, s->id);
	return s->token;
}

/* Remove s (and anything left above it by an error) from the stack. */
static void
cw_engine_pop(CwSave *s)
{
	CwSave	   *p;

	for (p = save_stack; p != NULL; p = p->outer)
	{
		if (p == s)
		{
			save_stack = s->outer;
			return;
		}
	}
}

/* The innermost save whose process or criterion function is running. */
CwSave *
cw_engine_running_process(void)
{
	if (save_stack != NULL && save_stack->in_process)
		return save_stack;
	return NULL;
}

/* The running save that handed out `token` to its process, or NULL. */
CwSave *
cw_engine_find_token(const char *token)
{
	CwSave	   *s = save_stack;

	if (s != NULL && s->in_process && s->token[0] != '\0' && strcmp(s->token, token) == 0)
		return s;
	return NULL;
}

/* The save of entity `id` (text form) in progress in this backend, or NULL. */
CwSave *
cw_engine_saving(const char *id)
{
	for (CwSave *s = save_stack; s != NULL; s = s->outer)
		if (strcmp(s->id, id) == 0)
			return s;
	return NULL;
}

/* Name of the process an error escaped from (valid until the next process runs). */
const char *
cw_engine_failing_process(void)
{
	return failing_process;
}

/*
 * Can the entity get from state `from` back to state `to` with no client
 * action, i.e. through automatic or scheduled transitions (criteria are not
 * looked at: they may all match)?
 */
static bool
cw_leads_back(CwWorkflow *wf, int from, int to)
{
	bool	   *seen = palloc0(sizeof(bool) * wf->nstates);
	int		   *stack = palloc(sizeof(int) * wf->nstates);
	int			sp = 0;
	bool		found = from == to;

	seen[from] = true;
	stack[sp++] = from;
	while (sp > 0 && !found)
	{
		CwState    *st = &wf->states[stack[--sp]];

		for (int i = 0; i < st->ntransitions && !found; i++)
		{
			CwTransition *t = &st->transitions[i];

			if (t->manual || t->disabled)
				continue;
			found = t->next == to;
			if (!seen[t->next])
			{
				seen[t->next] = true;
				stack[sp++] = t->next;
			}
		}
	}
	pfree(seen);
	pfree(stack);
	return found;
}

/* Queue transition t to run after this save commits (async processors, timers). */
static void
cw_queue_task(CwSave *s, CwTransition *t, bool timer)
{
	CwTaskEntry *e = palloc0(sizeof(CwTaskEntry));
	bool		fixed = false;
	int			timeout = 0;

	for (int i = 0; i < t->nprocessors; i++)
	{
		if (t->processors[i].retry_policy == CW_RETRY_FIXED)
			fixed = true;
		timeout = Max(timeout, t->processors[i].response_timeout_ms);
	}
	e->transition = t->name;
	e->from_state = s->state_name;
	e->timer = timer;
	e->delay_ms = timer ? t->delay_ms : 0;
	/* a timer that can bring the entity back here fires at most this often */
	if (timer && e->delay_ms < cw_min_self_loop_delay &&
		cw_leads_back(s->wf, t->next, s->state))
		e->delay_ms = cw_min_self_loop_delay;
	e->timeout_ms = timer ? t->timeout_ms : (timeout > 0 ? timeout : -1);
	e->max_attempts = fixed ? Max(cw_retry_attempts, 1) : 1;
	e->retry_delay_ms = cw_retry_delay_ms;
	s->tasks = lappend(s->tasks, e);
	if (!timer)
		s->queued = t->name;
}

/* Arm the timers of the state the save ends in (store_tasks.c disarms the old ones). */
static void
cw_arm_timers(CwSave *s)
{
	CwState    *st;

	if (s->wf == NULL || s->state < 0 || !s->wf->has_schedules)
		return;
	st = &s->wf->states[s->state];
	for (int i = 0; i < st->ntransitions; i++)
	{
		CwTransition *t = &st->transitions[i];

		if (t->has_schedule && !t->disabled)
			cw_queue_task(s, t, true);
	}
}

/* The model's workflow called `name`, or its default workflow. */
CwWorkflow *
cw_engine_workflow_by_name(CwModel *m, const char *name)
{
	for (int i = 0; i < m->nworkflows; i++)
		if (strcmp(m->workflows[i]->name, name) == 0)
			return m->workflows[i];
	if (strcmp(name, m->default_wf->name) == 0)
		return m->default_wf;
	return NULL;
}

/*
 * Set search_path to "pg_catalog, <schema>, pg_temp" once for the rest of
 * this save, so that its processes and criteria (usually all in one schema)
 * do not each set it again.  Undone by cw_engine_unpin_path.  Each call
 * runs in a GUC nest level of its own above this one (dispatch.c), so a
 * function that changes search_path leaves the pinned value in place.
 */
static void
cw_engine_pin_path(CwSave *s, const char *schema)
{
	if (s->path_pinned)
		return;
	s->path_prev_schema = cw_dispatch_pinned_schema;
	s->path_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path",
							 psprintf("pg_catalog, %s, pg_temp", quote_identifier(schema)),
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	s->path_pinned = true;
	cw_dispatch_pinned_schema = schema;
}

/* End of a save: restore the search_path (ok) or just forget it (error: abort restores it). */
static void
cw_engine_unpin_path(CwSave *s, bool ok)
{
	if (!s->path_pinned)
		return;
	if (ok)
		AtEOXact_GUC(true, s->path_nestlevel);
	cw_dispatch_pinned_schema = s->path_prev_schema;
	s->path_pinned = false;
}

/* meta handed to a process or criterion function. */
static Jsonb *
cw_build_meta(CwSave *s, const char *kind, const char *fname, Jsonb *params_json,
			  const char *params_text)
{
	CwJsonBuilder b;

	cw_jbb_begin(&b);
	cw_jbb_str(&b, "token", cw_engine_token(s));
	cw_jbb_str(&b, "entity_id", s->id);
	cw_jbb_str(&b, "entity_model", s->model->name);
	cw_jbb_int(&b, "entity_version", s->model->version);
	cw_jbb_str(&b, "state", s->state_name);
	cw_jbb_str(&b, "transition", s->cur_transition);
	cw_jbb_str(&b, "next_state", s->cur_next);
	cw_jbb_str(&b, "workflow", s->wf_name);
	cw_jbb_str(&b, kind, fname);
	if (params_json != NULL)
		cw_jbb_jsonb(&b, "parameters", params_json);
	else
		cw_jbb_str(&b, "parameters", params_text);
	cw_jbb_int(&b, "attempt", s->attempt > 0 ? s->attempt : 1);
	return cw_jbb_end(&b);
}

typedef struct CwErrCtx
{
	CwSave	   *s;
	const char *what;			/* "process" or "criterion" */
	const char *name;
} CwErrCtx;

static void
cw_error_context(void *arg)
{
	CwErrCtx   *c = (CwErrCtx *) arg;

	if (c->s->cur_transition)
		errcontext("cyoda_wf %s \"%s\" of transition \"%s\" (state \"%s\", workflow \"%s\") for entity %s of model \"%s\" version %d",
				   c->what, c->name, c->s->cur_transition, c->s->state_name,
				   c->s->wf_name ? c->s->wf_name : "", c->s->id,
				   c->s->model->name, c->s->model->version);
	else
		errcontext("cyoda_wf %s \"%s\" selecting the workflow for entity %s of model \"%s\" version %d",
				   c->what, c->name, c->s->id, c->s->model->name, c->s->model->version);
}

/* call_criterion callback of CwEvalContext: runs a criterion function. */
static bool
cw_criterion_callback(void *arg, CwFunc *fn, Jsonb *config)
{
	CwSave	   *s = (CwSave *) arg;
	ErrorContextCallback errcb;
	CwErrCtx	c;
	Jsonb	   *meta;
	bool		result;
	bool		was = s->in_process;

	/*
	 * A criterion function runs as the importer of the workflow whose
	 * criterion it is (cw_engine_create sets s->wf to each candidate while
	 * it tests the workflow's selection criterion), never as the saving role.
	 */
	if (s->wf == NULL)
		elog(ERROR, "cyoda_wf: criterion function \"%s\" evaluated without a workflow", fn->name);

	c.s = s;
	c.what = "criterion";
	c.name = fn->name;
	errcb.callback = cw_error_context;
	errcb.arg = &c;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	meta = cw_build_meta(s, "criterion", fn->name, config, NULL);
	cw_engine_pin_path(s, fn->schema);
	s->in_process = true;
	result = cw_call_criterion(fn, s->wf->owner, meta, s->data);
	s->in_process = was;

	error_context_stack = errcb.previous;
	return result;
}

/* The lifecycle facts of the save, for a condition. */
static void
cw_eval_context(CwSave *s, CwEvalContext *ctx)
{
	ctx->data = s->data;
	ctx->entity_id = s->id;
	ctx->state = s->state_name;
	ctx->previous_transition = s->made ? s->made : s->prev_transition;
	ctx->creation_date = s->created_at;
	ctx->last_update_time = s->updated_at;
	ctx->fn_arg = s;
	ctx->call_criterion = cw_criterion_callback;
}

static bool
cw_eval(CwSave *s, CwCondition *cond)
{
	CwEvalContext ctx;

	if (cond == NULL)
		return true;
	cw_eval_context(s, &ctx);
	return cw_condition_eval(cond, &ctx);
}

/*
 * Audit an automatic transition (or a timer) whose criterion did not match:
 * TRANSITION_NOT_MATCH_CRITERION, its detail naming the sub-condition that
 * failed (cw_condition_failing; criterion functions are not called again).
 */
static void
cw_audit_not_matched(CwSave *s, CwTransition *t)
{
	CwAuditEntry *a = palloc0(sizeof(CwAuditEntry));
	CwEvalContext ctx;
	CwJsonBuilder db;

	cw_eval_context(s, &ctx);
	a->at = GetCurrentTimestamp();
	a->event = "TRANSITION_NOT_MATCH_CRITERION";
	a->transition = t->name;
	a->from_state = s->state_name;
	a->to_state = s->state_name;
	cw_jbb_begin(&db);
	cw_jbb_str(&db, "reason", "criterion did not match");
	cw_jbb_str(&db, "workflow", s->wf_name);
	cw_jbb_jsonb(&db, "condition", cw_condition_failing(t->criterion, &ctx, NULL));
	a->detail = cw_jbb_end(&db);
	s->audit = lappend(s->audit, a);
}

/* JSON text of member `key` of object jb, or NULL when absent. */
static char *
cw_member_text(Jsonb *jb, const char *key)
{
	JsonbValue	v;

	if (cw_jb_key(&jb->root, key, &v) == NULL)
		return NULL;
	return v.type == jbvString ? cw_jb_text(&v) : cw_jbv_json_text(&v);
}

/*
 * A sentence on the sub-condition that failed, from cw_condition_failing's
 * jsonb and the value it found (NULL: nothing there), for fire's error.
 */
static char *
cw_failing_text(Jsonb *failing, Jsonb *found)
{
	char	   *type = cw_member_text(failing, "type");
	char	   *op = cw_member_text(failing, "operatorType");
	char	   *val = NULL;
	char	   *what;
	JsonbValue	fn;

	if (cw_jb_key(&failing->root, "value", &fn) != NULL)
		val = cw_jbv_json_text(&fn);	/* as written: "web", 100, true */

	if (strcmp(type, "function") == 0 &&
		cw_jb_key(&failing->root, "function", &fn) != NULL &&
		fn.type == jbvBinary)
	{
		JsonbValue	name;

		if (cw_jb_key(fn.val.binary.data, "name", &name) != NULL)
			return psprintf("criterion function \"%s\" returned false", cw_jb_text(&name));
	}
	if (strcmp(type, "group") == 0)
	{
		char	   *gop = cw_member_text(failing, "operator");

		return strcmp(gop, "NOT") == 0 ? pstrdup("the member of a NOT group matched") :
			psprintf("no member of an %s group matched", gop);
	}
	if (strcmp(type, "lifecycle") == 0)
		what = psprintf("lifecycle field \"%s\"", cw_member_text(failing, "field"));
	else if (strcmp(type, "array") == 0)
		what = psprintf("array condition on jsonPath \"%s\"", cw_member_text(failing, "jsonPath"));
	else
		what = psprintf("jsonPath \"%s\"", cw_member_text(failing, "jsonPath"));
	return psprintf("%s%s%s%s%s, found %s", what, op ? " " : "", op ? op : "",
					val ? " " : "", val ? val : "",
					found ? JsonbToCString(NULL, &found->root, VARSIZE(found)) : "nothing (absent)");
}

/* Enter state `idx`, enforcing the per-state visit limit. */
static void
cw_enter_state(CwSave *s, int idx)
{
	s->state = idx;
	s->state_name = s->wf->states[idx].name;
	if (++s->visits[idx] > CW_MAX_STATE_VISITS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cyoda_wf loop limit exceeded: state \"%s\" entered more than %d times in one save of entity %s",
						s->state_name, CW_MAX_STATE_VISITS, s->id),
				 errdetail("Workflow \"%s\" of model \"%s\" version %d.",
						   s->wf_name, s->model->name, s->model->version),
				 errhint("Add a criterion that stops the cycle, or make one of its transitions manual.")));
}

/* Make transition t from the current state: processors, move, audit. */
static void
cw_make_transition(CwSave *s, CwTransition *t)
{
	CwJsonBuilder db;
	const char *from = s->state_name;
	instr_time	start,
				dur;
	CwAuditEntry *a;
	JsonbParseState *ps = NULL;
	JsonbValue *procs;

	if (++s->ntransitions > CW_MAX_TRANSITIONS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cyoda_wf loop limit exceeded: more than %d transitions in one save of entity %s",
						CW_MAX_TRANSITIONS, s->id),
				 errdetail("Workflow \"%s\" of model \"%s\" version %d, at transition \"%s\" from state \"%s\".",
						   s->wf_name, s->model->name, s->model->version, t->name, from)));

	s->cur_transition = t->name;
	s->cur_next = s->wf->states[t->next].name;

	pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < t->nprocessors; i++)
	{
		CwProcessor *p = &t->processors[i];
		ErrorContextCallback errcb;
		CwErrCtx	c;
		Jsonb	   *meta;
		Jsonb	   *out;
		CwJsonBuilder pb;
		JsonbValue	pv;
		Jsonb	   *pj;

		CHECK_FOR_INTERRUPTS();
		c.s = s;
		c.what = "process";
		c.name = p->name;
		errcb.callback = cw_error_context;
		errcb.arg = &c;
		errcb.previous = error_context_stack;
		error_context_stack = &errcb;

		meta = cw_build_meta(s, "process", p->name, NULL, p->context);
		cw_engine_pin_path(s, p->func.schema);
		INSTR_TIME_SET_CURRENT(start);
		s->in_process = true;
		failing_process = p->name;
		out = cw_call_process(&p->func, s->wf->owner, meta, s->data);
		failing_process = NULL;
		s->in_process = false;
		INSTR_TIME_SET_CURRENT(dur);
		INSTR_TIME_SUBTRACT(dur, start);

		if (out != NULL)
		{
			if (!JB_ROOT_IS_OBJECT(out) || JB_ROOT_IS_SCALAR(out))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("process \"%s\" returned JSON that is not an object", p->name),
						 errhint("A process returns the entity's new data as a JSON object, or NULL to keep it.")));
			s->data = out;
		}
		error_context_stack = errcb.previous;

		cw_jbb_begin(&pb);
		cw_jbb_str(&pb, "name", p->name);
		cw_jbb_float(&pb, "ms", INSTR_TIME_GET_MILLISEC(dur));
		cw_jbb_bool(&pb, "changed", out != NULL);
		pj = cw_jbb_end(&pb);
		pv.type = jbvBinary;
		pv.val.binary.data = &pj->root;
		pv.val.binary.len = VARSIZE(pj) - VARHDRSZ;
		pushJsonbValue(&ps, WJB_ELEM, &pv);
	}
	procs = pushJsonbValue(&ps, WJB_END_ARRAY, NULL);

	cw_enter_state(s, t->next);
	s->made = t->name;
	s->cur_transition = NULL;
	s->cur_next = NULL;

	a = palloc(sizeof(CwAuditEntry));
	a->at = GetCurrentTimestamp();
	a->event = "TRANSITION_MAKE";
	a->transition = t->name;
	a->from_state = from;
	a->to_state = s->state_name;
	cw_jbb_begin(&db);
	cw_jbb_str(&db, "workflow", s->wf_name);
	cw_jbb_bool(&db, "manual", t->manual);
	if (t->nprocessors > 0)
	{
		Jsonb	   *pa = JsonbValueToJsonb(procs);

		cw_jbb_jsonb(&db, "processes", pa);
	}
	a->detail = cw_jbb_end(&db);
	s->audit = lappend(s->audit, a);
}

/* Fire automatic transitions from the current state until none matches. */
static void
cw_cascade(CwSave *s)
{
	if (s->wf == NULL || s->state < 0)
		return;
	for (;;)
	{
		CwState    *st = &s->wf->states[s->state];
		CwTransition *fired = NULL;

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < st->ntransitions; i++)
		{
			CwTransition *t = &st->transitions[i];

			if (t->manual || t->disabled || t->has_schedule)
				continue;
			s->cur_transition = t->name;
			s->cur_next = s->wf->states[t->next].name;
			if (cw_eval(s, t->criterion))
			{
				fired = t;
				break;
			}
			cw_audit_not_matched(s, t);
		}
		s->cur_transition = NULL;
		s->cur_next = NULL;
		if (fired == NULL)
			break;
		if (fired->is_async)
		{
			/* runs after commit; the entity waits in this state */
			cw_queue_task(s, fired, false);
			break;
		}
		cw_make_transition(s, fired);
	}
	cw_arm_timers(s);
}

static void
cw_alloc_visits(CwSave *s)
{
	s->visits = (s->wf && s->wf->nstates > 0) ? palloc0(s->wf->nstates) : NULL;
}

/* A new entity: choose its workflow, enter the initial state, cascade. */
static void
cw_engine_create(CwSave *s)
{
	CwModel    *m = s->model;

	s->wf = NULL;
	for (int i = 0; i < m->nworkflows; i++)
	{
		CwWorkflow *wf = m->workflows[i];

		if (!wf->active)
			continue;
		s->wf = wf;				/* for criterion functions' meta */
		s->wf_name = wf->name;
		if (cw_eval(s, wf->criterion))
			break;
		s->wf = NULL;
	}
	if (s->wf == NULL)
		s->wf = m->default_wf;
	s->wf_name = s->wf->name;
	cw_alloc_visits(s);
	cw_enter_state(s, s->wf->initial_state);
	cw_cascade(s);
}

/* A save of an existing entity: a named transition, or a loopback. */
static void
cw_engine_update(CwSave *s, const char *transition)
{
	s->wf = s->wf_name ? cw_engine_workflow_by_name(s->model, s->wf_name) : NULL;
	s->state = (s->wf && s->state_name) ? cw_state_index(s->wf, s->state_name) : -1;
	cw_alloc_visits(s);
	if (s->state >= 0)
		s->visits[s->state] = 1;

	if (transition != NULL)
	{
		CwTransition *t = NULL;
		StringInfoData avail;

		if (s->state >= 0)
		{
			CwState    *st = &s->wf->states[s->state];

			for (int i = 0; i < st->ntransitions; i++)
				if (strcmp(st->transitions[i].name, transition) == 0)
				{
					t = &st->transitions[i];
					break;
				}
		}
		if (t == NULL || t->disabled || t->has_schedule)
		{
			initStringInfo(&avail);
			if (s->state >= 0)
			{
				CwState    *st = &s->wf->states[s->state];

				for (int i = 0; i < st->ntransitions; i++)
				{
					if (st->transitions[i].disabled || st->transitions[i].has_schedule)
						continue;
					appendStringInfo(&avail, "%s\"%s\"", avail.len ? ", " : "",
									 st->transitions[i].name);
				}
			}
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 t == NULL ?
					 errmsg("transition \"%s\" is not available in state \"%s\" of entity %s",
							transition, s->state_name ? s->state_name : "", s->id) :
					 errmsg("transition \"%s\" of entity %s is %s and cannot be fired by name",
							transition, s->id, t->disabled ? "disabled" : "scheduled"),
					 s->state < 0 ?
					 errdetail("The entity's state \"%s\" is not a state of its workflow \"%s\".",
							   s->state_name ? s->state_name : "", s->wf_name ? s->wf_name : "") :
					 errdetail("Transitions available in state \"%s\" of workflow \"%s\": %s.",
							   s->state_name, s->wf_name, avail.len ? avail.data : "none")));
		}
		s->cur_transition = t->name;
		s->cur_next = s->wf->states[t->next].name;
		if (!cw_eval(s, t->criterion))
		{
			CwEvalContext ctx;
			Jsonb	   *found;
			Jsonb	   *failing;

			cw_eval_context(s, &ctx);
			failing = cw_condition_failing(t->criterion, &ctx, &found);
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("criterion of transition \"%s\" does not match entity %s",
							t->name, s->id),
					 errdetail("State \"%s\" of workflow \"%s\", model \"%s\" version %d; the criterion is checked against the new data: %s.",
							   s->state_name, s->wf_name, s->model->name, s->model->version,
							   cw_failing_text(failing, found)),
					 errhint("cyoda_wf.explain() shows each transition's criterion against the entity.")));
		}
		s->cur_transition = NULL;
		s->cur_next = NULL;
		if (t->is_async)
		{
			cw_queue_task(s, t, false);
			((CwTaskEntry *) llast(s->tasks))->named = true;
			cw_arm_timers(s);
			return;
		}
		cw_make_transition(s, t);
	}
	cw_cascade(s);
}

/*
 * Run a queued transition (async processors or a due timer) of an entity
 * that is still in the state the task was queued in, then cascade.
 */
static void
cw_engine_run_task(CwSave *s, const char *transition, bool timer)
{
	CwTransition *t = NULL;

	failing_process = NULL;
	s->wf = s->wf_name ? cw_engine_workflow_by_name(s->model, s->wf_name) : NULL;
	s->state = (s->wf && s->state_name) ? cw_state_index(s->wf, s->state_name) : -1;
	cw_alloc_visits(s);
	if (s->state >= 0)
	{
		CwState    *st = &s->wf->states[s->state];

		s->visits[s->state] = 1;
		for (int i = 0; i < st->ntransitions; i++)
			if (strcmp(st->transitions[i].name, transition) == 0)
			{
				t = &st->transitions[i];
				break;
			}
	}
	if (t == NULL || t->disabled)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("transition \"%s\" no longer exists in state \"%s\" of entity %s",
						transition, s->state_name ? s->state_name : "", s->id)));
	if (timer)
	{
		s->cur_transition = t->name;
		s->cur_next = s->wf->states[t->next].name;
		if (!cw_eval(s, t->criterion))
		{
			cw_audit_not_matched(s, t);
			s->cur_transition = NULL;
			s->cur_next = NULL;
			return;
		}
		s->cur_transition = NULL;
		s->cur_next = NULL;
	}
	cw_make_transition(s, t);
	cw_cascade(s);
}

/* Evaluate cond for explain(): whether it matches, else what failed. */
static void
cw_explain_one(CwSave *s, CwCondition *cond, CwExplainRow *row)
{
	CwEvalContext ctx;

	row->matches = cw_eval(s, cond);
	if (row->matches)
		return;
	cw_eval_context(s, &ctx);
	row->failing = cw_condition_failing(cond, &ctx, &row->found);
}

/*
 * explain(): the entity in s (prepared as for an update, nothing saved)
 * against its workflow's criterion (first row) and the criterion of each
 * transition leaving its state (one row each, in the workflow's order).
 * Criterion functions run as the engine runs them: on the save stack, as
 * the workflow's importer, with the save's search_path, restored after.
 * No rows when the entity's workflow no longer exists; only the first
 * when its state is not in the workflow.  The caller pinned s->model and
 * unpins it.
 */
CwExplainRow *
cw_engine_explain(CwSave *s, int *nrows)
{
	CwExplainRow *rows;
	volatile int n = 0;

	s->wf = s->wf_name ? cw_engine_workflow_by_name(s->model, s->wf_name) : NULL;
	s->state = (s->wf && s->state_name) ? cw_state_index(s->wf, s->state_name) : -1;
	rows = palloc0(sizeof(CwExplainRow) *
				   (1 + (s->state >= 0 ? s->wf->states[s->state].ntransitions : 0)));
	cw_engine_push(s);
	PG_TRY();
	{
		if (s->wf != NULL)
			cw_explain_one(s, s->wf->criterion, &rows[n++]);
		if (s->state >= 0)
		{
			CwState    *st = &s->wf->states[s->state];

			for (int i = 0; i < st->ntransitions; i++)
			{
				CwTransition *t = &st->transitions[i];

				CHECK_FOR_INTERRUPTS();
				s->cur_transition = t->name;
				s->cur_next = s->wf->states[t->next].name;
				rows[n].t = t;
				rows[n].next_state = s->cur_next;
				cw_explain_one(s, t->criterion, &rows[n++]);
			}
			s->cur_transition = NULL;
			s->cur_next = NULL;
		}
		cw_engine_unpin_path(s, true);
	}
	PG_CATCH();
	{
		cw_engine_unpin_path(s, false);
		cw_engine_pop(s);
		PG_RE_THROW();
	}
	PG_END_TRY();
	cw_engine_pop(s);
	*nrows = n;
	return rows;
}

/*
 * One save, from push to pop: s goes on the save stack, the engine runs what
 * `kind` asks (a create, an update with an optional named transition, or a
 * queued transition), and s leaves the stack with its search_path restored.
 * On error the stack, the pinned search_path and the model pin the caller
 * took are released before the error goes on.
 */
void
cw_engine_run(CwSave *s, CwRunKind kind, const char *transition)
{
	cw_engine_push(s);
	PG_TRY();
	{
		switch (kind)
		{
			case CW_RUN_CREATE:
				/* a registered model checks the client's data first */
				cw_model_check_save(s->model, s->data);
				cw_engine_create(s);
				break;
			case CW_RUN_UPDATE:
				if (s->strict_schema)
					cw_model_check_patch(s->model, s->data);
				else if (s->client_data)
					cw_model_check_save(s->model, s->data);
				cw_engine_update(s, transition);
				break;
			case CW_RUN_TASK:
			case CW_RUN_TIMER:
				cw_engine_run_task(s, transition, kind == CW_RUN_TIMER);
				break;
		}
		cw_engine_unpin_path(s, true);
	}
	PG_CATCH();
	{
		cw_engine_unpin_path(s, false);
		cw_engine_pop(s);
		cw_model_unpin(s->model);
		PG_RE_THROW();
	}
	PG_END_TRY();
	cw_engine_pop(s);
}

/*
 * move_entity: put the entity in `state` of `workflow` (NULL: its own),
 * audited as STATE_MOVED.  No process, criterion, cascade or timer runs: it
 * is an administrator's repair, and the next save cascades from the new
 * state.  Unknown workflow or state: 22023 naming what exists.
 */
void
cw_engine_move(CwSave *s, const char *workflow, const char *state, const char *reason)
{
	CwModel    *m = s->model;
	const char *wf_name = workflow ? workflow : s->wf_name;
	CwWorkflow *wf = wf_name ? cw_engine_workflow_by_name(m, wf_name) : NULL;
	CwAuditEntry *a;
	CwJsonBuilder db;
	StringInfoData known;
	int			idx;

	initStringInfo(&known);
	if (wf == NULL)
	{
		for (int i = 0; i < m->nworkflows; i++)
			appendStringInfo(&known, "\"%s\", ", m->workflows[i]->name);
		appendStringInfo(&known, "\"%s\"", m->default_wf->name);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("workflow \"%s\" is not a workflow of model \"%s\" version %d",
						wf_name ? wf_name : "", m->name, m->version),
				 errdetail("Workflows of the model: %s.", known.data),
				 errhint("Name one of them as move_entity's workflow argument.")));
	}
	idx = cw_state_index(wf, state);
	if (idx < 0)
	{
		for (int i = 0; i < wf->nstates; i++)
			appendStringInfo(&known, "%s\"%s\"", i > 0 ? ", " : "", wf->states[i].name);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("state \"%s\" is not a state of workflow \"%s\" of model \"%s\" version %d",
						state, wf->name, m->name, m->version),
				 errdetail("States of workflow \"%s\": %s.", wf->name, known.data)));
	}

	a = palloc(sizeof(CwAuditEntry));
	a->at = GetCurrentTimestamp();
	a->event = "STATE_MOVED";
	a->transition = NULL;
	a->from_state = s->state_name;
	a->to_state = wf->states[idx].name;
	cw_jbb_begin(&db);
	cw_jbb_str(&db, "reason", reason);
	cw_jbb_str(&db, "fromWorkflow", s->wf_name);
	cw_jbb_str(&db, "toWorkflow", wf->name);
	cw_jbb_str(&db, "fromState", s->state_name);
	cw_jbb_str(&db, "toState", wf->states[idx].name);
	cw_jbb_str(&db, "role", s->role);
	a->detail = cw_jbb_end(&db);
	s->audit = lappend(s->audit, a);

	s->wf = wf;
	s->wf_name = wf->name;
	s->state = idx;
	s->state_name = wf->states[idx].name;
	s->moved = true;
}
