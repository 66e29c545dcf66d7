-- kind is accepted; clicks have coordinates inside the frame; strokes have >= 1 point and
-- non-negative path length, bounding box and ink area
with inputs as (
    select * from inputs
),

sessions as (
    select session_id, video_width, video_height from sessions
),

final as (
    select i.session_id, i.frame_pos, i.iteration_index, i.input_pos, i.kind, i.x, i.y
    from inputs as i
    inner join sessions as s using (session_id)
    where i.kind not in ('click', 'stroke')
       or (i.kind = 'click' and (i.x is null or i.y is null
            or i.x < 0 or i.x > s.video_width - 1 or i.y < 0 or i.y > s.video_height - 1))
       or (i.kind = 'stroke' and (i.n_points < 1 or i.path_length < 0 or i.bbox_area < 0 or i.ink_area < 0))
)

select * from final
