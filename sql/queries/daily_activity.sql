-- Activity per UTC day over all users: sessions, active users, inputs (the report's time series).
-- param source = "all"
with sessions as (
    select * from sessions
    where $source = 'all' or source = $source
),

final as (
    select
        (created_at at time zone 'UTC')::date as day,
        count(*) as n_sessions,
        count(distinct user_id) as n_active_users,
        sum(n_inputs)::bigint as n_inputs,
        count(*) filter (where n_refined_frames > 0) as n_refining_sessions
    from sessions
    group by day
)

select * from final order by day
