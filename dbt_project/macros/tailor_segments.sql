{#-
  The segments that become audiences. Each entry names the segment model, the audience
  (the sync's key) and the tag it carries in the ESP; the segment's YAML documents the
  same under `meta.audience`.
-#}
{% macro tailor_segments() %}
    {{ return([
        {'model': 'seg_frequent_buyers', 'audience': 'frequent_buyers', 'tag': 'Frequent buyers'},
        {'model': 'seg_recent_purchasers', 'audience': 'recent_purchasers', 'tag': 'Recent purchasers'},
    ]) }}
{% endmacro %}
