insert into iterations
with frames as (
    select session_id, unnest(doc.frames) as frame, generate_subscripts(doc.frames, 1) as pos
    from _new_docs
),

unnested as (
    select
        session_id,
        pos - 1 as frame_pos,
        unnest(frame.iterations) as iteration,
        generate_subscripts(frame.iterations, 1) as it_pos
    from frames
),

final as (
    select
        session_id,
        frame_pos::integer as frame_pos,
        (it_pos - 1)::integer as iteration_index,
        len(iteration.inputs)::integer as n_inputs,
        len(list_filter(iteration.inputs, lambda i: coalesce(i.kind, 'click') = 'click'))::integer as n_clicks,
        len(list_filter(iteration.inputs, lambda i: i.kind = 'stroke'))::integer as n_strokes,
        iteration.duration_s as duration_s
    from unnested
)

select * from final
