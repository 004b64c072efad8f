-- create + cascade through 5 transitions written by hand, calling the same
-- process function bench_py_step directly, 5 times, with a meta object.
\set n random(1, 1000000000)
WITH x AS (SELECT gen_random_uuid() AS id, bench.data(:n) AS d0),
p AS (
  SELECT x.id,
    public.bench_py_step(jsonb_build_object('entity_id', x.id, 'entity_model', 'b_py', 'state', 's4', 'transition', 't5', 'next_state', 's5', 'workflow', 'chain_py', 'process', 'bench_py_step'),
    public.bench_py_step(jsonb_build_object('entity_id', x.id, 'entity_model', 'b_py', 'state', 's3', 'transition', 't4', 'next_state', 's4', 'workflow', 'chain_py', 'process', 'bench_py_step'),
    public.bench_py_step(jsonb_build_object('entity_id', x.id, 'entity_model', 'b_py', 'state', 's2', 'transition', 't3', 'next_state', 's3', 'workflow', 'chain_py', 'process', 'bench_py_step'),
    public.bench_py_step(jsonb_build_object('entity_id', x.id, 'entity_model', 'b_py', 'state', 's1', 'transition', 't2', 'next_state', 's2', 'workflow', 'chain_py', 'process', 'bench_py_step'),
    public.bench_py_step(jsonb_build_object('entity_id', x.id, 'entity_model', 'b_py', 'state', 's0', 'transition', 't1', 'next_state', 's1', 'workflow', 'chain_py', 'process', 'bench_py_step'),
      x.d0))))) AS d
  FROM x),
e AS (
  INSERT INTO hw.entity (id, model, model_version, state, data, created_at, updated_at, version,
                         last_transition, workflow, source, transaction_id)
  SELECT p.id, 'b_py', 1, 's5', p.d, clock_timestamp(), clock_timestamp(), 1,
         't5', 'chain_py', 'API_REQUEST', txid_current()
    FROM p
  RETURNING id, model, model_version, state, data, updated_at, transaction_id),
a AS (
  INSERT INTO hw.audit (entity_id, at, transaction_id, event_type, transition, from_state,
                        to_state, role, detail)
  SELECT e.id, clock_timestamp(), e.transaction_id, 'TRANSITION_MAKE', s.tr, s.fr, s.tt,
         current_user, '{"workflow": "chain_py", "manual": false, "processes": ["bench_py_step"]}'
    FROM e, (VALUES ('t1', 's0', 's1'), ('t2', 's1', 's2'), ('t3', 's2', 's3'),
                    ('t4', 's3', 's4'), ('t5', 's4', 's5')) AS s(tr, fr, tt))
INSERT INTO hw.entity_version (entity_id, version, change_type, changed_at, changed_by, model,
                               model_version, state, transition, transaction_id, data)
SELECT e.id, 1, 'CREATE', e.updated_at, current_user, e.model, e.model_version, e.state, 't5',
       e.transaction_id, e.data
  FROM e;
