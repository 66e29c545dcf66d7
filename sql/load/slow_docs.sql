-- the batch table _slow_docs (analytics.batch_tables: registered as Arrow for the rest of the batch)
-- documents the model accepted (_slow_ok), parsed by the session_doc macro like the fast path's
select position, session_id, created_at, document, session_doc(canonical) as doc
from _slow_ok
