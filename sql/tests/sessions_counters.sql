-- the per-session counters agree with the rows below them
with frame_counts as (
    select session_id, count(*) as n_frames, count(*) filter (where stage = 'refinement') as n_refined,
           sum(n_iterations) as n_iterations, sum(n_inputs) as n_inputs
    from frames group by session_id
),

input_counts as (
    select session_id, count(*) as n_inputs from inputs group by session_id
),

final as (
    select s.session_id
    from sessions as s
    left join frame_counts as f using (session_id)
    left join input_counts as i using (session_id)
    where f.n_frames is distinct from s.n_frames
       or f.n_refined is distinct from s.n_refined_frames
       or f.n_iterations is distinct from s.n_iterations
       or f.n_inputs is distinct from s.n_inputs
       or i.n_inputs is distinct from s.n_inputs
)

select * from final
