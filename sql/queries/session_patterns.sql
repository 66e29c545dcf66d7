-- Fig. 7, per session: count click-like, stroke-like and highlight-like inputs (macro
-- input_shape_frac, sql/macros/input_shape_frac.sql: the rule of input_shape.sql on the
-- frame-relative features stored per input) and name the session's pattern:
--   'clicks'       if more than half of its inputs are click-like,
--   'highlighting' else if highlight-like inputs are at least as many as stroke-like ones,
--   'strokes'      otherwise.
-- param source = "all"
-- param click_max_path_frac = 0.02
-- param highlight_min_path_frac = 0.6
-- param highlight_min_tortuosity = 1.8
-- param highlight_min_ink_frac = 0.1
with sessions as (
    select session_id, user_id, source from sessions
    where $source = 'all' or source = $source
),

shaped as (
    select
        i.session_id,
        input_shape_frac(
            i.kind, i.path_frac, i.tortuosity, i.ink_frac,
            $click_max_path_frac, $highlight_min_path_frac, $highlight_min_tortuosity, $highlight_min_ink_frac
        ) as shape
    from inputs as i
    semi join sessions as s using (session_id)
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
