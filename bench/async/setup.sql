-- bench/async/setup.sql: objects of the async benchmark (run by run.sh in a
-- throwaway database).
--
-- Two systems do the same work per item: call public.bench_proc(meta, data),
-- a trivial process that stamps its start time (t_start, epoch seconds) into
-- the data, and store the result; one item per transaction.
--   cyoda_wf: an entity of model bench_async whose first transition is
--             ASYNC_NEW_TX; run by cyoda_wf's background workers (task claim,
--             entity lock, engine, version + audit rows, task done).
--   baseline: a minimal queue in plain SQL: table q.job, consumers in a
--             plpgsql procedure (claim FOR UPDATE SKIP LOCKED, call the
--             process, store the result, mark done, COMMIT), polling every
--             1 ms when the queue is empty (no wake-up mechanism).
--   baseline (fair): the same writes as cyoda_wf, by hand, in plpgsql:
--             copies of cyoda_wf's entity, entity_version, audit_log and task
--             tables (LIKE ... INCLUDING ALL: same columns, keys, indexes);
--             q.work claims a task and its entity FOR UPDATE SKIP LOCKED,
--             calls the process, sets the entity's data, state and version,
--             writes the version and audit rows, marks the task done and
--             sends the save's NOTIFY (cyoda_wf.notify is on by default) and
--             COMMITs, one task per transaction.
--   bare:     the minimal queue above, which does no entity work.
-- Producers stamp t0 = clock_timestamp() in the INSERT itself and commit
-- right after it; pickup latency = t_start - t0.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;

