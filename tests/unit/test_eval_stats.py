"""The eval table's numbers on known inputs: Wilson intervals, calibration and Cohen's kappa."""

from __future__ import annotations

import pytest

from baton.pipelines.eval.results import CaseResult, CheckResult, FailureReason
from baton.pipelines.eval.stats import calibration, group_stats, wilson


def test_wilson_matches_the_textbook_values() -> None:
    low, high = wilson(8, 10)  # type: ignore[misc]
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    low, high = wilson(0, 5)  # type: ignore[misc]
    assert low == 0.0 and high == pytest.approx(0.4345, abs=1e-4)  # sound at 0/n, unlike p ± z·se
    assert wilson(0, 0) is None


def test_calibration_on_a_known_confusion_matrix() -> None:
    # 8 approved & passing, 2 approved & failing, 1 rejected & passing, 4 rejected & failing
    pairs = [(True, True)] * 8 + [(True, False)] * 2 + [(False, True)] * 1 + [(False, False)] * 4
    c = calibration(pairs)
    assert (c.tp, c.fp, c.fn, c.tn) == (8, 2, 1, 4)
    assert c.precision == pytest.approx(0.8) and c.recall == pytest.approx(8 / 9)
    po, pe = 12 / 15, (10 * 9 + 5 * 6) / 225
    assert c.kappa == pytest.approx((po - pe) / (1 - pe))  # 0.5714…
    assert c.kappa == pytest.approx(0.5714, abs=1e-4)


def test_a_reviewer_that_approves_everything_has_zero_kappa() -> None:
    c = calibration([(True, True)] * 7 + [(True, False)] * 3)
    assert c.fp == 3 and c.recall == 1.0 and c.precision == pytest.approx(0.7)
    assert c.kappa == 0.0  # no better than chance, however high its recall
    assert calibration([(True, True)] * 4).kappa is None  # one class only: undefined, not 1


def _result(case: str, ok: bool, *, repeat: int = 0, verdict: str | None = None, check: bool | None = None,
            reason: FailureReason | None = None, duration: float = 1.0, tokens: int = 100) -> CaseResult:
    return CaseResult(case_id=case, pattern="plan-implement-review", repeat=repeat, model_set="A", session="recorded",
                      status="succeeded" if ok else "failed", verdict=verdict, success=ok, reason=reason,
                      check=CheckResult(passed=check) if check is not None else None, duration_s=duration,
                      tokens=tokens)


def test_group_stats_counts_repeats_failures_and_cost_per_success() -> None:
    rs = [_result("a", True, repeat=0, verdict="approved", check=True, duration=1),
          _result("a", True, repeat=1, verdict="approved", check=True, duration=3),
          _result("b", False, repeat=0, verdict="approved", check=False, reason=FailureReason.hidden_check_failed,
                  duration=2),
          _result("b", False, repeat=1, reason=FailureReason.timeout, duration=10)]
    [g] = group_stats(rs, repeat=2)
    assert (g.cases, g.runs, g.succeeded, g.success_rate) == (2, 4, 2, 0.5)
    assert g.ci95_low is not None and g.ci95_low < 0.5 < g.ci95_high  # type: ignore[operator]
    assert g.mean_duration_s == 4.0 and g.p50_duration_s == 2 and g.p95_duration_s == 10
    assert g.tokens_per_success == 200  # 400 tokens spent for 2 successes
    assert g.failures == {"hidden check failed": 1, "timeout": 1}
    assert (g.calibration.tp, g.calibration.fp) == (2, 1)
    [single] = group_stats(rs[:1], repeat=1)
    assert single.ci95_low is None  # no interval without repeats


@pytest.mark.parametrize(("status", "verdict", "error", "failed_step", "pattern", "reason"), [
    ("failed", None, "the tests still fail after 2 attempt(s): pytest: exit 1", "implement", "plan-implement-review",
     "tests failed"),
    ("failed", None, "the implementer made no change: it submitted 3 time(s) without changing any file", "implement",
     "plan-implement-review", "patch refused"),
    ("failed", None, "planner: the plan did not validate after 3 repairs: steps: field required", "plan",
     "plan-implement-review", "plan invalid"),
    ("failed", "rejected", "the reviewer rejected the change after 1 round(s): no", "review", "plan-implement-review",
     "reviewer rejected"),
    ("failed", "rejected", "validation rejected the fix: a test was skipped", "validate", "triage-fix-validate",
     "validator rejected"),
    ("failed", None, "step 'implement' timed out after 900s; raise step_timeout_s", "implement",
     "plan-implement-review", "timeout"),
    ("failed", None, "the run exceeded its wall-time limit of 60s (run_timeout_s)", "implement",
     "plan-implement-review", "timeout"),
    ("failed", None, "token budget exceeded: 5000 > 4000 (budget_tokens)", "implement", "plan-implement-review",
     "budget"),
    ("cancelled", None, "cancelled (SIGINT)", "implement", "plan-implement-review", "interrupted"),
    ("succeeded", "approved", None, None, "plan-implement-review", "hidden check failed"),
])
def test_failure_reasons_are_grouped_from_the_run_record(status: str, verdict: str | None, error: str | None,
                                                         failed_step: str | None, pattern: str, reason: str) -> None:
    from baton.pipelines.eval.case import classify
    from baton.pipelines.models import RunRecord, Scope, StepRecord

    steps = [StepRecord(name="plan", status="succeeded")]
    if failed_step and failed_step != "plan":
        steps.append(StepRecord(name=failed_step, status="failed"))
    elif failed_step == "plan":
        steps = [StepRecord(name="plan", status="failed")]
    rec = RunRecord(id="r", pattern=pattern, task="t", scope=Scope(root="/w"), status=status, verdict=verdict,
                    error=error, steps=steps)
    assert classify(rec, CheckResult(passed=False)).value == reason
