-- Fuzz harness, server side: installed by test/scripts/fuzz.sh in a fresh
-- database.  Inputs are COPYed into fuzz.input; fuzz.run(id) feeds one input
-- to its target, catches any error and records its SQLSTATE in fuzz.result
-- (one row per call made).  A target whose function is not installed is
-- recorded as 'SKIP' so that the fuzzer covers it as soon as it lands.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
CREATE SCHEMA fuzz;

CREATE TABLE fuzz.input (id int PRIMARY KEY, target text NOT NULL, a text, b text, c text);
CREATE TABLE fuzz.result (id int NOT NULL, call text NOT NULL, sqlstate text NOT NULL, message text,
                          ms numeric);

-- Which optional functions exist (filled by fuzz.sh after the COPY).
CREATE TABLE fuzz.has (sig text PRIMARY KEY, present boolean NOT NULL);
INSERT INTO fuzz.has
SELECT s, to_regprocedure(s) IS NOT NULL
  FROM unnest(ARRAY['cyoda_wf.validate_design(text)', 'cyoda_wf.validate_design(jsonb)',
                    'cyoda_wf.import_design(jsonb,text)', 'cyoda_wf.import_design(text,text)',
                    'cyoda_wf.search(text,integer,jsonb,timestamp with time zone,text[],integer,integer)']) s;

-- Process and criterion functions the generated workflows name.
CREATE FUNCTION public.fz_proc(meta jsonb, data jsonb) RETURNS jsonb LANGUAGE sql AS
  $$ SELECT CASE WHEN jsonb_typeof(data) = 'object'
                 THEN data || jsonb_build_object('fz', coalesce((data->>'fz')::int, 0) + 1,
                                                 'meta_keys', (SELECT count(*) FROM jsonb_object_keys(meta)))
                 ELSE data END $$;
