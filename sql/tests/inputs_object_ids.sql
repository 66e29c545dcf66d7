-- object ids are palette indices 1..254 and a session has at least as many objects as its inputs name
with used as (
    select session_id, count(distinct object_id) as n_used, min(object_id) as lo, max(object_id) as hi
    from inputs group by session_id
),

final as (
    select u.session_id, u.n_used, u.lo, u.hi, s.n_objects
    from used as u
    inner join sessions as s using (session_id)
    where u.lo < 1 or u.hi > 254 or u.n_used > s.n_objects or s.n_objects < 1
)

select * from final
