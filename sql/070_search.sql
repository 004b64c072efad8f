-- Search and history retention -----------------------------------------------

CREATE FUNCTION cyoda_wf.search(model text, model_version integer, condition jsonb,
                                point_in_time timestamptz DEFAULT NULL)
    RETURNS SETOF cyoda_wf.entity
    LANGUAGE C STABLE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'search_entities';
COMMENT ON FUNCTION cyoda_wf.search(text, integer, jsonb, timestamptz) IS
    'Entities of a model version whose data / lifecycle match a Cyoda condition (all when NULL), now or as of point_in_time, ordered by created_at, id. The condition becomes one parameterized SQL query (see search_sql); function criteria are refused (22023).';

CREATE FUNCTION cyoda_wf.search_sql(model text, model_version integer, condition jsonb,
                                    point_in_time timestamptz DEFAULT NULL)
    RETURNS text
    LANGUAGE C STABLE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'search_sql';
COMMENT ON FUNCTION cyoda_wf.search_sql(text, integer, jsonb, timestamptz) IS
    'Debugging aid: the SQL that search() runs for these arguments, with its parameters written as literals, e.g. to EXPLAIN it. search() itself passes every value as a parameter.';

-- One history retention policy per model (all its versions).  NULL limits
-- are not applied; prune_history() enforces the policies.
CREATE TABLE cyoda_wf.retention (
    model           text        PRIMARY KEY,
    keep_versions   integer     CHECK (keep_versions >= 1),
    keep_for        interval    CHECK (keep_for > interval '0'),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CHECK (keep_versions IS NOT NULL OR keep_for IS NOT NULL)
);
SELECT pg_catalog.pg_extension_config_dump('cyoda_wf.retention', '');

CREATE FUNCTION cyoda_wf.set_retention(model text, keep_versions integer DEFAULT NULL,
                                       keep_for interval DEFAULT NULL)
    RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp AS
$$
BEGIN
    IF set_retention.model IS NULL THEN
        RAISE EXCEPTION 'model must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF keep_versions IS NOT NULL AND keep_versions < 1 THEN
        RAISE EXCEPTION 'keep_versions must be at least 1, not %', keep_versions
            USING ERRCODE = '22023',
                  HINT = 'The latest version of a live entity is always kept.';
    END IF;
    IF keep_for IS NOT NULL AND keep_for <= interval '0' THEN
        RAISE EXCEPTION 'keep_for must be a positive interval, not %', keep_for
            USING ERRCODE = '22023';
    END IF;
    IF keep_versions IS NULL AND keep_for IS NULL THEN
        DELETE FROM cyoda_wf.retention r WHERE r.model = set_retention.model;
        RETURN;
    END IF;
    INSERT INTO cyoda_wf.retention AS r (model, keep_versions, keep_for)
    VALUES (set_retention.model, keep_versions, keep_for)
    ON CONFLICT ON CONSTRAINT retention_pkey DO UPDATE
       SET keep_versions = EXCLUDED.keep_versions, keep_for = EXCLUDED.keep_for,
           updated_at = pg_catalog.now();
END
$$;
COMMENT ON FUNCTION cyoda_wf.set_retention(text, integer, interval) IS
    'Bound the history of a model: keep_versions keeps the newest N version rows of each entity, keep_for keeps what point-in-time reads back to now() - keep_for need; both NULL removes the policy. prune_history() applies it.';

CREATE FUNCTION cyoda_wf.prune_history(model text DEFAULT NULL)
    RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    p record;
    horizon timestamptz;
    n bigint;
    total bigint := 0;
BEGIN
    FOR p IN SELECT r.model, r.keep_versions, r.keep_for FROM cyoda_wf.retention r
              WHERE prune_history.model IS NULL OR r.model = prune_history.model
              ORDER BY r.model
    LOOP
        horizon := pg_catalog.now() - p.keep_for;   -- NULL without keep_for

        -- Audit rows older than the horizon.
        IF horizon IS NOT NULL THEN
            DELETE FROM cyoda_wf.audit a
             WHERE a.at < horizon
               AND a.entity_id IN (SELECT DISTINCT v.entity_id FROM cyoda_wf.entity_version v
                                    WHERE v.model = p.model);
            GET DIAGNOSTICS n = ROW_COUNT;
            total := total + n;
        END IF;

        -- Version rows: per entity an oldest part goes, so what is left is
        -- the complete history from its oldest row on.  Kept: the newest
        -- keep_versions rows, and every row from the one in effect at the
        -- horizon on; an entity deleted before the horizon goes entirely.
        WITH ranked AS (
            SELECT v.entity_id, v.version, v.changed_at,
                   pg_catalog.row_number() OVER w AS rn,
                   pg_catalog.first_value(v.change_type) OVER w AS last_type,
                   pg_catalog.first_value(v.changed_at) OVER w AS last_at,
                   pg_catalog.max(v.version) FILTER (WHERE v.changed_at <= horizon)
                       OVER (PARTITION BY v.entity_id) AS at_horizon
              FROM cyoda_wf.entity_version v
             WHERE v.model = p.model
            WINDOW w AS (PARTITION BY v.entity_id ORDER BY v.version DESC)
        ), doomed AS (
            SELECT r.entity_id, r.version, r.changed_at,
                   (r.last_type = 'DELETE' AND r.last_at <= horizon) IS TRUE AS forget
              FROM ranked r
             WHERE r.rn > p.keep_versions
                OR r.version < r.at_horizon
                OR (r.last_type = 'DELETE' AND r.last_at <= horizon)
        ), gone AS (
            DELETE FROM cyoda_wf.entity_version v USING doomed d
             WHERE v.entity_id = d.entity_id AND v.version = d.version
            RETURNING d.entity_id, d.changed_at, d.forget
        ), cut AS (
            SELECT g.entity_id, pg_catalog.bool_or(g.forget) AS forget,
                   pg_catalog.max(g.changed_at) AS upto
              FROM gone g GROUP BY g.entity_id
        ), gone_audit AS (
            -- the audit rows of the saves whose versions went
            DELETE FROM cyoda_wf.audit a USING cut
             WHERE a.entity_id = cut.entity_id AND (cut.forget OR a.at <= cut.upto)
            RETURNING 1
        )
        SELECT (SELECT pg_catalog.count(*) FROM gone) + (SELECT pg_catalog.count(*) FROM gone_audit)
          INTO n;
        total := total + n;
    END LOOP;
    RETURN total;
END
$$;
COMMENT ON FUNCTION cyoda_wf.prune_history(text) IS
    'Apply the retention policy of one model (all when NULL): delete the version and audit rows it no longer keeps; returns how many rows were deleted. Point-in-time reads before what is kept of an entity raise P0002.';
