# Tailor's Airflow image: Python 3.11 and exactly the packages pinned in uv.lock (no dev
# group), in one virtualenv; every Airflow part in docker-compose.yml runs from it.
FROM python:3.11-slim-bookworm

ARG UV_VERSION=0.13.9
ENV AIRFLOW_HOME=/opt/airflow \
    UV_PROJECT_ENVIRONMENT=/opt/tailor/.venv \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    PATH=/opt/tailor/.venv/bin:$PATH

RUN pip install --no-cache-dir "uv==${UV_VERSION}" \
 && useradd --uid 50000 --gid 0 --home-dir /opt/airflow --create-home airflow

WORKDIR /opt/tailor
# Dependencies first, from the lock alone, so a code change does not reinstall them.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

COPY . .
# The project itself (editable, so dbt_project/ is found beside the package), then the dbt
# manifest the DAGs render their dbt tasks from, and the folders the volumes mount on.
RUN uv sync --frozen --no-dev \
 && python -m tailor.airflow_support.manifest \
 && mkdir -p /var/lib/tailor/landing /var/lib/tailor/warehouse /opt/airflow/logs \
 && chown -R airflow:0 /opt/tailor /opt/airflow /var/lib/tailor

USER airflow