CREATE FUNCTION public.fz_proc_null(meta jsonb, data jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT NULL::jsonb $$;
CREATE FUNCTION public.fz_proc_bad(meta jsonb, data jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '[1, 2]'::jsonb $$;
CREATE FUNCTION public.price_order(meta jsonb, data jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT data $$;
CREATE FUNCTION public.stock_available(meta jsonb, data jsonb) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE FUNCTION public.fz_crit(meta jsonb, data jsonb) RETURNS boolean LANGUAGE sql AS
  $$ SELECT data ? 'a' AND meta ? 'criterion' $$;
CREATE FUNCTION public.fz_crit_null(meta jsonb, data jsonb) RETURNS boolean LANGUAGE sql AS $$ SELECT NULL::boolean $$;

-- Entities for search to look through (their model declared first, as
-- cyoda_wf.require_model = known wants).
SELECT cyoda_wf.import_workflows('fz_search', 1, '{"workflows": []}') IS NOT NULL AS declared;
SELECT cyoda_wf.add_item('fz_search', 1, jsonb_build_object('a', i, 'b', 'x' || i, 'tags', jsonb_build_array(i, 'y'),
                                                            'items', jsonb_build_array(jsonb_build_object('qty', i)),
                                                            'name', jsonb_build_array('go', 'ru' || i, i % 3),
                                                            'lines', jsonb_build_array(jsonb_build_array(i), '[]'::jsonb, NULL)))
  FROM generate_series(1, 20) i;

CREATE FUNCTION fuzz.has(sig text) RETURNS boolean LANGUAGE sql STABLE AS
  $$ SELECT coalesce((SELECT present FROM fuzz.has h WHERE h.sig = has.sig), false) $$;

CREATE FUNCTION fuzz.note(p_id int, p_call text, p_state text, p_msg text, p_t0 timestamptz) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO fuzz.result VALUES (p_id, p_call, p_state, left(p_msg, 500),
                                  round(extract(epoch FROM clock_timestamp() - p_t0)::numeric * 1000, 2))
$$;

CREATE FUNCTION fuzz.run(p_id int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  r fuzz.input;
  st text;
  msg text;
  t0 timestamptz;
  eid uuid;
  tr text;
  ok boolean;
BEGIN
  SELECT * INTO r FROM fuzz.input WHERE id = p_id;
  t0 := clock_timestamp();
  msg := NULL;
  IF r.target = 'cond' THEN
    BEGIN
      PERFORM cyoda_wf.check_condition(r.a::jsonb, r.b::jsonb);
      st := '00000';
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    END;
    PERFORM fuzz.note(p_id, 'check_condition', st, msg, t0);

  ELSIF r.target = 'import' THEN
    BEGIN
      PERFORM cyoda_wf.import_workflows(r.b, 1, r.a::jsonb);
      st := '00000';
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    END;
    PERFORM fuzz.note(p_id, 'import_workflows', st, msg, t0);
    IF st = '00000' THEN
      -- run what was imported: create an entity (workflow criteria, the
      -- initial cascade), then fire up to five of the body's transitions
      t0 := clock_timestamp();
      msg := NULL;
      eid := NULL;
      BEGIN
        eid := cyoda_wf.add_item(r.b, 1, r.c::jsonb);
        st := '00000';
      EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
      END;
      PERFORM fuzz.note(p_id, 'add_item', st, msg, t0);
      IF eid IS NOT NULL THEN
        FOR tr IN
          SELECT DISTINCT t #>> '{}'
            FROM jsonb_path_query(r.a::jsonb,
                   'lax $.workflows[*].states.*.transitions[*].name ? (@.type() == "string")') t
           LIMIT 5
        LOOP
          t0 := clock_timestamp();
          msg := NULL;
          BEGIN
            PERFORM cyoda_wf.fire(eid, tr);
            st := '00000';
          EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
          END;
          PERFORM fuzz.note(p_id, 'fire', st, msg, t0);
        END LOOP;
      END IF;
    END IF;

  ELSIF r.target = 'vdesign' THEN
    IF fuzz.has('cyoda_wf.validate_design(text)') THEN
      BEGIN
        PERFORM count(*) FROM cyoda_wf.validate_design(r.a);
        st := '00000';
      EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
      END;
    ELSE
      st := 'SKIP';
    END IF;
    PERFORM fuzz.note(p_id, 'validate_design(text)', st, msg, t0);
    t0 := clock_timestamp();
    msg := NULL;
    IF fuzz.has('cyoda_wf.validate_design(jsonb)') THEN
      BEGIN
        PERFORM count(*) FROM cyoda_wf.validate_design(r.a::jsonb);
        st := '00000';
      EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
      END;
    ELSE
      st := 'SKIP';
    END IF;
    PERFORM fuzz.note(p_id, 'validate_design(jsonb)', st, msg, t0);

  ELSIF r.target = 'idesign' THEN
    IF fuzz.has('cyoda_wf.import_design(jsonb,text)') THEN
      BEGIN
        PERFORM cyoda_wf.import_design(r.a::jsonb, r.b);
        st := '00000';
      EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
      END;
    ELSE
      st := 'SKIP';
    END IF;
    PERFORM fuzz.note(p_id, 'import_design(jsonb)', st, msg, t0);
    t0 := clock_timestamp();
    msg := NULL;
    IF fuzz.has('cyoda_wf.import_design(text,text)') THEN
      BEGIN
        PERFORM cyoda_wf.import_design(r.a, r.b);
        st := '00000';
      EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
      END;
    ELSE
      st := 'SKIP';
    END IF;
    PERFORM fuzz.note(p_id, 'import_design(text)', st, msg, t0);

  ELSIF r.target = 'search' THEN
    IF fuzz.has('cyoda_wf.search(text,integer,jsonb,timestamp with time zone,text[],integer,integer)') THEN
      BEGIN
        PERFORM count(*) FROM cyoda_wf.search(r.b, 1, r.a::jsonb);
        st := '00000';
        -- search and the evaluator agree (lifecycle facts are not in
        -- check_condition's reach)
        IF position('lifecycle' in r.a) = 0 AND EXISTS (
             (SELECT s.id FROM cyoda_wf.search(r.b, 1, r.a::jsonb) s
              EXCEPT
              SELECT e.id FROM cyoda_wf.entity e
               WHERE e.model = r.b AND e.model_version = 1
                 AND cyoda_wf.check_condition(r.a::jsonb, e.data))
             UNION ALL
             (SELECT e.id FROM cyoda_wf.entity e
               WHERE e.model = r.b AND e.model_version = 1
                 AND cyoda_wf.check_condition(r.a::jsonb, e.data)
              EXCEPT
              SELECT s.id FROM cyoda_wf.search(r.b, 1, r.a::jsonb) s)) THEN
          st := 'XX000';
          msg := 'search and check_condition disagree';
        END IF;
      EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
      END;
    ELSE
      st := 'SKIP';
    END IF;
    PERFORM fuzz.note(p_id, 'search', st, msg, t0);
  ELSE
    RAISE EXCEPTION 'fuzz: unknown target %', r.target;
  END IF;
END $$;
