-- frames of the new sessions. Select-list unnest + generate_subscripts (a lateral
-- "unnest ... with ordinality" join is ~200x slower on DuckDB 2.0 for nested structs).
insert into frames
with unnested as (
    select session_id, unnest(doc.frames) as frame, generate_subscripts(doc.frames, 1) as pos
    from _new_docs
),

final as (
    select
        session_id,
        (pos - 1)::integer as frame_pos,
        frame.frame_index as frame_index,
        frame.stage as stage,
        len(frame.iterations)::integer as n_iterations,
        coalesce(list_sum(list_transform(frame.iterations, lambda i: len(i.inputs))), 0)::integer as n_inputs
    from unnested
)

select * from final
