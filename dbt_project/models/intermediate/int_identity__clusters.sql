-- Connected components of the links: each record labelled with the smallest record key
-- of its component (its cluster). Label propagation in a recursive CTE keyed on the
-- record (USING KEY): each round, only records whose label got smaller move on, so the
-- work grows with the links, not with the square of a cluster's size.
with recursive

edges as (
    select left_record_key as from_key, right_record_key as to_key
    from {{ ref('int_identity__links') }}
    union all
    select right_record_key, left_record_key from {{ ref('int_identity__links') }}
),

labels (record_key, cluster_key) using key (record_key) as (
    select record_key, record_key from {{ ref('int_identity__records') }}
    union
    (
        select edges.to_key, min(labels.cluster_key)
        from labels
        inner join edges on edges.from_key = labels.record_key
        inner join recurring.labels as current_label on current_label.record_key = edges.to_key
        group by edges.to_key, current_label.cluster_key
        having min(labels.cluster_key) < current_label.cluster_key
    )
)

select
    record_key,
    cluster_key,
    count(*) over (partition by cluster_key) as cluster_size
from labels
