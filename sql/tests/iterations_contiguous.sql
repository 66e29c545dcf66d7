-- iteration indices of a frame are 0..n-1 and agree with frames.n_iterations
with per_frame as (
    select session_id, frame_pos, count(*) as n, max(iteration_index) as max_index
    from iterations group by session_id, frame_pos
),

final as (
    select f.session_id, f.frame_pos, f.n_iterations, p.n, p.max_index
    from frames as f
    left join per_frame as p using (session_id, frame_pos)
    where p.n is null or p.n <> f.n_iterations or p.max_index <> p.n - 1
)

select * from final
