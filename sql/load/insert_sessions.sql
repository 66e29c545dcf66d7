-- new sessions from the staged, validated documents (_new_docs: one row per new session_id)
insert or ignore into sessions
with docs as (
    select * from _new_docs
),

counted as (
    select
        session_id,
        len(doc.frames) as n_frames,
        len(list_filter(doc.frames, lambda f: f.stage = 'refinement')) as n_refined_frames,
        list_sum(list_transform(doc.frames, lambda f: len(f.iterations))) as n_iterations,
        list_sum(list_transform(doc.frames, lambda f: list_sum(list_transform(f.iterations, lambda i: len(i.inputs)))))
            as n_inputs
    from docs
),

final as (
    select
        d.session_id,
        d.doc.user_id as user_id,
        d.created_at,
        coalesce(d.doc.schema_version, '1.0') as schema_version,
        coalesce(d.doc.source, 'recorded') as source,
        d.doc.video.uri as video_uri,
        d.doc.video.width as video_width,
        d.doc.video.height as video_height,
        d.doc.video.n_frames as video_n_frames,
        d.doc.video.fps as video_fps,
        d.doc.video.dataset as dataset,
        d.doc.video.sequence as sequence,
        c.n_frames,
        c.n_refined_frames,
        c.n_iterations,
        c.n_inputs,
        coalesce(d.doc.meta, '{}'::json) as meta,           -- the model's default
        d.content_sha256,
        d.source_file,
        d.source_position,
        d.loaded_at
    from docs as d
    inner join counted as c using (session_id)
)

select * from final
