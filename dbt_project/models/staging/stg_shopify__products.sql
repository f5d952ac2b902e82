with

source as (
    select * from {{ landing_source('shopify', 'products') }}
),

latest as (
    select * from source
    qualify row_number() over (partition by id order by updated_at desc, interval_end desc) = 1
),

-- One JSON parse per row into the fields read below.
parsed as (
    select
        id,
        updated_at,
        json_transform(payload, '{
            "title": "VARCHAR", "productType": "VARCHAR", "vendor": "VARCHAR",
            "handle": "VARCHAR", "status": "VARCHAR", "tags": ["VARCHAR"],
            "collections": "JSON", "variants": "JSON",
            "createdAt": "VARCHAR"
        }') as p
    from latest
),

-- Connections as queried ({nodes: [...]}) or flattened to lists, as the extract stores them.
lists as (
    select
        *,
        coalesce(
            json_transform(p.collections, '{"nodes": [{"title": "VARCHAR"}]}').nodes,
            json_transform(p.collections, '[{"title": "VARCHAR"}]')
        ) as collection_nodes,
        coalesce(
            json_transform(p.variants, '{"nodes": [{"sku": "VARCHAR"}]}').nodes,
            json_transform(p.variants, '[{"sku": "VARCHAR"}]')
        ) as variant_nodes
    from parsed
),

renamed as (
    select
        ---------- ids
        id as product_id,

        ---------- strings
        {{ nonblank('p.title') }} as title,
        {{ nonblank('p.productType') }} as category,
        {{ nonblank('p.vendor') }} as vendor,
        {{ nonblank('p.handle') }} as handle,
        lower(p.status) as status,

        ---------- lists
        coalesce(p.tags, []) as tags,
        coalesce([c.title for c in collection_nodes], []) as collections,
        coalesce([v.sku for v in variant_nodes], []) as skus,

        ---------- booleans
        -- Shopify archives products it keeps; a product deleted outright is gone from the
        -- API (no tombstone), so `is_deleted` is always false and kept for one shape.
        coalesce(lower(p.status) = 'archived', false) as is_archived,
        false as is_deleted,

        ---------- timestamps
        {{ to_utc('p.createdAt') }} as created_at,
        (updated_at at time zone 'UTC') as updated_at

    from lists
)

select * from renamed
