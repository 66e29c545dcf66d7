-- the batch's documents the fast path did not accept: validated by the pydantic model instead
select position, document
from _checked
anti join _fast using (position)
order by position
