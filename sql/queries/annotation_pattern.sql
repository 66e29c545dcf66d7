-- Fig. 7: share of sessions per annotation pattern (clicks / strokes / highlighting). Same rule
-- as session_patterns.sql (macro input_shape_frac on the frame-relative features stored per input
-- at load, + majority vote), aggregated; no join with sessions unless a source is selected.
-- param source = "all"
-- param click_max_path_frac = 0.02
-- param highlight_min_path_frac = 0.6
-- param highlight_min_tortuosity = 1.8
-- param highlight_min_ink_frac = 0.1
with selected_sessions as (
    select session_id from sessions where source = $source
),

shaped as (
    select
        session_id,
        input_shape_frac(
            kind, path_frac, tortuosity, ink_frac,
            $click_max_path_frac, $highlight_min_path_frac, $highlight_min_tortuosity, $highlight_min_ink_frac
        ) as shape
    from inputs
    where $source = 'all' or session_id in (select session_id from selected_sessions)
),

counted as (
    select
        count(*) as n_inputs,
        count(*) filter (where shape = 'click') as n_click_like,
        count(*) filter (where shape = 'stroke') as n_stroke_like,
        count(*) filter (where shape = 'highlight') as n_highlight_like
    from shaped
    group by session_id
),

patterned as (
    select
        case
            when n_click_like * 2 > n_inputs then 'clicks'
            when n_highlight_like >= n_stroke_like then 'highlighting'
            else 'strokes'
        end as pattern
    from counted
),

final as (
    select
        pattern,
        count(*) as n_sessions,
        count(*) / sum(count(*)) over () as share
    from patterned
    group by pattern
)

select * from final order by pattern
