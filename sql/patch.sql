-- patch_item: RFC 7386 merge patch on the stored data, saved as update_item
-- saves; reads by transaction (get_item, get_entity) and changes up to a time;
-- delete_items.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
RESET client_min_messages;
\set SHOW_CONTEXT never

-- force: entities of "doc" saved by earlier tests stay on the workflows this
-- REPLACE removes (an import would otherwise refuse to strand them)
SELECT cyoda_wf.import_workflows('doc', 1, $json$
{
  "importMode": "REPLACE",
  "workflows": [
    {
      "version": "1.0", "name": "doc_flow", "initialState": "draft", "active": true,
      "states": {
        "draft": {
          "transitions": [
            {"name": "auto_ready", "next": "ready", "manual": false,
             "criterion": {"type": "simple", "jsonPath": "$.ready", "operatorType": "EQUALS", "value": true}},
            {"name": "publish", "next": "published", "manual": true}
          ]
        },
        "ready": {"transitions": [{"name": "publish", "next": "published", "manual": true}]},
        "published": {"transitions": []}
      }
    }
  ]
}
$json$, '{"force": true}') IS NOT NULL AS imported;

-- declared, so saves run the default workflow
SELECT count(*) AS declared FROM (SELECT cyoda_wf.import_workflows(m, 1, '{"workflows": []}')
  FROM unnest(ARRAY['note', 'bulk']) AS m) d \gset
INSERT INTO cyoda_wf.entity (id, model, data) VALUES
  ('00000000-0000-0000-0000-0000000000a1', 'doc',
   '{"title": "t", "n": 1.50, "big": 123456789012345678901234567890.000001,
     "tags": ["a", "b"], "author": {"name": "ann", "mail": "a@x", "addr": {"city": "Oslo"}},
     "gone": 1}');

-- objects merge recursively, null deletes, arrays are replaced whole, new keys
-- are added (nulls inside them dropped), untouched numbers stay exact
SELECT cyoda_wf.patch_item('00000000-0000-0000-0000-0000000000a1',
  '{"gone": null, "tags": ["c"], "author": {"mail": null, "addr": {"zip": "0150"}},
    "extra": {"x": 1, "y": null}, "n2": 2.000}');
SELECT cyoda_wf.get_item('00000000-0000-0000-0000-0000000000a1');
-- a patch replacing an object by a scalar, and a scalar by an object
SELECT cyoda_wf.patch_item('00000000-0000-0000-0000-0000000000a1',
  '{"author": "bob", "title": {"main": "T", "sub": null}}');
SELECT cyoda_wf.get_item('00000000-0000-0000-0000-0000000000a1');

-- {} still saves (a loopback: the criterion is evaluated again) ...
SELECT version FROM cyoda_wf.entity WHERE id = '00000000-0000-0000-0000-0000000000a1';
SELECT cyoda_wf.patch_item('00000000-0000-0000-0000-0000000000a1', '{}');
SELECT version, state FROM cyoda_wf.entity WHERE id = '00000000-0000-0000-0000-0000000000a1';
-- ... and a patch can make an automatic transition match
SELECT cyoda_wf.patch_item('00000000-0000-0000-0000-0000000000a1', '{"ready": true}');
-- {} with a transition fires it
SELECT cyoda_wf.patch_item('00000000-0000-0000-0000-0000000000a1', '{}', 'publish');
SELECT version, state, last_transition FROM cyoda_wf.entity
 WHERE id = '00000000-0000-0000-0000-0000000000a1';

