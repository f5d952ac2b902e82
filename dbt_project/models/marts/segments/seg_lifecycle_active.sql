{{ lifecycle_stage_segment('active') }}
