-- Connected components of the links: each record labelled with the smallest record key
-- of its component (its cluster). Label propagation in a recursive CTE keyed on the
-- record (USING KEY): each round, only records whose label got smaller move on, so the
-- work grows with the links, not with the square of a cluster's size.
-- Incremental in effect: only the region around int_identity__changes is labelled again
-- (the changed records, the records their links reach, and the whole clusters all of
-- those belonged to in the last run); every other record keeps the cluster the id map
-- holds for it. No link leaves the region: links outside it are the last run's, and
-- those never left a cluster. `is_resolved` marks the region.
{%- set last = identity_last_resolution() %}
with recursive

records as (
    select record_key from {{ ref('int_identity__records') }}
),

links as (
    select left_record_key, right_record_key from {{ ref('int_identity__links') }}
),

affected as (
    select record_key from {{ ref('int_identity__changes') }}
),

{%- if last is none %}

region as (
    select record_key from records
),

kept as (
    select cast(null as varchar) as record_key, cast(null as varchar) as cluster_key
    where false
),

{%- else %}

previous as (
    select record_key, cluster_key from {{ last }} where not is_removed
),

reached as (
    select record_key from affected
    union
    select right_record_key from links
    where left_record_key in (select record_key from affected)
    union
    select left_record_key from links
    where right_record_key in (select record_key from affected)
),

region as (
    select record_key from records
    where record_key in (select record_key from reached)
        or record_key in (
            select record_key from previous
            where cluster_key in (
                select cluster_key from previous
                where record_key in (select record_key from reached)
            )
        )
),

kept as (
    select previous.record_key, previous.cluster_key
    from previous
    inner join records using (record_key)
    where previous.record_key not in (select record_key from region)
),

{%- endif %}

edges as (
    select left_record_key as from_key, right_record_key as to_key
    from links
    where left_record_key in (select record_key from region)
    union all
    select right_record_key, left_record_key
    from links
    where left_record_key in (select record_key from region)
),

{%- if target.type == 'postgres' %}

-- PostgreSQL has no USING KEY: every record a region record reaches, then the smallest
-- key it reaches. Work grows with the square of a cluster's size; clusters are people.
reach (record_key, reached_key) as (
    select record_key, record_key from region
    union
    select reach.record_key, edges.to_key
    from reach
    inner join edges on edges.from_key = reach.reached_key
),

labels as (
    select record_key, min(reached_key) as cluster_key
    from reach
    group by record_key
),

{%- else %}

labels (record_key, cluster_key) using key (record_key) as (
    select record_key, record_key from region
    union
    (
        select edges.to_key, min(labels.cluster_key)
        from labels
        inner join edges on edges.from_key = labels.record_key
        inner join recurring.labels as current_label on current_label.record_key = edges.to_key
        group by edges.to_key, current_label.cluster_key
        having min(labels.cluster_key) < current_label.cluster_key
    )
),

{%- endif %}

clustered as (
    select record_key, cluster_key, true as is_resolved from labels
    union all
    select record_key, cluster_key, false from kept
)

select
    record_key,
    cluster_key,
    count(*) over (partition by cluster_key) as cluster_size,
    is_resolved
from clustered
