-- The rows the sync sends: one per audience and person who may receive marketing email,
-- with the ESP tag and the audience's merge fields. Audiences are the segment models
-- declaring meta.audience (found in dbt's graph, see macros/tailor_segments.sql); within
-- a priority group a person is only in the highest-priority segment. People without
-- consent are left out; nobody unsubscribed in any source is ever included.
{{ audience_members_sql(in_model=true) }}