-- plpgsql, so that neither system gets it inlined
CREATE FUNCTION public.bench_proc(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN data || jsonb_build_object('t_start', extract(epoch FROM clock_timestamp()));
END $$;

SELECT cyoda_wf.import_workflows('bench_async', 1, $json$
{"importMode": "REPLACE", "workflows": [{"name": "bench_async", "initialState": "new", "states": {
  "new":  {"transitions": [{"name": "work", "next": "done",
            "processors": [{"name": "bench_proc", "executionMode": "ASYNC_NEW_TX"}]}]},
  "done": {"transitions": []}}}]}
$json$) IS NOT NULL AS imported;

CREATE SCHEMA q;
CREATE TABLE q.job (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    state       text   NOT NULL DEFAULT 'pending',
    payload     jsonb  NOT NULL,
    result      jsonb,
    finished_at timestamptz
);
CREATE INDEX job_pending_idx ON q.job (id) WHERE state = 'pending';
CREATE TABLE q.ctl (stop boolean NOT NULL);
INSERT INTO q.ctl VALUES (false);

-- One consumer: runs until the queue is empty (exit_when_empty) or, when
-- idle, until q.ctl.stop is set or stop_at has passed.
CREATE PROCEDURE q.consume(exit_when_empty boolean, stop_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
  j record;
BEGIN
  LOOP
    SELECT id, payload INTO j FROM q.job WHERE state = 'pending'
     ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF FOUND THEN
      UPDATE q.job SET state = 'done', finished_at = clock_timestamp(),
             result = public.bench_proc(jsonb_build_object('job', j.id), j.payload)
       WHERE id = j.id;
      COMMIT;
    ELSE
      COMMIT;
      EXIT WHEN exit_when_empty OR clock_timestamp() > stop_at OR (SELECT stop FROM q.ctl);
      PERFORM pg_sleep(0.001);
    END IF;
  END LOOP;
END $$;

-- The fair baseline's tables: cyoda_wf's, copied with their indexes.
CREATE TABLE q.entity (LIKE cyoda_wf.entity INCLUDING ALL);
CREATE TABLE q.entity_version (LIKE cyoda_wf.entity_version INCLUDING ALL);
CREATE TABLE q.audit_log (LIKE cyoda_wf.audit_log INCLUDING ALL);
CREATE TABLE q.task (LIKE cyoda_wf.task INCLUDING ALL);

-- Queue n new entities of the fair baseline, each with its CREATE version
-- row and a pending task (what a save of an ASYNC_NEW_TX entity leaves).
CREATE PROCEDURE q.enqueue(n integer)
LANGUAGE plpgsql AS $$
BEGIN
  WITH e AS (
    INSERT INTO q.entity (model, state, data, created_at, updated_at, version, workflow, source, transaction_id)
    SELECT 'bench_async', 'new', jsonb_build_object('i', g), clock_timestamp(), clock_timestamp(), 1,
           'bench_async', 'API_REQUEST', txid_current()
      FROM generate_series(1, n) g
    RETURNING id, data, created_at), v AS (
    INSERT INTO q.entity_version
    SELECT id, 1, 'CREATE', created_at, current_user, 'bench_async', 1, 'new', NULL, txid_current(),
           data, created_at FROM e)
  INSERT INTO q.task (entity_id, transition, from_state, kind) SELECT id, 'work', 'new', 'process' FROM e;
END $$;

-- One fair-baseline consumer: what a cyoda_wf worker writes per task, by
-- hand; exits as q.consume does.
CREATE PROCEDURE q.work(exit_when_empty boolean, stop_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
  t record; e record; started timestamptz; p0 timestamptz; d jsonb; xid bigint;
BEGIN
  LOOP
    SELECT k.id, k.entity_id, k.transition, k.from_state, k.attempts INTO t
      FROM q.task k JOIN q.entity x ON x.id = k.entity_id
     WHERE k.state = 'pending' AND k.run_at <= clock_timestamp()
     ORDER BY k.run_at, k.id LIMIT 1 FOR UPDATE OF k, x SKIP LOCKED;
    IF FOUND THEN
      started := clock_timestamp();
      SELECT * INTO e FROM q.entity WHERE id = t.entity_id;
      IF e.state = t.from_state THEN
        p0 := clock_timestamp();
        d := public.bench_proc(jsonb_build_object('entityId', e.id, 'model', e.model,
               'modelVersion', e.model_version, 'state', e.state, 'transition', t.transition,
               'workflow', e.workflow, 'attempt', t.attempts + 1, 'version', e.version), e.data);
        xid := txid_current();
        UPDATE q.entity SET data = d, state = 'done', updated_at = clock_timestamp(),
               version = e.version + 1, last_transition = t.transition, transaction_id = xid
         WHERE id = e.id;
        INSERT INTO q.entity_version
        VALUES (e.id, e.version + 1, 'UPDATE', clock_timestamp(), current_user, e.model,
                e.model_version, 'done', t.transition, xid, d, started);
        INSERT INTO q.audit_log (entity_id, at, transaction_id, event_type, transition,
                                 from_state, to_state, role, detail)
        VALUES (e.id, clock_timestamp(), xid, 'TRANSITION_MAKE', t.transition, e.state, 'done',
                current_user, jsonb_build_object('manual', false, 'workflow', e.workflow,
                  'processes', jsonb_build_array(jsonb_build_object('name', 'bench_proc',
                    'ms', extract(epoch FROM clock_timestamp() - p0) * 1000, 'changed', true))));
        UPDATE q.task SET state = 'done', attempts = attempts + 1, last_error = NULL,
               finished_at = clock_timestamp() WHERE id = t.id;
        -- cyoda_wf.notify (on by default): one NOTIFY per save
        PERFORM pg_notify('cyoda_wf', jsonb_build_object('id', e.id, 'model', e.model,
                  'state', 'done', 'version', e.version + 1, 'changeType', 'UPDATE',
                  'transition', t.transition, 'modelVersion', e.model_version)::text);
      ELSE
        UPDATE q.task SET state = 'cancelled', finished_at = clock_timestamp() WHERE id = t.id;
      END IF;
      COMMIT;
    ELSE
      COMMIT;
      EXIT WHEN exit_when_empty OR clock_timestamp() > stop_at OR (SELECT stop FROM q.ctl);
      PERFORM pg_sleep(0.001);
    END IF;
  END LOOP;
  CALL q.note_cpu();
END $$;

-- Producers: n items at `rate` per second, one transaction each.
CREATE PROCEDURE q.produce_cw(n integer, rate float8)
LANGUAGE plpgsql AS $$
DECLARE
  next_t timestamptz := clock_timestamp();
BEGIN
  FOR i IN 1..n LOOP
    INSERT INTO cyoda_wf.entity (model, data)
    VALUES ('bench_async', jsonb_build_object('i', i, 't0', extract(epoch FROM clock_timestamp())));
    COMMIT;
    next_t := next_t + make_interval(secs => 1 / rate);
    PERFORM pg_sleep(greatest(0, extract(epoch FROM next_t - clock_timestamp())));
  END LOOP;
END $$;

CREATE PROCEDURE q.produce_fair(n integer, rate float8)
LANGUAGE plpgsql AS $$
DECLARE
  next_t timestamptz := clock_timestamp();
  id uuid;
BEGIN
  FOR i IN 1..n LOOP
    INSERT INTO q.entity (model, state, data, created_at, updated_at, version, workflow, source, transaction_id)
    VALUES ('bench_async', 'new', jsonb_build_object('i', i, 't0', extract(epoch FROM clock_timestamp())),
            clock_timestamp(), clock_timestamp(), 1, 'bench_async', 'API_REQUEST', txid_current())
    RETURNING entity.id INTO id;
    INSERT INTO q.task (entity_id, transition, from_state, kind) VALUES (id, 'work', 'new', 'process');
    COMMIT;
    next_t := next_t + make_interval(secs => 1 / rate);
    PERFORM pg_sleep(greatest(0, extract(epoch FROM next_t - clock_timestamp())));
  END LOOP;
END $$;

CREATE PROCEDURE q.produce_q(n integer, rate float8)
LANGUAGE plpgsql AS $$
DECLARE
  next_t timestamptz := clock_timestamp();
BEGIN
  FOR i IN 1..n LOOP
    INSERT INTO q.job (payload)
    VALUES (jsonb_build_object('i', i, 't0', extract(epoch FROM clock_timestamp())));
    COMMIT;
    next_t := next_t + make_interval(secs => 1 / rate);
    PERFORM pg_sleep(greatest(0, extract(epoch FROM next_t - clock_timestamp())));
  END LOOP;
END $$;

-- Measurements: one row per (round, system, test, workers, metric).
CREATE TABLE q.result (
    round   integer NOT NULL,
    system  text    NOT NULL,
    test    text    NOT NULL,
    workers integer NOT NULL,
    metric  text    NOT NULL,
    value   float8
);

-- CPU time of the consumers of one run (this backend's, or that of the
-- backends of this database of the given type), from /proc/PID/schedstat.
CREATE TABLE q.cpu (pid integer, ns bigint);
CREATE PROCEDURE q.note_cpu(backend_type text DEFAULT NULL)
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO q.cpu
  SELECT p, split_part(pg_read_file(format('/proc/%s/schedstat', p)), ' ', 1)::bigint
    FROM unnest(CASE WHEN backend_type IS NULL THEN ARRAY[pg_backend_pid()]
                     ELSE ARRAY(SELECT a.pid FROM pg_stat_activity a
                                 WHERE a.backend_type = note_cpu.backend_type
                                   AND a.datname = current_database()) END) p;
END $$;

-- Empty all systems between runs.
CREATE PROCEDURE q.reset()
LANGUAGE plpgsql AS $$
BEGIN
  TRUNCATE cyoda_wf.entity, cyoda_wf.entity_version, cyoda_wf.audit_log, cyoda_wf.task, q.job,
           q.entity, q.entity_version, q.audit_log, q.task, q.cpu;
  UPDATE q.ctl SET stop = false;
END $$;

-- Record the results of one run from the rows it left.
CREATE PROCEDURE q.record_throughput(r integer, sys text, nworkers integer)
LANGUAGE plpgsql AS $$
DECLARE
  n bigint; first_start float8; last_end float8;
BEGIN
  IF sys = 'cyoda_wf' THEN
    SELECT count(*), min((e.data->>'t_start')::float8) INTO n, first_start
      FROM cyoda_wf.entity e WHERE e.state = 'done';
    SELECT extract(epoch FROM max(finished_at)) INTO last_end FROM cyoda_wf.task WHERE state = 'done';
  ELSIF sys = 'baseline' THEN
    SELECT count(*), min((e.data->>'t_start')::float8) INTO n, first_start
      FROM q.entity e WHERE e.state = 'done';
    SELECT extract(epoch FROM max(finished_at)) INTO last_end FROM q.task WHERE state = 'done';
  ELSE
    SELECT count(*), min((result->>'t_start')::float8), extract(epoch FROM max(finished_at))
      INTO n, first_start, last_end FROM q.job WHERE state = 'done';
  END IF;
  INSERT INTO q.result VALUES
    (r, sys, 'throughput', nworkers, 'items', n),
    (r, sys, 'throughput', nworkers, 'seconds', last_end - first_start),
    (r, sys, 'throughput', nworkers, 'items_per_s', n / nullif(last_end - first_start, 0)),
    (r, sys, 'throughput', nworkers, 'cpu_us_per_item', (SELECT sum(ns) / 1000.0 FROM q.cpu) / nullif(n, 0));
END $$;

CREATE PROCEDURE q.record_latency(r integer, sys text, nworkers integer)
LANGUAGE plpgsql AS $$
BEGIN
  CREATE TEMP TABLE IF NOT EXISTS lat (ms float8);
  TRUNCATE lat;
  IF sys = 'cyoda_wf' THEN
    INSERT INTO lat SELECT ((data->>'t_start')::float8 - (data->>'t0')::float8) * 1000
      FROM cyoda_wf.entity WHERE state = 'done';
  ELSIF sys = 'baseline' THEN
    INSERT INTO lat SELECT ((data->>'t_start')::float8 - (data->>'t0')::float8) * 1000
      FROM q.entity WHERE state = 'done';
  ELSE
    INSERT INTO lat SELECT ((result->>'t_start')::float8 - (payload->>'t0')::float8) * 1000
      FROM q.job WHERE state = 'done';
  END IF;
  INSERT INTO q.result
  SELECT r, sys, 'latency', nworkers, m.metric, m.value
    FROM (SELECT count(*)::float8 AS n,
                 percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50,
                 percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99,
                 avg(ms) AS mean, max(ms) AS mx FROM lat) s,
         LATERAL (VALUES ('items', s.n), ('p50_ms', s.p50), ('p99_ms', s.p99),
                         ('mean_ms', s.mean), ('max_ms', s.mx)) AS m(metric, value);
END $$;
