"""Run a backflow project from Airflow.

One task extracts, then one task per sync builds the models, runs the data
tests and sends that sync (`backflow run --skip-extract --sync NAME`), so a
failing sync is retried, alerted on and cleared on its own, and a sync never
sends a model that fails a data test. backflow keeps
state per sync (backflow.snapshot_<sync>, backflow.sync_runs), so the sync
tasks are independent; they share one DuckDB file, which takes one writer at
a time, so the `backflow` pool (create it with one slot) runs them one
after another instead of letting them wait on the file lock. See
docs/scaling.md.

Exit codes (docs/operating.md) and what this DAG does with them:
  0  success
  1  failed (an API down, a key check)                      -> retried
  2  finished, but some rows failed or were rejected        -> the task is
     marked skipped (skip_on_exit_code), not retried: failed rows are sent
     again by the next run, and the webhook has already alerted
  3  the project or its credentials must be fixed (found    -> fails; a retry
     by preflight, before any data moved)                      fails the same
                                                               way
  4  the DuckDB file was held past --lock-timeout           -> retried
  5  stopped by a signal (Airflow's own SIGTERM when a task times out or is
     cleared) after the batch in flight was recorded      -> retried; the
     retry sends the rest
"""

from datetime import datetime, timedelta

from airflow import DAG

try:  # Airflow 3 keeps BashOperator in the standard provider
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2
    from airflow.operators.bash import BashOperator

PROJECT = "/srv/backflow/acme"  # the project folder, checked out from git
SYNCS = ["visitor_traits", "account_traits"]  # syncs/*.yml names

# Credentials come from the worker's environment (or an Airflow connection
# rendered into env); backflow.yml names the variables, never the values.
ENV = {
    "HUBSPOT_TOKEN": "{{ var.value.hubspot_token }}",
    "PENDO_INTEGRATION_KEY": "{{ var.value.pendo_integration_key }}",
    # Read by backflow run itself: a secret never goes on the command line.
    "BACKFLOW_NOTIFY_WEBHOOK": "{{ var.value.backflow_webhook }}",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
}

COMMON = dict(
    cwd=PROJECT,
    env=ENV,
    pool="backflow",  # one slot: one writer per DuckDB file
    retries=3,
    retry_delay=timedelta(minutes=5),
    retry_exponential_backoff=True,
    # Longer than a sync takes at the API's rate limit (backflow plan
    # estimates it). On timeout Airflow sends SIGTERM: backflow finishes the
    # batch in flight, records it and exits 5.
    execution_timeout=timedelta(hours=2),
)

with DAG(
    dag_id="backflow_acme",
    schedule="0 * * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "data-eng"},
    tags=["backflow", "reverse-etl"],
) as dag:
    extract = BashOperator(
        task_id="extract",
        bash_command="backflow extract --log-format json --lock-timeout 10m",
        **COMMON,
    )
    for name in SYNCS:
        sync = BashOperator(
            task_id=f"sync_{name}",
            # --skip-extract: the extract task staged the data. The models
            # are rebuilt and tested in each task (views are free; tables
            # take seconds), so each sync sends what its tests just passed.
            bash_command=(
                f"backflow run --skip-extract --sync {name} --json "
                "--log-format json --lock-timeout 10m"
            ),
            skip_on_exit_code=2,
            **COMMON,
        )
        extract >> sync
