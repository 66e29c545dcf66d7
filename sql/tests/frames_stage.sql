-- the first frame of a session (frame_pos 0) is 'first_frame' and only it; stage is accepted
select session_id, frame_pos, stage from frames
where stage not in ('first_frame', 'refinement')
   or (frame_pos = 0) <> (stage = 'first_frame')