-- if_match compares with version (40001 when it differs)
SELECT cyoda_wf.patch_item('00000000-0000-0000-0000-0000000000a1', '{"k": 1}', NULL, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.patch_item('00000000-0000-0000-0000-0000000000a1', '{"k": 1}', NULL, 6);
SELECT version, data->'k' AS k FROM cyoda_wf.entity WHERE id = '00000000-0000-0000-0000-0000000000a1';

-- a patch that is not an object: 22023; NULLs: 22004; no such entity: P0002
SELECT cyoda_wf.patch_item('00000000-0000-0000-0000-0000000000a1', '[1]');
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.patch_item('00000000-0000-0000-0000-0000000000a1', 'null');
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.patch_item('00000000-0000-0000-0000-0000000000a1', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.patch_item('00000000-0000-0000-0000-0000000000ff', '{}');
\echo :LAST_ERROR_SQLSTATE

-- Reads by transaction: two saves in one transaction, one in another
INSERT INTO cyoda_wf.entity (id, model, data) VALUES
  ('00000000-0000-0000-0000-0000000000b1', 'note', '{"v": 1}');
BEGIN;
SELECT cyoda_wf.patch_item('00000000-0000-0000-0000-0000000000b1', '{"v": 2}');
SELECT cyoda_wf.patch_item('00000000-0000-0000-0000-0000000000b1', '{"w": 3}');
COMMIT;
SELECT cyoda_wf.update_item('00000000-0000-0000-0000-0000000000b1', '{"v": 4}');
CREATE TEMP TABLE tx AS
SELECT version, transaction_id FROM cyoda_wf.changes('00000000-0000-0000-0000-0000000000b1');
SELECT c.version, c.change_type, dense_rank() OVER (ORDER BY c.transaction_id) AS tx_rank
  FROM cyoda_wf.changes('00000000-0000-0000-0000-0000000000b1') c ORDER BY c.version;
-- the middle transaction's last save
SELECT cyoda_wf.get_item('00000000-0000-0000-0000-0000000000b1', NULL,
                         (SELECT transaction_id FROM tx WHERE version = 3));
SELECT e->'data' AS data, e->'meta'->'state' AS state,
       (e->'meta'->>'transactionId')::bigint = (SELECT transaction_id FROM tx WHERE version = 3) AS same_tx
  FROM cyoda_wf.get_entity('00000000-0000-0000-0000-0000000000b1', NULL,
                           (SELECT transaction_id FROM tx WHERE version = 3)) e;
-- with a point in time too: that transaction's saves made up to then
SELECT cyoda_wf.get_item('00000000-0000-0000-0000-0000000000b1',
         (SELECT changed_at FROM cyoda_wf.entity_version
           WHERE entity_id = '00000000-0000-0000-0000-0000000000b1' AND version = 2),
         (SELECT transaction_id FROM tx WHERE version = 3));
-- changes up to a point in time
SELECT version FROM cyoda_wf.changes('00000000-0000-0000-0000-0000000000b1',
         (SELECT changed_at FROM cyoda_wf.entity_version
           WHERE entity_id = '00000000-0000-0000-0000-0000000000b1' AND version = 2));
-- a transaction that did not save the entity: P0002
SELECT cyoda_wf.get_item('00000000-0000-0000-0000-0000000000b1', NULL, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.get_entity('00000000-0000-0000-0000-0000000000b1', NULL, 1);
\echo :LAST_ERROR_SQLSTATE
-- deleted entities are still read by transaction; the deleting one has no data
SELECT cyoda_wf.delete_item('00000000-0000-0000-0000-0000000000b1');
SELECT cyoda_wf.get_item('00000000-0000-0000-0000-0000000000b1', NULL,
                         (SELECT transaction_id FROM tx WHERE version = 4));
SELECT cyoda_wf.get_entity('00000000-0000-0000-0000-0000000000b1', NULL,
                           (SELECT transaction_id FROM tx WHERE version = 1))->'data';
\set VERBOSITY sqlstate
SELECT cyoda_wf.get_item('00000000-0000-0000-0000-0000000000b1', NULL,
         (SELECT transaction_id FROM cyoda_wf.changes('00000000-0000-0000-0000-0000000000b1')
           WHERE change_type = 'DELETE'));
\set VERBOSITY default

-- delete_items: the live entities a condition finds, each recorded as a delete
INSERT INTO cyoda_wf.entity (id, model, data) VALUES
  ('00000000-0000-0000-0000-0000000000c1', 'bulk', '{"color": "red"}'),
  ('00000000-0000-0000-0000-0000000000c2', 'bulk', '{"color": "blue"}'),
  ('00000000-0000-0000-0000-0000000000c3', 'bulk', '{"color": "red"}'),
  ('00000000-0000-0000-0000-0000000000c4', 'bulk', '{"color": "green"}');
SELECT now() AS before_change \gset
SELECT cyoda_wf.update_item('00000000-0000-0000-0000-0000000000c4', '{"color": "red"}');
SELECT cyoda_wf.delete_items('bulk', 1,
  '{"type": "simple", "jsonPath": "$.color", "operatorType": "EQUALS", "value": "blue"}');
SELECT id FROM cyoda_wf.entity WHERE model = 'bulk' ORDER BY id;
SELECT entity_id, version, change_type, state FROM cyoda_wf.entity_version
 WHERE entity_id = '00000000-0000-0000-0000-0000000000c2' ORDER BY version;
-- with a point in time: red then (c1, c3; c4 was green), still live
SELECT cyoda_wf.delete_items('bulk', 1,
  '{"type": "simple", "jsonPath": "$.color", "operatorType": "EQUALS", "value": "red"}',
  :'before_change');
SELECT id, data FROM cyoda_wf.entity WHERE model = 'bulk' ORDER BY id;
-- no condition: all of the model version; none left: 0
SELECT cyoda_wf.delete_items('bulk', 1);
SELECT cyoda_wf.delete_items('bulk', 1);
-- a bad condition is search's 22023; a NULL model 22004
SELECT cyoda_wf.delete_items('bulk', 1, '{"type": "simple", "jsonPath": "$.x", "operatorType": "NOPE"}');
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.delete_items(NULL, 1);
\echo :LAST_ERROR_SQLSTATE

-- entity_service.get_item reads by transaction and as of a time too (the
-- entity b1 read here has been deleted since)
CREATE FUNCTION public.read_by_tx(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE plpython3u TRANSFORM FOR TYPE jsonb AS $$
from cyoda_wf import entity_service as es
tok = meta["token"]
by_tx = es.get_item(tok, "note", 1, data["target"], transaction_id=int(data["tx"]))
at = es.get_item(tok, "note", 1, data["target"], point_in_time=data["at"])
return dict(data, by_tx=by_tx, at=at)
$$;
SELECT cyoda_wf.import_workflows('reader', 1, $json$
{"workflows": [{"version": "1.0", "name": "reader_wf", "initialState": "new",
  "states": {"new": {"transitions": [{"name": "read", "next": "done", "manual": false,
                                      "processors": [{"name": "read_by_tx"}]}]},
             "done": {"transitions": []}}}]}
$json$) IS NOT NULL AS imported;
SELECT cyoda_wf.add_item('reader', 1, jsonb_build_object(
         'target', '00000000-0000-0000-0000-0000000000b1',
         'tx', (SELECT transaction_id FROM tx WHERE version = 3),
         'at', (SELECT changed_at FROM cyoda_wf.entity_version
                 WHERE entity_id = '00000000-0000-0000-0000-0000000000b1' AND version = 1))) AS reader \gset
SELECT state, data->'by_tx' AS by_tx, data->'at' AS at FROM cyoda_wf.entity WHERE id = :'reader';
