-- new sessions from the staged, validated documents (_new_docs: one row per new session_id)
insert or ignore into sessions
with docs as (
    select * from _new_docs
),

final as (
    select
        session_id,
        doc.user_id as user_id,
        created_at,
        coalesce(doc.schema_version, '1.0') as schema_version,
        coalesce(doc.source, 'recorded') as source,
        doc.video.uri as video_uri,
        doc.video.width as video_width,
        doc.video.height as video_height,
        doc.video.n_frames as video_n_frames,
        doc.video.fps as video_fps,
        doc.video.dataset as dataset,
        doc.video.sequence as sequence,
        len(doc.frames) as n_frames,
        len(list_filter(doc.frames, lambda f: f.stage = 'refinement')) as n_refined_frames,
        list_sum(list_transform(doc.frames, lambda f: len(f.iterations))) as n_iterations,
        list_sum(list_transform(doc.frames, lambda f: list_sum(list_transform(f.iterations, lambda i: len(i.inputs)))))
            as n_inputs,
        coalesce(doc.meta, '{}'::json) as meta,           -- the model's default
        content_sha256,
        source_file,
        source_position,
        loaded_at,
        coalesce(len(doc.objects), 1) as n_objects
    from docs
)

select * from final
