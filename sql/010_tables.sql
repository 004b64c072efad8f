-- Definitions --------------------------------------------------------------

-- One row per model version known to the engine: what a design said of it.
-- Models that only have native workflows get a row with every source allowed.
CREATE TABLE cyoda_wf.model (
    name            text        NOT NULL,
    version         integer     NOT NULL DEFAULT 1,
    entity_type     text,
    sources         text[]      NOT NULL DEFAULT ARRAY['API_REQUEST','SCHEDULED','ENTITY_EVENT'],
    depends_on      text,
    function_schema text        NOT NULL DEFAULT 'public',
    design          jsonb,
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (name, version),
    CHECK (sources <@ ARRAY['API_REQUEST','SCHEDULED','ENTITY_EVENT'])
);

-- Workflows of a model in their stored order; definition is the imported
-- JSON with defaults filled in, exactly what export_workflows returns.
CREATE TABLE cyoda_wf.workflow (
    model           text        NOT NULL,
    model_version   integer     NOT NULL,
    name            text        NOT NULL,
    ord             integer     NOT NULL,
    definition      jsonb       NOT NULL,
    function_schema text        NOT NULL DEFAULT 'public',
    owner           regrole     NOT NULL,
    imported_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (model, model_version, name)
);

-- Entities -----------------------------------------------------------------

CREATE TABLE cyoda_wf.entity (
    id              uuid        PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    model           text        NOT NULL,
    model_version   integer     NOT NULL DEFAULT 1,
    state           text,
    data            jsonb       NOT NULL DEFAULT '{}',
    created_at      timestamptz,
    updated_at      timestamptz,
    version         bigint,
    last_transition text,
    workflow        text,
    parent_id       uuid,
    source          text,
    transaction_id  bigint
);
CREATE INDEX entity_model_state_idx ON cyoda_wf.entity (model, model_version, state);
CREATE INDEX entity_parent_idx ON cyoda_wf.entity (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX entity_data_idx ON cyoda_wf.entity USING gin (data jsonb_path_ops);

-- One immutable row per save (CREATE, UPDATE, DELETE) of every entity.
CREATE TABLE cyoda_wf.entity_version (
    entity_id       uuid        NOT NULL,
    version         bigint      NOT NULL,
    change_type     text        NOT NULL,   -- CREATE, UPDATE or DELETE
    changed_at      timestamptz NOT NULL,
    changed_by      text        NOT NULL,
    model           text        NOT NULL,
    model_version   integer     NOT NULL,
    state           text,
    transition      text,
    transaction_id  bigint      NOT NULL,
    data            jsonb,
    PRIMARY KEY (entity_id, version)
);

-- Audit --------------------------------------------------------------------

CREATE TABLE cyoda_wf.audit (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity_id       uuid        NOT NULL,
    at              timestamptz NOT NULL,
    transaction_id  bigint      NOT NULL,
    event_type      text        NOT NULL,
    transition      text,
    from_state      text,
    to_state        text,
    role            text        NOT NULL,
    detail          jsonb
);
CREATE INDEX audit_entity_idx ON cyoda_wf.audit (entity_id, id);

-- Definitions and entities are user data: pg_dump keeps them.
SELECT pg_catalog.pg_extension_config_dump('cyoda_wf.model', '');
SELECT pg_catalog.pg_extension_config_dump('cyoda_wf.workflow', '');
SELECT pg_catalog.pg_extension_config_dump('cyoda_wf.entity', '');
SELECT pg_catalog.pg_extension_config_dump('cyoda_wf.entity_version', '');
SELECT pg_catalog.pg_extension_config_dump('cyoda_wf.audit', '');
SELECT pg_catalog.pg_extension_config_dump('cyoda_wf.audit_id_seq', '');

