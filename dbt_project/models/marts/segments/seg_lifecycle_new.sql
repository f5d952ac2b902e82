{{ lifecycle_stage_segment('new') }}
