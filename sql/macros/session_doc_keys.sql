-- session_doc_keys: the set-based fast path of session validation (analytics/prevalidate.py).
-- Given d = session_doc(document), returns the number of object keys the document must hold if
-- every value rule of ivos_core.interactions.Session holds, else a negative number:
--   * session_id / user_id 1..200 bytes (pydantic counts characters; bytes >= characters),
--     schema_version missing, '1.0' or '2.0', source missing or recorded/simulated, meta an object;
--   * objects (2.0) absent, or >= 1 objects with distinct ids 1..254 and names absent or 1..200
--     bytes; a 1.0 document declares object 1 at most;
--   * created_at a plain ISO-8601 timestamp (YYYY-MM-DDTHH:MM:SS[.ffffff][Z|+HH:MM]) DuckDB parses;
--   * video: uri non-empty, 1 <= width, height <= 16384, n_frames >= 1, fps absent or finite > 0;
--   * frames >= 1; frames[0] 'first_frame', the others 'refinement'; 0 <= frame_index < n_frames;
--     iterations >= 1 with indices 0..n-1 in order; duration_s absent or finite >= 0; inputs >= 1;
--   * a click has finite x, y inside the frame (0 <= x <= w-1, 0 <= y <= h-1) and no points/radius;
--     a stroke has >= 1 points of exactly two finite coordinates inside the frame, no x/y, and
--     radius absent or 0 < radius <= 256; t absent or finite >= 0; object_id absent or a declared id
--     (objects absent: object 1).
-- The caller compares the count with the number of keys in the text ('":' occurrences, exact for
-- documents without backslashes): a mismatch means a duplicate key, an unknown key, a value that
-- did not cast, or a JSON null, and the document goes to the pydantic model instead.
create or replace macro session_doc_keys(d) as
    case
        when d.session_id is not null and strlen(d.session_id) between 1 and 200
            and d.user_id is not null and strlen(d.user_id) between 1 and 200
            and coalesce(d.schema_version, '1.0') in ('1.0', '2.0')
            and (d.objects is null or (
                len(d.objects) >= 1
                and len(list_filter(d.objects, lambda o: not coalesce(
                    o.id between 1 and 254 and (o.name is null or strlen(o.name) between 1 and 200), false))) = 0
                and len(list_distinct(list_transform(d.objects, lambda o: o.id))) = len(d.objects)
                and (coalesce(d.schema_version, '1.0') = '2.0' or list_transform(d.objects, lambda o: o.id) = [1])
            ))
            and coalesce(d.source, 'recorded') in ('recorded', 'simulated')
            and regexp_full_match(
                d.created_at,
                '[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?'
            )
            and try_cast(d.created_at as timestamptz) is not null
            and d.video.uri is not null and strlen(d.video.uri) >= 1
            and d.video.width between 1 and 16384
            and d.video.height between 1 and 16384
            and d.video.n_frames >= 1
            and (d.video.fps is null or (isfinite(d.video.fps) and d.video.fps > 0))
            and (d.meta is null or json_type(d.meta) = 'OBJECT')
            and len(d.frames) >= 1
        then
            5::bigint
            + (d.schema_version is not null)::bigint + (d.source is not null)::bigint + (d.meta is not null)::bigint
            + 4 + (d.video.fps is not null)::bigint + (d.video.dataset is not null)::bigint
            + (d.video.sequence is not null)::bigint
            + coalesce((strlen(d.meta) - strlen(replace(d.meta, '":', ''))) // 2, 0)
            + (d.objects is not null)::bigint
            + coalesce(list_sum(list_transform(d.objects, lambda o: 1::bigint + (o.name is not null)::bigint)), 0)
            + list_sum(list_transform(d.frames, lambda f, fi:
                case
                    when f.frame_index >= 0 and f.frame_index < d.video.n_frames
                        and f.stage = (case when fi = 1 then 'first_frame' else 'refinement' end)
                        and len(f.iterations) >= 1
                    then 3::bigint + list_sum(list_transform(f.iterations, lambda it, ii:
                        case
                            when it.index = ii - 1
                                and (it.duration_s is null or (isfinite(it.duration_s) and it.duration_s >= 0))
                                and len(it.inputs) >= 1
                            then 2::bigint + (it.duration_s is not null)::bigint
                                + list_sum(list_transform(it.inputs, lambda inp:
                                    case
                                        when not coalesce(inp.t is null or (isfinite(inp.t) and inp.t >= 0), false)
                                        then -1000000000::bigint
                                        when not (inp.object_id is null or list_contains(
                                            coalesce(list_transform(d.objects, lambda o: o.id), [1]), inp.object_id))
                                        then -1000000000::bigint
                                        when inp.kind = 'click' and inp.points is null and inp.radius is null
                                            and isfinite(inp.x) and isfinite(inp.y)
                                            and inp.x >= 0 and inp.x <= d.video.width - 1
                                            and inp.y >= 0 and inp.y <= d.video.height - 1
                                        then 3::bigint + (inp.positive is not null)::bigint + (inp.t is not null)::bigint
                                            + (inp.object_id is not null)::bigint
                                        when inp.kind = 'stroke' and inp.x is null and inp.y is null
                                            and len(inp.points) >= 1
                                            and (inp.radius is null
                                                 or (isfinite(inp.radius) and inp.radius > 0 and inp.radius <= 256))
                                            and len(list_filter(inp.points, lambda p: not coalesce(
                                                len(p) = 2 and isfinite(p[1]) and isfinite(p[2])
                                                and p[1] >= 0 and p[1] <= d.video.width - 1
                                                and p[2] >= 0 and p[2] <= d.video.height - 1, false))) = 0
                                        then 2::bigint + (inp.radius is not null)::bigint
                                            + (inp.positive is not null)::bigint + (inp.t is not null)::bigint
                                            + (inp.object_id is not null)::bigint
                                        else -1000000000::bigint
                                    end))
                            else -1000000000::bigint
                        end))
                    else -1000000000::bigint
                end))
        else -1::bigint
    end
