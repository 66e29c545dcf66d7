-- input_shape_frac: the rule of input_shape.sql on the frame-relative features stored in inputs
-- (path_frac = path / frame diagonal, tortuosity = path / max(bbox diagonal, 1), ink_frac = ink area /
-- frame area), so the pattern queries classify inputs without joining sessions:
--   'click'     a click, or a stroke with path_frac <= click_max_path_frac
--   'highlight' path_frac >= highlight_min_path_frac and tortuosity >= highlight_min_tortuosity,
--               or ink_frac >= highlight_min_ink_frac
--   'stroke'    any other stroke
create or replace macro input_shape_frac(
    kind, path_frac, tortuosity, ink_frac,
    click_max_path_frac, highlight_min_path_frac, highlight_min_tortuosity, highlight_min_ink_frac
) as
    case
        when kind = 'click' then 'click'
        when path_frac <= click_max_path_frac then 'click'
        when path_frac >= highlight_min_path_frac and tortuosity >= highlight_min_tortuosity then 'highlight'
        when ink_frac >= highlight_min_ink_frac then 'highlight'
        else 'stroke'
    end
