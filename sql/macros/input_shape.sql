-- input_shape: the geometric rule behind Fig. 7 (annotation patterns), one input at a time.
--   'click'     a click, or a stroke whose path is a tap (path <= click_max_path_frac * frame diagonal)
--   'highlight' a stroke that scribbles over the object: long (path >= highlight_min_path_frac *
--               diagonal) and back-and-forth (path / bbox diagonal >= highlight_min_tortuosity),
--               or whose ink covers >= highlight_min_ink_frac of the frame
--   'stroke'    any other stroke (a line drawn along or across the object)
create or replace macro input_shape(
    kind, path_length, bbox_width, bbox_height, ink_area, frame_w, frame_h,
    click_max_path_frac, highlight_min_path_frac, highlight_min_tortuosity, highlight_min_ink_frac
) as
    case
        when kind = 'click' then 'click'
        when path_length <= click_max_path_frac * sqrt(frame_w * frame_w + frame_h * frame_h) then 'click'
        when path_length >= highlight_min_path_frac * sqrt(frame_w * frame_w + frame_h * frame_h)
             and path_length / greatest(sqrt(bbox_width * bbox_width + bbox_height * bbox_height), 1.0)
                 >= highlight_min_tortuosity then 'highlight'
        when ink_area >= highlight_min_ink_frac * frame_w * frame_h then 'highlight'
        else 'stroke'
    end
