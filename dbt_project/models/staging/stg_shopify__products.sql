with

source as (
    select * from {{ landing_source('shopify', 'products') }}
),

latest as (
    {{ first_row_per('source', 'id', 'updated_at desc, interval_end desc') }}
),

-- One JSON parse per row into the fields read below.
parsed as (
    select
        id,
        updated_at,
        {{ json_parse('payload', '{
            "title": "VARCHAR", "productType": "VARCHAR", "vendor": "VARCHAR",
            "handle": "VARCHAR", "status": "VARCHAR", "tags": ["VARCHAR"],
            "collections": "JSON", "variants": "JSON",
            "createdAt": "VARCHAR"
        }') }} as p
    from latest
),

-- Connections as queried ({nodes: [...]}) or flattened to lists, as the extract stores them.
lists as (
    {%- if target.type == 'postgres' %}
    select
        *,
        array(select jsonb_array_elements_text(
            case when jsonb_typeof(p -> 'tags') = 'array' then p -> 'tags' else '[]' end
        )) as tags,
        array(select c ->> 'title' from {{ json_connection_elements("p -> 'collections'") }} as c)
            as collections,
        array(select v ->> 'sku' from {{ json_connection_elements("p -> 'variants'") }} as v)
            as skus
    from parsed
    {%- else %}
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
    {%- endif %}
),

renamed as (
    select
        ---------- ids
        id as product_id,

        ---------- strings
        {{ nonblank(json_field('p', 'title')) }} as title,
        {{ nonblank(json_field('p', 'productType')) }} as category,
        {{ nonblank(json_field('p', 'vendor')) }} as vendor,
        {{ nonblank(json_field('p', 'handle')) }} as handle,
        lower({{ json_field('p', 'status') }}) as status,

        ---------- lists
        {%- if target.type == 'postgres' %}
        tags,
        collections,
        skus,
        {%- else %}
        coalesce(p.tags, []) as tags,
        coalesce([c.title for c in collection_nodes], []) as collections,
        coalesce([v.sku for v in variant_nodes], []) as skus,
        {%- endif %}

        ---------- booleans
        -- Shopify archives products it keeps; a product deleted outright is gone from the
        -- API (no tombstone), so `is_deleted` is always false and kept for one shape.
        coalesce(lower({{ json_field('p', 'status') }}) = 'archived', false) as is_archived,
        false as is_deleted,

        ---------- timestamps
        {{ to_utc(json_field('p', 'createdAt')) }} as created_at,
        (updated_at at time zone 'UTC') as updated_at

    from lists
)

select * from renamed
