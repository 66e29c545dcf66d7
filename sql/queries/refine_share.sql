-- §4.1: the share of sessions that refine at least one frame after propagation (paper: 15%).
-- param source = "all"
with sessions as (
    select session_id, source, n_refined_frames from sessions
),

selected as (
    select * from sessions
    where $source = 'all' or source = $source
),

final as (
    select
        count(*) as n_sessions,
        count(*) filter (where n_refined_frames > 0) as n_refining_sessions,
        count(*) filter (where n_refined_frames > 0) / nullif(count(*), 0) as refine_share,
        coalesce(sum(n_refined_frames), 0)::bigint as n_refined_frames
    from selected
)

select * from final
