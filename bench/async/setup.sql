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

-- Empty both systems between runs.
CREATE PROCEDURE q.reset()
LANGUAGE plpgsql AS $$
BEGIN
  TRUNCATE cyoda_wf.entity, cyoda_wf.entity_version, cyoda_wf.audit_log, cyoda_wf.task, q.job;
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
  ELSE
    SELECT count(*), min((result->>'t_start')::float8), extract(epoch FROM max(finished_at))
      INTO n, first_start, last_end FROM q.job WHERE state = 'done';
  END IF;
  INSERT INTO q.result VALUES
    (r, sys, 'throughput', nworkers, 'items', n),
    (r, sys, 'throughput', nworkers, 'seconds', last_end - first_start),
    (r, sys, 'throughput', nworkers, 'items_per_s', n / nullif(last_end - first_start, 0));
END $$;

CREATE PROCEDURE q.record_latency(r integer, sys text, nworkers integer)
LANGUAGE plpgsql AS $$
BEGIN
  CREATE TEMP TABLE IF NOT EXISTS lat (ms float8);
  TRUNCATE lat;
  IF sys = 'cyoda_wf' THEN
    INSERT INTO lat SELECT ((data->>'t_start')::float8 - (data->>'t0')::float8) * 1000
      FROM cyoda_wf.entity WHERE state = 'done';
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
