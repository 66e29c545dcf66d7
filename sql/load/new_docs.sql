-- the batch table _new_docs (analytics.batch_tables: registered as Arrow for the rest of the batch)
-- the parsed documents of the batch's new sessions (first of their id in the batch, id not stored
-- yet), one row each; the insert_*.sql statements flatten them.
with new as (
    select s.position, s.session_id, s.created_at, s.content_sha256, s.fast
    from _stage as s
    anti join sessions as e using (session_id)
    where s.rn = 1
),

docs as (
    select n.*, c.doc from new as n inner join _checked as c using (position) where n.fast
    union all
    select n.*, d.doc from new as n inner join _slow_docs as d using (position) where not n.fast
),

final as (
    select
        session_id,
        created_at,
        content_sha256,
        $source_file as source_file,
        position as source_position,
        $loaded_at::timestamptz as loaded_at,
        doc
    from docs
)

select * from final
