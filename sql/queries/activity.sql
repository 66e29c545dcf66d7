-- Activity per user and UTC day: sessions, annotated frames, iterations, inputs, refinements.
-- param source = "all"
with sessions as (
    select * from sessions
    where $source = 'all' or source = $source
),

daily as (
    select
        user_id,
        (created_at at time zone 'UTC')::date as day,
        count(*) as n_sessions,
        sum(n_frames)::bigint as n_frames,
        sum(n_iterations)::bigint as n_iterations,
        sum(n_inputs)::bigint as n_inputs,
        count(*) filter (where n_refined_frames > 0) as n_refining_sessions
    from sessions
    group by user_id, day
),

final as (
    select * from daily
)

select * from final order by day, user_id
