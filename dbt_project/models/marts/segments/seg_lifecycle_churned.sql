{{ lifecycle_stage_segment('churned') }}
