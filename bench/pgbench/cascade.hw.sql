-- create + cascade through 5 automatic transitions, written by hand: the
-- entity row in its final state, 5 audit rows, 1 version row; one statement.
-- With -D rollback=1 inside BEGIN ... ROLLBACK: the scaling curves, so that
-- the number of stored entities stays what the curve says.
\set n random(1, 1000000000)
\if :rollback
BEGIN;
\endif
WITH e AS (
  INSERT INTO hw.entity (model, model_version, state, data, created_at, updated_at, version,
                         last_transition, workflow, source, transaction_id)
  VALUES ('b_chain', 1, 's5', bench.data(:n), clock_timestamp(), clock_timestamp(), 1,
          't5', 'chain', 'API_REQUEST', txid_current())
  RETURNING id, model, model_version, state, data, updated_at, transaction_id),
a AS (
  INSERT INTO hw.audit (entity_id, at, transaction_id, event_type, transition, from_state,
                        to_state, role, detail)
  SELECT e.id, clock_timestamp(), e.transaction_id, 'TRANSITION_MAKE', s.tr, s.fr, s.tt,
         current_user, '{"workflow": "chain", "manual": false}'
    FROM e, (VALUES ('t1', 's0', 's1'), ('t2', 's1', 's2'), ('t3', 's2', 's3'),
                    ('t4', 's3', 's4'), ('t5', 's4', 's5')) AS s(tr, fr, tt))
INSERT INTO hw.entity_version (entity_id, version, change_type, changed_at, changed_by, model,
                               model_version, state, transition, transaction_id, data)
SELECT e.id, 1, 'CREATE', e.updated_at, current_user, e.model, e.model_version, e.state, 't5',
       e.transaction_id, e.data
  FROM e;
\if :rollback
ROLLBACK;
\endif
