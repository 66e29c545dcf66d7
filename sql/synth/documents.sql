-- analytics.synthlogs: one JSON session document per synthetic session, assembled from the flat
-- tables (sessions, frames, iterations, inputs, points) it registers; $prefix, $start, $patterns bound.
with pts as (
    select inp, list([x, y] order by k) as points from points group by inp
),
inp as (
    select i.sid, i.fpos, i.it, i.ipos,
        case when i.stroke
            then json_object('kind', 'stroke', 'points', p.points, 'positive', i.positive,
                             'radius', i.radius, 't', i.t)
            else json_object('kind', 'click', 'x', i.x, 'y', i.y, 'positive', i.positive, 't', i.t)
        end as j
    from inputs as i left join pts as p using (inp)
),
its as (
    select sid, fpos, it,
        json_object('index', it, 'inputs', to_json(list(j order by ipos))) as j
    from inp group by sid, fpos, it
),
its2 as (
    select its.sid, its.fpos, its.it,
        json_merge_patch(its.j, json_object('duration_s', x.duration_s)) as j
    from its join iterations as x using (sid, fpos, it)
),
frs as (
    select f.sid, f.fpos,
        json_object('frame_index', any_value(f.frame_index),
                    'stage', case when f.fpos = 0 then 'first_frame' else 'refinement' end,
                    'iterations', to_json(list(i.j order by i.it))) as j
    from frames as f join its2 as i using (sid, fpos) group by f.sid, f.fpos
),
docs as (
    select s.sid,
        json_object(
            'schema_version', '1.0',
            'session_id', $prefix || lpad(s.sid::varchar, 8, '0'),
            'user_id', 'user' || s.user::varchar,
            'created_at', strftime($start::timestamp + to_microseconds(s.created_us), '%Y-%m-%dT%H:%M:%SZ'),
            'video', json_object('uri', 'synthetic/video' || (s.sid % 997)::varchar || '.mp4',
                                 'width', s.w, 'height', s.h, 'n_frames', s.n_video_frames),
            'frames', to_json(list(f.j order by f.fpos)),
            'source', 'simulated',
            'meta', json_object('pattern', $patterns[s.pattern + 1], 'generator', 'analytics.synthlogs')
        ) as j
    from sessions as s join frs as f using (sid)
    group by s.sid, s.user, s.created_us, s.w, s.h, s.n_video_frames, s.pattern
)
select j::varchar as document from docs order by sid
