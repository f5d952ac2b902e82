"""The event collector: an HTTP service that accepts Shopify webhooks and track calls.

Every accepted record is appended to a durable spool (`spool.py`) before the sender gets
its 2xx; the extract task lands the spool's records per data interval (`land.py`), through
the same landing writer the API sources use. Modules: `signing` (HMAC), `validate` (the
track/identify shape), `spool`, `server` (HTTP), `config` (secrets and paths), `land`,
`replay` (sign and post a file of events, for the demo and backfills of history).
"""
