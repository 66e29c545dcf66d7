-- the batch table _checked (analytics.batch_tables: registered as Arrow for the rest of the batch)
-- Stage 1 of the session fast path: parse every raw document of the batch (_raw_batch: position,
-- document) once into a typed struct, its JSON structure (checked against the schema by
-- analytics.prevalidate, which knows the allowed keys and types) and the key counts that
-- session_doc_keys compares. Only "plain" documents are parsed here: valid JSON, no backslash
-- escapes, no JSON null / NaN / Infinity, no trailing comma (which DuckDB's parser tolerates and
-- the JSON standard does not); everything else goes straight to the pydantic model.
with raw as (
    select
        position,
        document,
        json_valid(document)
            and not contains(document, '\')
            and not contains(document, 'null')
            and not contains(document, 'NaN')
            and not contains(document, 'Infinity')
            and not regexp_matches(document, ',[ \t\r\n]*[\]}]') as plain
    from _raw_batch
),

parsed as (
    select
        position,
        document,
        plain,
        case when plain then json_structure(document) end as structure,
        case when plain then session_doc(document) end as doc,
        case when plain then (strlen(document) - strlen(replace(document, '":', ''))) // 2 end as n_text_keys
    from raw
),

final as (
    select
        position,
        document,
        structure,
        doc,
        plain and session_doc_keys(doc) = n_text_keys as values_ok
    from parsed
)

select * from final
