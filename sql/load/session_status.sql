-- staged sessions that are not new: an id already stored, or a repeat of an id inside the batch;
-- 'unchanged' when the content hash matches the kept one, else 'conflict' (quarantined)
select
    s.position,
    s.session_id,
    case
        when e.session_id is not null then
            case when e.content_sha256 = s.content_sha256 then 'unchanged' else 'conflict' end
        when s.rn > 1 then
            case when f.content_sha256 = s.content_sha256 then 'unchanged' else 'conflict' end
        else 'new'
    end as status,
    coalesce(e.source_file || ':' || e.source_position, $source_file || ':' || f.position) as kept_from,
    left(coalesce(c.document, d.document), $snippet_chars) as snippet
from _stage as s
left join sessions as e using (session_id)
left join _stage as f on f.session_id = s.session_id and f.rn = 1
left join _checked as c on c.position = s.position
left join _slow_docs as d on d.position = s.position
where e.session_id is not null or s.rn > 1
