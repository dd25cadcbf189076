# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: contributors to the convox.volumes collection
"""Record every task result of a playbook run as JSON, beside the normal screen output.

Enabled by the test bed's fixtures (tests/testbed/conftest.py) with
ANSIBLE_CALLBACK_PLUGINS=tests/testbed/callback_plugins, ANSIBLE_CALLBACKS_ENABLED=
record_results and CONVOX_RESULTS_FILE=<path>. The file holds {"tasks": [...], "stats":
{...}}: one entry per host and task with its status, duration, warnings and the module's
result (with its diff, when the run asked for one).
"""
from __future__ import annotations

import json
import os
import time
import typing as t

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: record_results
type: aggregate
short_description: write each task result and the play recap to the file in CONVOX_RESULTS_FILE
description:
  - Test helper of the convox.volumes test bed; not part of the collection.
requirements:
  - CONVOX_RESULTS_FILE set in the environment
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "record_results"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._tasks: list[dict[str, t.Any]] = []
        self._started: dict[tuple[str, str], float] = {}

    def v2_runner_on_start(self, host: t.Any, task: t.Any) -> None:
        self._started[(host.get_name(), task._uuid)] = time.monotonic()

    def _record(self, result: t.Any, status: str) -> None:
        host, task = result._host.get_name(), result._task
        started = self._started.pop((host, task._uuid), None)
        payload = self._clean(result._result)
        if "diff" in result._result:
            # _dump_results leaves the diff out below verbosity 3; the tests read it.
            payload["diff"] = json.loads(json.dumps(result._result["diff"], default=str))
        if status == "ok" and payload.get("changed"):
            status = "changed"
        self._tasks.append({
            "host": host,
            "task": task.get_name(),
            "action": task.action,
            "status": status,
            "changed": bool(payload.get("changed")),
            "duration": None if started is None else time.monotonic() - started,
            "warnings": self._warnings(result),
            "result": payload,
        })

    @staticmethod
    def _warnings(result: t.Any) -> list[str]:
        """The task's warnings as text (ansible-core 2.19 keeps them beside the result)."""
        found = getattr(result, "warnings", None)
        if found is None:
            found = result._result.get("warnings") or []
        texts = []
        for warning in found:
            event = getattr(warning, "event", None)
            texts.append(str(getattr(event, "msg", None) or warning))
        return texts

    def _clean(self, result: dict[str, t.Any]) -> dict[str, t.Any]:
        try:
            return json.loads(self._dump_results(result, indent=None))
        except (TypeError, ValueError):
            return {"unserialisable": repr(result)}

    def v2_runner_on_ok(self, result: t.Any) -> None:
        self._record(result, "ok")

    def v2_runner_on_failed(self, result: t.Any, ignore_errors: bool = False) -> None:
        self._record(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result: t.Any) -> None:
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result: t.Any) -> None:
        self._record(result, "unreachable")

    def v2_playbook_on_stats(self, stats: t.Any) -> None:
        path = os.environ.get("CONVOX_RESULTS_FILE")
        if not path:
            return
        recap = {host: stats.summarize(host) for host in sorted(stats.processed)}
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"tasks": self._tasks, "stats": recap}, handle, indent=1)
