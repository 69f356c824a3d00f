"""The review round that plan-implement-review and triage-fix-validate share: the reviewer
judges the change, and while rounds remain a rejection goes back to the same implementer
conversation for a revision, checked at submit like the first attempt.

What the reviewer is asked and what each verdict leaves behind (artifacts, messages) stay
with the pattern; only the rounds' mechanics live here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from ..agents.base import Agent, render
from ..artifacts import render_review_md
from ..engine import RunContext
from ..models import ChangeSet, ChangesSubmission, Review, Role, StepRecord
from .common import SandboxBench, Workbench


class SubmitCheck(Protocol):
    """What checks the implementer's submit (tests, validation); reset for each revision step."""

    def reset(self, step: StepRecord | None = None) -> None: ...

    async def check(self, submission: ChangesSubmission) -> str | None: ...


@dataclass
class Reviewed:
    """The last review, and the change and submission it judged."""

    review: Review
    changes: ChangeSet
    submission: ChangesSubmission
    rounds: int


def submission_text(sub: ChangesSubmission) -> str:
    """The implementer's account of its change, as the reviewer (and a PR description) reads it."""
    text = sub.summary.strip()
    if sub.notes.strip():
        text += "\n\nNotes: " + sub.notes.strip()
    return text


async def review_rounds(
    ctx: RunContext,
    bench: Workbench,
    sb: SandboxBench,
    *,
    reviewer: Agent[Review],
    implementer: Agent[ChangesSubmission],
    gate: SubmitCheck,
    submission: ChangesSubmission,
    changes: ChangeSet,
    request: Callable[[int, ChangesSubmission, ChangeSet], str],
    on_review: Callable[[Review, int], Awaitable[None]],
) -> Reviewed:
    """Up to `review_rounds + 1` reviews, with a revision after each rejection but the last.

    `request(round_no, submission, changes)` is the reviewer's message; `on_review(review,
    round_no)` runs inside the review step (artifacts, messages)."""
    rounds = ctx.settings.review_rounds + 1
    review: Review | None = None
    for round_no in range(1, rounds + 1):
        step = "review" if round_no == 1 else f"review:{round_no}"
        async with ctx.step(step, Role.reviewer):
            review = await reviewer.run(request(round_no, submission, changes), step=step)
            await on_review(review, round_no)
        if review.verdict == "approved" or round_no == rounds:
            break
        revise = f"revise:{round_no}"
        async with ctx.step(revise, Role.implementer) as step_rec:
            gate.reset(step_rec)
            submission = await implementer.run(
                render("revise_request", round=round_no, review=render_review_md(review, round_no=round_no)),
                step=revise, on_submit=gate.check)
        changes = await bench.record_changes(sb)
    assert review is not None  # rounds >= 1 (review_rounds >= 0)
    return Reviewed(review, changes, submission, rounds)
