-- Fig. 7: share of sessions per annotation pattern (clicks / strokes / highlighting). Same rule
-- as session_patterns.sql (macro input_shape + majority vote), aggregated.
-- param source = "all"
-- param click_max_path_frac = 0.02
-- param highlight_min_path_frac = 0.6
-- param highlight_min_tortuosity = 1.8
-- param highlight_min_ink_frac = 0.1
with inputs as (
    select session_id, kind, path_length, bbox_width, bbox_height, ink_area from inputs
),

sessions as (
    select session_id, video_width, video_height from sessions
    where $source = 'all' or source = $source
),

shaped as (
    select
        i.session_id,
        input_shape(
            i.kind, i.path_length, i.bbox_width, i.bbox_height, i.ink_area,
            s.video_width::double, s.video_height::double,
            $click_max_path_frac, $highlight_min_path_frac, $highlight_min_tortuosity, $highlight_min_ink_frac
        ) as shape
    from inputs as i
    inner join sessions as s using (session_id)
),

counted as (
    select
        session_id,
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
