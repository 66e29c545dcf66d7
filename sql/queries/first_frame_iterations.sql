-- Fig. 8: iterations spent on the first frame, as a histogram with the median (paper: median 4).
-- One row per iteration count; median/mean/total repeat on every row.
-- param source = "all"
with selected_sessions as (
    select session_id from sessions where source = $source
),

first_frames as (
    select n_iterations
    from frames
    where stage = 'first_frame'
      and ($source = 'all' or session_id in (select session_id from selected_sessions))
),

histogram as (
    select n_iterations, count(*) as n_frames
    from first_frames
    group by n_iterations
),

summary as (
    select
        quantile_cont(n_iterations, 0.5) as median_iterations,
        avg(n_iterations) as mean_iterations,
        count(*) as total_frames
    from first_frames
),

final as (
    select
        h.n_iterations,
        h.n_frames,
        h.n_frames / s.total_frames as share,
        s.median_iterations,
        s.mean_iterations,
        s.total_frames
    from histogram as h
    cross join summary as s
)

select * from final order by n_iterations
