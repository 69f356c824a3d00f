"""A tool that takes long does not hold off the step timeout: `baton run` whose implementer runs a
test suite that sleeps for ten minutes ends at the step limit, the test process group and the
sandbox gone, the tree as it was. (A thread-bound slow tool is covered in test_llm_loop.py.)"""

from __future__ import annotations

import subprocess
from pathlib import Path

from pipeline_helpers import (
    BATON,
    CODER,
    PLANNER,
    call,
    clean_env,
    leftovers,
    make_repo,
    only_run,
    planner_replies,
    reply,
    run_args,
    tree_state,
)

from baton.pipelines.llm.scripted import ScriptedLLM
from baton.pipelines.models import RunStatus

SLOW_TEST = ("*** Begin Patch\n*** Add File: tests/test_slow.py\n+import time\n+\n+\n+def test_slow():\n"
             "+    time.sleep(600)\n*** End Patch\n")


def test_the_step_timeout_fires_while_run_tests_is_still_running(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "baton.toml").write_text("step_timeout_s = 3\n")
    before = tree_state(repo)
    script = {"models": {PLANNER: planner_replies(),
                         CODER: [reply(call("apply_patch", patch=SLOW_TEST)), reply(call("run_tests"))]}}
    with ScriptedLLM(script) as url:
        p = subprocess.run([BATON, *run_args(repo, url)], env=clean_env(tmp_path / "tmp"),
                           capture_output=True, text=True, timeout=120)
    assert p.returncode == 1, p.stdout + p.stderr
    rec = only_run(repo)
    assert rec.status is RunStatus.failed
    assert rec.error == "step 'implement' timed out after 3s; raise step_timeout_s in baton.toml if the model is slow"
    assert tree_state(repo) == before and leftovers(tmp_path / "tmp") == []
