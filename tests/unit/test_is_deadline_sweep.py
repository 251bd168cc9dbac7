"""DeadlineSweep, the timing wheel for open WebSockets: members are touched at their own deadlines only."""

from __future__ import annotations

from twisted.internet.task import Clock

from interfaceserver.sweep import DeadlineSweep, Sweep, cancel


class Member:
    """Asks to be checked every ``every`` seconds, ``times`` times; records when it was checked."""

    def __init__(self, every: float, times: int = 1000) -> None:
        self.every = every
        self.times = times
        self.checked: list[float] = []

    def check(self, now: float) -> float | None:
        self.checked.append(now)
        return now + self.every if len(self.checked) < self.times else None


def test_members_are_checked_at_their_deadlines_not_every_period():
    """With a 5 s granularity, a member due every 20 s is checked 3 times in 60 s (a plain sweep: 12)."""
    clock = Clock()
    sweep = DeadlineSweep(clock, 5.0)
    member = Member(20.0)
    sweep.add(member, 20.0)
    clock.pump([1.0] * 61)
    assert member.checked == [20.0, 40.0, 60.0]


def test_deadlines_are_rounded_up_to_the_granularity_and_never_early():
    clock = Clock()
    sweep = DeadlineSweep(clock, 5.0)
    member = Member(7.0, times=2)
    sweep.add(member, 3.0)
    clock.pump([0.5] * 40)
    assert member.checked == [5.0, 15.0]  # 3 → 5; then 5 + 7 = 12 → 15; then it leaves
    assert len(sweep) == 0 and clock.getDelayedCalls() == []


def test_one_timer_for_many_members_and_none_when_empty():
    clock = Clock()
    sweep = DeadlineSweep(clock, 1.0)
    members = [Member(float(i % 7 + 1)) for i in range(100)]
    for member in members:
        sweep.add(member)
    assert len(clock.getDelayedCalls()) == 1
    clock.pump([1.0] * 10)
    assert len(clock.getDelayedCalls()) == 1
    for member in members:
        sweep.discard(member)
    clock.advance(1.0)
    assert clock.getDelayedCalls() == []


def test_an_earlier_deadline_rearms_the_timer_and_add_moves_a_member():
    clock = Clock()
    sweep = DeadlineSweep(clock, 1.0)
    late, soon = Member(100.0), Member(100.0)
    sweep.add(late, 50.0)
    sweep.add(soon, 3.0)
    clock.pump([1.0] * 4)
    assert soon.checked == [3.0] and late.checked == []
    sweep.add(late, 6.0)  # moved, not duplicated
    clock.pump([1.0] * 60)
    assert late.checked == [6.0]
    assert len(sweep) == 2


def test_a_failing_member_is_logged_and_checked_again():
    class Broken:
        calls = 0

        def check(self, now: float) -> float | None:
            Broken.calls += 1
            raise RuntimeError("boom")

    clock = Clock()
    sweep = DeadlineSweep(clock, 1.0)
    sweep.add(Broken())
    clock.pump([1.0] * 3)
    assert Broken.calls == 3


def test_stopped_sweeps_leave_no_timer_and_cancel_tolerates_spent_calls():
    """stop() removes both kinds of sweep's pending timer; cancel() accepts None and calls that already ran."""
    clock = Clock()
    sweep, wheel = Sweep(clock, 1.0), DeadlineSweep(clock, 1.0)
    sweep.add(object())
    wheel.add(object(), 5.0)
    assert len(clock.getDelayedCalls()) == 2
    sweep.stop()
    wheel.stop()
    assert clock.getDelayedCalls() == []
    ran = clock.callLater(0, lambda: None)
    clock.advance(0)
    cancel(ran)
    cancel(None)
