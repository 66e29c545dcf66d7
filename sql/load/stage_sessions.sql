-- the batch table _stage (analytics.batch_tables: registered as Arrow for the rest of the batch)
-- the accepted documents of a batch, keys only: those the fast path accepted (_checked rows listed
-- in _fast) and those the session model accepted (_slow_docs). content_sha256 (the duplicate
-- policy) hashes the minified original; rn = 1 marks the first of a session_id in the batch.
with accepted as (
    select c.position, c.doc.session_id as session_id, c.doc.created_at::timestamptz as created_at,
           sha256(json(c.document)) as content_sha256, true as fast
    from _checked as c
    semi join _fast as f using (position)

    union all

    select position, session_id, created_at, sha256(json(document)) as content_sha256, false as fast
    from _slow_docs
),

final as (
    select
        position,
        session_id,
        created_at,
        content_sha256,
        fast,
        row_number() over (partition by session_id order by position) as rn
    from accepted
)

select * from final
