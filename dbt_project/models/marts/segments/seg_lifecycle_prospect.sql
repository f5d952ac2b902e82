{{ lifecycle_stage_segment('prospect') }}
