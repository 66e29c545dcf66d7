-- every frame belongs to a session, every iteration to a frame, every input to an iteration
with orphan_frames as (
    select 'frame' as level, session_id from frames anti join sessions using (session_id)
),

orphan_iterations as (
    select 'iteration' as level, session_id from iterations anti join frames using (session_id, frame_pos)
),

orphan_inputs as (
    select 'input' as level, session_id from inputs
    anti join iterations using (session_id, frame_pos, iteration_index)
),

final as (
    select * from orphan_frames
    union all select * from orphan_iterations
    union all select * from orphan_inputs
)

select * from final
