-- Fig. 7, per session: count click-like, stroke-like and highlight-like inputs (macro input_shape,
-- sql/macros/input_shape.sql) and name the session's pattern:
--   'clicks'       if more than half of its inputs are click-like,
--   'highlighting' else if highlight-like inputs are at least as many as stroke-like ones,
--   'strokes'      otherwise.
-- param source = "all"
-- param click_max_path_frac = 0.02
-- param highlight_min_path_frac = 0.6
-- param highlight_min_tortuosity = 1.8
-- param highlight_min_ink_frac = 0.1
with inputs as (
    select session_id, kind, path_length, bbox_width, bbox_height, ink_area from inputs
),

sessions as (
    select session_id, user_id, source, video_width, video_height from sessions
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

final as (
    select
        c.*,
        case
            when n_click_like * 2 > n_inputs then 'clicks'
            when n_highlight_like >= n_stroke_like then 'highlighting'
            else 'strokes'
        end as pattern
    from counted as c
)

select * from final order by session_id
