-- session_doc: a session log (JSON text) as a typed struct, the one parse every load step reuses.
-- Lenient like json_transform (missing keys and JSON nulls become NULL, castable values are cast):
-- sql/macros/session_doc_keys.sql and analytics/prevalidate.py decide whether a document is valid.
create or replace macro session_doc(document) as
    json_transform(document, '{"schema_version": "VARCHAR", "session_id": "VARCHAR", "user_id": "VARCHAR", "created_at": "VARCHAR", "source": "VARCHAR", "meta": "JSON", "video": {"uri": "VARCHAR", "width": "INTEGER", "height": "INTEGER", "n_frames": "INTEGER", "fps": "DOUBLE", "dataset": "VARCHAR", "sequence": "VARCHAR"}, "frames": [{"frame_index": "INTEGER", "stage": "VARCHAR", "iterations": [{"index": "INTEGER", "duration_s": "DOUBLE", "inputs": [{"kind": "VARCHAR", "x": "DOUBLE", "y": "DOUBLE", "positive": "BOOLEAN", "t": "DOUBLE", "radius": "DOUBLE", "points": "DOUBLE[][]"}]}]}]}')
