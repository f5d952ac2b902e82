"""dbt-duckdb plugin: registers Tailor's normalisation UDFs on every dbt connection.

Listed under `plugins:` in `dbt_project/profiles.yml`, so staging models can call
`tailor_phone_e164(phone, country)` and friends like built-in functions.
"""

from __future__ import annotations

from dbt.adapters.duckdb.plugins import BasePlugin

from tailor.identity_normalise import register


class Plugin(BasePlugin):
    def configure_connection(self, conn) -> None:  # noqa: ANN001 - DuckDBPyConnection
        register(conn)
