-- frames, iterations and inputs have no PRIMARY KEY index (load speed): their keys must still be unique
with frame_dups as (
    select 'frame' as level, session_id, count(*) as n from frames
    group by session_id, frame_pos having count(*) > 1
),

iteration_dups as (
    select 'iteration' as level, session_id, count(*) as n from iterations
    group by session_id, frame_pos, iteration_index having count(*) > 1
),

input_dups as (
    select 'input' as level, session_id, count(*) as n from inputs
    group by session_id, frame_pos, iteration_index, input_pos having count(*) > 1
),

final as (
    select * from frame_dups
    union all select * from iteration_dups
    union all select * from input_dups
)

select * from final
