-- documents the model accepted (_slow_ok), parsed by the session_doc macro like the fast path's
create or replace temp table _slow_docs as
select position, session_id, created_at, document, session_doc(canonical) as doc
from _slow_ok
