-- the positions the fast path accepts: values ok and a structure the model accepts (_good_structures)
create or replace temp table _fast as
select c.position
from _checked as c
semi join _good_structures as g using (structure)
where c.values_ok
