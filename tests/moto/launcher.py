"""Start moto's server on loopback for etl-medic's integration tests.

moto's Glue job runs only ever go STARTING -> RUNNING -> SUCCEEDED and carry
no ErrorMessage, so a test could never see the FAILED or TIMEOUT run that
etl-medic exists to heal. Before starting the server this launcher patches
moto's job-run model (moto.glue.models.FakeJobRun) so that a JSON file of
outcomes per job is honoured:

    {"orders_daily": [
        {"state": "FAILED", "error_message": "java.lang.OutOfMemoryError: Java heap space"},
        {"state": "SUCCEEDED"}
    ]}

The n-th run started for a job (counting from server start) ends in entry n;
runs past the end of the list, and runs of jobs not in the file, keep moto's
own STARTING -> RUNNING -> SUCCEEDED. An entry may also place the run in
the past, for a history of runs (the backtest's tests): "started_on" and
"completed_on" in epoch seconds replace the times moto stamps. The file is re-read at every
StartJobRun, so a test may rewrite it between runs. The run speed is still
moto's state manager (POST /moto-api/state-manager/set-transition with
model_name "glue::job_run"); the terminal state is the one chosen here.

moto also stamps every table version with the table's latest UpdateTime;
Glue keeps each version's own time, which drift detection compares with the
job's last successful run, so the launcher records a time per version. A
table input whose Parameters carry "etl_medic.version_time" (epoch seconds)
gets that time instead of now, so a test can build a catalog history.

DynamoDB applies each conditional write atomically; moto's threaded server
evaluates a condition and writes without a lock, so two concurrent
`ADD ... IF used < limit` could both pass. The launcher serialises DynamoDB
calls, which restores the atomicity the incident store relies on.

moto's UpdateTable also ignores the VersionId that AWS Glue uses as an
optimistic guard; the launcher makes a VersionId that is not the table's
current version fail with ConcurrentModificationException, as Glue does, so
the guarded rollback is tested against the behaviour it relies on.

The server binds 127.0.0.1 only. With --port 0 the OS picks a free port. The
first line on stdout is "listening <host> <port>". The launcher exits when
its standard input closes, so a test process that dies without cleaning up
does not leave a server behind.

Usage: python launcher.py [--port N] [--glue-outcomes FILE]
"""

import argparse
import json
import os
import sys
import threading

TERMINAL_STATES = {"SUCCEEDED", "FAILED", "TIMEOUT", "ERROR", "STOPPED"}
VERSION_TIME_PARAMETER = "etl_medic.version_time"


def naive_utc(epoch_seconds):
    """An epoch time as moto keeps times: a naive datetime in UTC."""
    from datetime import datetime, timezone

    return datetime.fromtimestamp(float(epoch_seconds), tz=timezone.utc).replace(tzinfo=None)


def load_outcomes(path):
    if not path or not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        outcomes = json.load(handle)
    if not isinstance(outcomes, dict):
        raise ValueError(f"{path}: expected an object of job name -> list of outcomes")
    return outcomes


