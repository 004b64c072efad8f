/*-------------------------------------------------------------------------
 * cond_merge.c
 *		Merged groups of the condition language: the runs of members of a
 *		group that test one path with one operator (cw_group_runs, which
 *		search_sql.c uses too) and the one node that tests each run.
 *
 * Merged groups: the members of an OR group that test one jsonPath with
 * one operator (cw_op_merges: EQUALS or CONTAINS and their case-insensitive
 * forms; never an AND, see cond.h) compile into
 * one node holding their operands as sorted sets, so a group of n values
 * costs one path walk and a binary search instead of n walks; an array
 * field or a [*] path is walked once, not once per value.
 *
 * The merged node keeps the operands as CondSets sorted with cond_eval.c's
 * orderings (cw_num_ptr_cmp, ...), which the evaluator searches.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/memutils.h"

#include "cyoda_wf.h"
#include "cond.h"

/* qsort comparator of merge items: by key, then by position. */
static int
merge_item_cmp(const void *a, const void *b)
{
	const CwMergeItem *x = a;
	const CwMergeItem *y = b;
	int			r = cw_bytes_cmp(x->key, x->keylen, y->key, y->keylen);

	return r != 0 ? r : (x->index > y->index) - (x->index < y->index);
}

/*
 * Sort items by key and mark the runs of two or more equal keys: run_of[i]
 * of group member i is the index (into the sorted items) of its run's first
 * item (it must be -1 for every member on entry); run_len[] of that item is
 * the run's length.  Returns whether any run was found.
 */
static bool
merge_runs(CwMergeItem *items, int nitems, int *run_of, int *run_len)
{
	bool		merged = false;

	qsort(items, nitems, sizeof(CwMergeItem), merge_item_cmp);
	for (int i = 0; i < nitems;)
	{
		int			j = i + 1;

		CHECK_FOR_INTERRUPTS();
		while (j < nitems && items[j].keylen == items[i].keylen &&
			   memcmp(items[j].key, items[i].key, items[i].keylen) == 0)
			j++;
		if (j - i > 1)
		{
			for (int k = i; k < j; k++)
				run_of[items[k].index] = i;
			run_len[i] = j - i;
			merged = true;
		}
		i = j;
	}
	return merged;
}

/* The merge key of a simple condition: its operator and its path steps. */
static void
merge_key(const CwCondition *c, CwMergeItem *item)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s", c->op->name);
	for (int i = 0; i < c->nsteps; i++)
	{
		const PathStep *step = &c->steps[i];

		/* length-prefixed, so no two paths share a key */
		if (step->kind == PS_KEY)
		{
			appendStringInfo(&buf, "|K%d:", step->keylen);
			appendBinaryStringInfo(&buf, step->key, step->keylen);
		}
		else if (step->kind == PS_INDEX)
			appendStringInfo(&buf, "|I%d", step->index);
		else
			appendStringInfoString(&buf, "|*");
	}
	item->key = buf.data;
	item->keylen = buf.len;
}

/*
 * One node for members[0..n) (simple conditions with one path and one
 * operator): the first member's path and operator, all the operands as
 * sets, in the cache context.
 */
static CwCondition *
merged_node(MemoryContext cxt, CwCondition **members, int n)
{
	CwCondition *m = MemoryContextAllocZero(cxt, sizeof(CwCondition));
	CondSet    *set = MemoryContextAllocZero(cxt, sizeof(CondSet));
	bool		icase = members[0]->op->icase;

	m->kind = CK_SIMPLE;
	m->path_text = members[0]->path_text;
	m->path_len = members[0]->path_len;
	m->nsteps = members[0]->nsteps;
	m->steps = members[0]->steps;
	m->wildcard = members[0]->wildcard;
	m->op = members[0]->op;
	m->set = set;
	set->nums = MemoryContextAlloc(cxt, n * sizeof(Numeric));
	set->texts = MemoryContextAlloc(cxt, n * sizeof(CondText));
	set->conts = MemoryContextAlloc(cxt, n * sizeof(JsonbContainer *));
	set->subs = MemoryContextAlloc(cxt, n * sizeof(CondText));
	for (int i = 0; i < n; i++)
	{
		const CondValue *v = &members[i]->val;

		CHECK_FOR_INTERRUPTS();
		if (v->num != NULL)
			set->nums[set->nnums++] = v->num;
		if (v->boolval == 1)
			set->has_true = true;
		else if (v->boolval == 0)
			set->has_false = true;
		if (v->jv.type == jbvString)
		{
			set->texts[set->ntexts].s = icase ? v->lower : v->text;
			set->texts[set->ntexts].len = icase ? v->lowerlen : v->textlen;
			set->ntexts++;
		}
		else if (v->jv.type == jbvBinary)
			set->conts[set->nconts++] = v->jv.val.binary.data;
		if (v->text != NULL)
		{
			set->subs[set->nsubs].s = icase ? v->lower : v->text;
			set->subs[set->nsubs].len = icase ? v->lowerlen : v->textlen;
			set->nsubs++;
		}
	}
	qsort(set->nums, set->nnums, sizeof(Numeric), cw_num_ptr_cmp);
	qsort(set->texts, set->ntexts, sizeof(CondText), cw_text_ptr_cmp);
	qsort(set->conts, set->nconts, sizeof(JsonbContainer *), cw_cont_ptr_cmp);
	return m;
}

/* See cond.h. */
bool
cw_group_runs(const CwCondition *c, CwMergeItem *items, int *run_of,
			  int *run_len)
{
	bool		and_group = (c->kind == CK_AND);
	int			nitems = 0;

	for (int i = 0; i < c->nchildren; i++)
	{
		const CwCondition *ch = c->children[i];

		CHECK_FOR_INTERRUPTS();
		run_of[i] = -1;
		if (c->kind == CK_NOT || ch->kind != CK_SIMPLE ||
			!cw_op_merges(ch->op, and_group))
			continue;
		items[nitems].index = i;
		merge_key(ch, &items[nitems]);
		nitems++;
	}
	return merge_runs(items, nitems, run_of, run_len);
}

/*
 * Merge the members of group c that test one path with one operator
 * (cw_op_merges) into one node each, in place of the first of them.  The
 * members are pure tests, so their order within the group does not matter.
 * The merged nodes are allocated in cxt.
 */
void
cw_cond_merge_group(CwCondition *c, MemoryContext cxt)
{
	CwMergeItem *items = palloc(c->nchildren * sizeof(CwMergeItem));
	int		   *run_of = palloc(c->nchildren * sizeof(int));
	int		   *run_len = palloc(c->nchildren * sizeof(int));
	int			nout = 0;

	if (!cw_group_runs(c, items, run_of, run_len))
		return;

	/* the group in its order, each run where its first member was */
	for (int i = 0; i < c->nchildren; i++)
	{
		int			r = run_of[i];
		CwCondition **members;

		CHECK_FOR_INTERRUPTS();
		if (r < 0)
		{
			c->children[nout++] = c->children[i];
			continue;
		}
		if (items[r].index != i)
			continue;			/* a later member of a run already placed */
		members = palloc(run_len[r] * sizeof(CwCondition *));
		for (int k = 0; k < run_len[r]; k++)
			members[k] = c->children[items[r + k].index];
		c->children[nout++] = merged_node(cxt, members, run_len[r]);
		pfree(members);
	}
	c->nchildren = nout;
}
