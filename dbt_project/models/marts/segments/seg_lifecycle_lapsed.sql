{{ lifecycle_stage_segment('lapsed') }}