def patch_glue_job_runs(outcomes_path):
    """Make FakeJobRun end in the state the outcomes file chooses."""
    from moto.glue import models as glue_models

    original_class = glue_models.FakeJobRun
    runs_started_per_job = {}
    counter_lock = threading.Lock()

    def next_outcome(job_name):
        with counter_lock:
            run_index = runs_started_per_job.get(job_name, 0)
            runs_started_per_job[job_name] = run_index + 1
        planned = load_outcomes(outcomes_path).get(job_name, [])
        if run_index >= len(planned):
            return None
        outcome = planned[run_index]
        state = outcome.get("state", "SUCCEEDED")
        if state not in TERMINAL_STATES:
            raise ValueError(f"outcome for {job_name}: {state} is not a terminal job run state")
        return outcome

    class OutcomeJobRun(original_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.planned_outcome = next_outcome(self.job_name)
            if self.planned_outcome is not None:
                final_state = self.planned_outcome.get("state", "SUCCEEDED")
                # ManagedState walks these pairs; the last one is where the run ends.
                self._transitions = [("STARTING", "RUNNING"), ("RUNNING", final_state)]
                if self.planned_outcome.get("started_on") is not None:
                    self.started_on = naive_utc(self.planned_outcome["started_on"])
                if self.planned_outcome.get("completed_on") is not None:
                    self.completed_on = naive_utc(self.planned_outcome["completed_on"])
                    self.modified_on = self.completed_on

        def as_dict(self):
            run = super().as_dict()
            outcome = self.planned_outcome
            if outcome is None:
                return run
            final_state = outcome.get("state", "SUCCEEDED")
            if run.get("JobRunState") == final_state:
                if outcome.get("error_message"):
                    run["ErrorMessage"] = outcome["error_message"]
                if outcome.get("execution_time_s") is not None:
                    run["ExecutionTime"] = int(outcome["execution_time_s"])
            return run

    # FakeJob.start_job_run looks the class up in the module at call time.
    glue_models.FakeJobRun = OutcomeJobRun


def patch_glue_update_table_guard():
    """Honour UpdateTable's VersionId as Glue does: reject a stale version."""
    from moto.core.exceptions import JsonRESTError
    from moto.glue.responses import GlueResponse

    original_update_table = GlueResponse.update_table

    def guarded_update_table(self):
        expected_version = self.parameters.get("VersionId")
        if expected_version:
            database_name = self.parameters.get("DatabaseName")
            table_name = (self.parameters.get("TableInput") or {}).get("Name")
            table = self.glue_backend.get_table(database_name, table_name)
            current_version = str(table._current_version)
            if str(expected_version) != current_version:
                raise JsonRESTError(
                    "ConcurrentModificationException",
                    f"table {database_name}.{table_name} is at version {current_version}, "
                    f"not {expected_version}",
                )
        return original_update_table(self)

    GlueResponse.update_table = guarded_update_table


def patch_glue_table_version_times():
    """Give each table version the time it was created, as Glue does."""
    from moto.glue import models as glue_models

    table_class = glue_models.FakeTable
    original_init = table_class.__init__
    original_update = table_class.update
    original_as_dict = table_class.as_dict

    def chosen_time(table_input, default):
        chosen = ((table_input or {}).get("Parameters") or {}).get(VERSION_TIME_PARAMETER)
        return naive_utc(chosen) if chosen is not None else default

    def init_with_times(self, database_name, table_name, table_input, *args, **kwargs):
        original_init(self, database_name, table_name, table_input, *args, **kwargs)
        self.version_times = {str(self._current_version): chosen_time(table_input, self.created_time)}

    def update_with_time(self, table_input):
        original_update(self, table_input)
        self.version_times[str(self._current_version)] = chosen_time(table_input, self.updated_time)

    def as_dict_with_version_time(self, version=None):
        table = original_as_dict(self, version)
        version_time = getattr(self, "version_times", {}).get(str(version or self._current_version))
        if version_time is not None:
            table["UpdateTime"] = version_time
        return table

    table_class.__init__ = init_with_times
    table_class.update = update_with_time
    table_class.as_dict = as_dict_with_version_time


def patch_dynamodb_atomic_writes():
    """One DynamoDB call at a time: each conditional write is atomic, as in DynamoDB."""
    from moto.dynamodb.responses import DynamoHandler

    original_call_action = DynamoHandler.call_action
    dynamodb_lock = threading.Lock()

    def serialised_call_action(self):
        with dynamodb_lock:
            return original_call_action(self)

    DynamoHandler.call_action = serialised_call_action


def exit_when_stdin_closes():
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--glue-outcomes", default=None)
    parser.add_argument("--no-stdin-watch", action="store_true",
                        help="keep running when stdin closes (manual use)")
    options = parser.parse_args()

    patch_glue_job_runs(options.glue_outcomes)
    patch_glue_update_table_guard()
    patch_glue_table_version_times()
    patch_dynamodb_atomic_writes()

    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=options.port, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"listening {host} {port}", flush=True)

    if options.no_stdin_watch:
        threading.Event().wait()
    else:
        exit_when_stdin_closes()


if __name__ == "__main__":
    main()
