"""The replica pool: least-in-flight choice, caps, bounded waiting, failure and recovery."""

from __future__ import annotations

import asyncio

import pytest

from autan.llm.config import ModelConfig, ReplicaConfig
from autan.llm.errors import ModelOverloaded, ModelUnavailable
from autan.llm.pool import ModelPool


def make_pool(
    replicas: int = 2, cap: int = 2, queue_size: int = 4, timeout: float = 0.2
) -> ModelPool:
    config = ModelConfig(
        id="m",
        max_concurrent=cap,
        replicas=[ReplicaConfig(url=f"http://r{i}/v1", name=f"r{i}") for i in range(replicas)],
    )
    return ModelPool(config, queue_size=queue_size, queue_timeout=timeout, retry_after=3)


async def test_requests_go_to_the_least_busy_replica() -> None:
    pool = make_pool(cap=10)
    first = await pool.acquire()
    second = await pool.acquire()
    assert {first.name, second.name} == {"r0", "r1"}
    third = await pool.acquire()
    pool.release(first)
    fourth = await pool.acquire()
    assert fourth.name == first.name, "the replica that freed a slot is now the least busy"
    assert third.in_flight == 2


async def test_a_full_pool_queues_then_refuses_quickly() -> None:
    pool = make_pool(replicas=1, cap=1, queue_size=1, timeout=0.2)
    await pool.acquire()
    waiter = asyncio.create_task(pool.acquire())
    await asyncio.sleep(0)
    with pytest.raises(ModelOverloaded) as refused:
        await pool.acquire()  # the queue (1) is full: refused at once
    # Refused before the queued waiter's 0.2 s ran out: the refusal never waited in the queue.
    assert not waiter.done()
    assert refused.value.retry_after == 3
    with pytest.raises(ModelOverloaded):
        await waiter  # waited its 0.2 s, then refused
    assert pool.replicas[0].in_flight == 1


async def test_a_freed_slot_goes_to_the_oldest_waiter() -> None:
    pool = make_pool(replicas=1, cap=1, timeout=2)
    held = await pool.acquire()
    waiters = [asyncio.create_task(pool.acquire()) for _ in range(2)]
    await asyncio.sleep(0)
    pool.release(held)
    got = await waiters[0]
    assert got is held and held.in_flight == 1
    assert not waiters[1].done()
    pool.release(got)
    await waiters[1]
    pool.release(held)
    assert held.in_flight == 0


async def test_a_cancelled_waiter_does_not_leak_a_slot() -> None:
    pool = make_pool(replicas=1, cap=1, timeout=2)
    held = await pool.acquire()
    waiter = asyncio.create_task(pool.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    pool.release(held)  # the cancelled waiter is skipped
    assert held.in_flight == 0


async def test_failures_take_a_replica_out_and_success_brings_it_back() -> None:
    pool = make_pool(replicas=2, cap=1, timeout=1)
    r0, r1 = pool.replicas
    pool.mark_failure(r0, "connection refused")
    assert not r0.healthy and r0.last_error == "connection refused"
    assert (await pool.acquire()) is r1
    # r1 is full and r0 is out: this request waits...
    waiter = asyncio.create_task(pool.acquire())
    await asyncio.sleep(0)
    pool.mark_success(r0)  # ...and is served as soon as r0 comes back.
    assert (await waiter) is r0


async def test_waiters_fail_fast_when_the_last_replica_goes_down() -> None:
    pool = make_pool(replicas=1, cap=1, timeout=5)
    replica = await pool.acquire()
    waiter = asyncio.create_task(pool.acquire())
    await asyncio.sleep(0)
    pool.mark_failure(replica, "timeout")
    with pytest.raises(ModelUnavailable):
        await waiter
    with pytest.raises(ModelUnavailable):
        await pool.acquire()


async def test_a_retry_never_goes_back_to_the_replica_that_failed() -> None:
    pool = make_pool(replicas=2, cap=1)
    assert (await pool.acquire(exclude=frozenset({"r0"}))).name == "r1"
    with pytest.raises(ModelOverloaded):
        await pool.acquire(exclude=frozenset({"r0"}))


async def test_one_organisation_cannot_hold_every_slot() -> None:
    config = ModelConfig(
        id="m",
        max_concurrent=2,
        max_concurrent_per_org=2,
        replicas=[ReplicaConfig(url=f"http://r{i}/v1", name=f"r{i}") for i in range(2)],
    )
    pool = ModelPool(config, queue_size=8, queue_timeout=2, retry_after=3)
    flood = [await pool.acquire(org="a") for _ in range(2)]
    # Two slots of four are free, but "a" holds its share: its next request waits...
    queued = asyncio.create_task(pool.acquire(org="a"))
    await asyncio.sleep(0)
    assert not queued.done()
    # ...while another organisation is served at once, twice, even behind "a" in the queue.
    others = [await pool.acquire(org="b") for _ in range(2)]
    assert sum(r.in_flight for r in pool.replicas) == 4
    late = asyncio.create_task(pool.acquire(org="b"))
    await asyncio.sleep(0)
    # A slot freed by "b" goes to "b"'s waiter: "a", older in the queue, is still at its cap.
    pool.release(others[0], "b")
    assert (await late) is others[0] and not queued.done()
    # A slot freed by "a" goes to "a"'s waiter.
    pool.release(flood[0], "a")
    assert (await queued) is flood[0]
    for replica, org in [(flood[0], "a"), (flood[1], "a"), (others[0], "b"), (others[1], "b")]:
        pool.release(replica, org)
    assert [r.in_flight for r in pool.replicas] == [0, 0]
