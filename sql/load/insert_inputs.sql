insert into inputs
with frames as (
    select
        session_id,
        doc.video.width::double as frame_w,
        doc.video.height::double as frame_h,
        unnest(doc.frames) as frame,
        generate_subscripts(doc.frames, 1) as pos
    from _new_docs
),

iterations as (
    select
        session_id,
        frame_w,
        frame_h,
        pos - 1 as frame_pos,
        unnest(frame.iterations) as iteration,
        generate_subscripts(frame.iterations, 1) as it_pos
    from frames
),

unnested as (
    select
        session_id,
        frame_w,
        frame_h,
        frame_pos,
        it_pos - 1 as iteration_index,
        unnest(iteration.inputs) as inp,
        generate_subscripts(iteration.inputs, 1) as pos
    from iterations
),

measured as (
    select
        session_id,
        frame_w,
        frame_h,
        frame_pos,
        iteration_index,
        pos - 1 as input_pos,
        coalesce(inp.kind, 'click') as kind,
        coalesce(inp.positive, true) as positive,
        inp.t as t,
        inp.x as x,
        inp.y as y,
        inp.points as pts,
        coalesce(inp.radius, 3.0) as stroke_radius,
        coalesce(inp.object_id, 1) as object_id
    from unnested
),

final as (
    select
        session_id,
        frame_pos::integer as frame_pos,
        iteration_index::integer as iteration_index,
        input_pos::integer as input_pos,
        kind,
        positive,
        t,
        case when kind = 'click' then x end as x,
        case when kind = 'click' then y end as y,
        (case when kind = 'click' then 1 else len(pts) end)::integer as n_points,
        case when kind = 'click' then 0.0 else coalesce(list_sum(list_transform(
            range(1, len(pts)),
            lambda k: sqrt((pts[k + 1][1] - pts[k][1]) ** 2 + (pts[k + 1][2] - pts[k][2]) ** 2)
        )), 0.0) end as path_length,
        case when kind = 'click' then 0.0
            else list_max(list_transform(pts, lambda p: p[1])) - list_min(list_transform(pts, lambda p: p[1])) end
            as bbox_width,
        case when kind = 'click' then 0.0
            else list_max(list_transform(pts, lambda p: p[2])) - list_min(list_transform(pts, lambda p: p[2])) end
            as bbox_height,
        bbox_width * bbox_height as bbox_area,
        case when kind = 'stroke' then stroke_radius end as radius,
        case when kind = 'click' then 0.0
            else path_length * 2 * stroke_radius + pi() * stroke_radius ** 2 end as ink_area,
        frame_w,
        frame_h,
        object_id
    from measured
)

select
    session_id, frame_pos, iteration_index, input_pos, kind, positive, t, x, y, n_points, path_length,
    bbox_width, bbox_height, bbox_area, radius, ink_area,
    path_length / sqrt(frame_w * frame_w + frame_h * frame_h) as path_frac,
    path_length / greatest(sqrt(bbox_width * bbox_width + bbox_height * bbox_height), 1.0) as tortuosity,
    ink_area / (frame_w * frame_h) as ink_frac,
    object_id::integer as object_id
from final
