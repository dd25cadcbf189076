# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: contributors to the convox.volumes collection
"""Check the EXAMPLES of one plugin, as ansible-doc --json gives them (called by tests/docs.sh).

usage: docs_examples.py TYPE NAME DOC_JSON WORK_DIR
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

# Tasks that only compute and print: filter examples made of these (and reading no files)
# also run, on localhost.
PURE_ACTIONS = {"ansible.builtin.debug", "ansible.builtin.set_fact", "ansible.builtin.assert"}
TASK_KEYWORDS = {"name", "vars", "register", "when", "loop", "loop_control", "check_mode",
                 "delegate_to", "run_once", "become", "changed_when", "failed_when",
                 "environment", "module_defaults", "tags", "notify", "no_log", "ignore_errors"}


def fail(message: str) -> None:
    print(f"    {message}")
    sys.exit(1)


def play_file(name: str, tasks: list, work: Path) -> Path:
    play = [{
        "name": f"EXAMPLES of {name}",
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
        "tasks": tasks,
    }]
    path = work / f"{name}.examples.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    return path


def playbook(*arguments: str) -> subprocess.CompletedProcess:
    binary = Path(sys.executable).with_name("ansible-playbook")
    return subprocess.run([str(binary), "-i", "localhost,", *arguments],
                          capture_output=True, text=True, check=False)


def check_tasks(plugin_type: str, name: str, examples: str, work: Path) -> None:
    try:
        tasks = yaml.safe_load(examples)
    except yaml.YAMLError as error:
        fail(f"EXAMPLES is not valid YAML: {error}")
    if not isinstance(tasks, list) or not tasks:
        fail("EXAMPLES must be a non-empty list of tasks")
    if not examples.lstrip().startswith("---"):
        fail("EXAMPLES must start with '---'")
    if plugin_type == "module" and not any(name in task for task in tasks):
        fail(f"no example calls the module by its FQCN {name}")
    if plugin_type == "filter" and name not in examples:
        fail(f"no example uses the filter by its FQCN {name}")

    path = play_file(name, tasks, work)
    result = playbook("--syntax-check", str(path))
    if result.returncode != 0:
        fail(f"ansible-playbook --syntax-check failed:\n{result.stdout}{result.stderr}")
    print(f"docs: {plugin_type} {name}: {len(tasks)} example tasks pass --syntax-check")

    actions = {key for task in tasks for key in task if key not in TASK_KEYWORDS}
    # Examples that read files (lookup) need those files: they only get the syntax check.
    if plugin_type == "filter" and actions <= PURE_ACTIONS and "lookup(" not in examples:
        result = playbook(str(path))
        if result.returncode != 0:
            fail(f"running the examples failed:\n{result.stdout}{result.stderr}")
        print(f"docs: filter {name}: examples also ran on localhost")


def check_inventory(name: str, doc: dict, examples: str) -> None:
    options = set(doc.get("options", {}))
    documents = [d for d in yaml.safe_load_all(examples) if d is not None]
    if not documents:
        fail("EXAMPLES holds no configuration file")
    for number, config in enumerate(documents, start=1):
        if not isinstance(config, dict):
            fail(f"example {number} is not a mapping")
        if config.get("plugin") != name:
            fail(f"example {number}: 'plugin' is {config.get('plugin')!r}, expected {name!r}")
        unknown = sorted(set(config) - options)
        if unknown:
            fail(f"example {number} uses undocumented options: {', '.join(unknown)}")
    print(f"docs: inventory {name}: {len(documents)} example configurations use documented "
          f"options only")


def main() -> None:
    plugin_type, name, doc_json, work = sys.argv[1:5]
    data = json.loads(Path(doc_json).read_text())[name]
    examples = data.get("examples") or ""
    if not examples.strip():
        fail("EXAMPLES is empty")
    os.environ.setdefault("ANSIBLE_NOCOLOR", "1")
    if plugin_type == "inventory":
        check_inventory(name, data["doc"], examples)
    else:
        check_tasks(plugin_type, name, examples, Path(work))


if __name__ == "__main__":
    main()
