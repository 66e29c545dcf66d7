-- sessions.source is 'recorded' or 'simulated'; ids and users are not empty
select session_id, source, user_id from sessions
where source not in ('recorded', 'simulated') or session_id = '' or user_id = ''
