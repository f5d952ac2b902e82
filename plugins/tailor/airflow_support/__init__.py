"""What the DAG files share: pools, the dbt manifest and its task groups, callbacks.

Everything here is cheap to import: the DAG processor imports it on every parse.
"""
