"""Background jobs as PostgreSQL rows that any cloud replica claims with a lease (issue 20, ADR 0031).

A job is a ``background_job`` row (tenant table, RLS): ``kind`` names its handler, ``params`` its input and
the principal it runs as. :func:`enqueue` writes the row in the caller's transaction (so a job exists only
if the request that asked for it committed); every replica's :class:`~cloud.jobs.runner.JobRunner` claims
due rows (``FOR UPDATE SKIP LOCKED``, one short transaction), works outside any transaction, renews its
lease while it works (heartbeat) and finally stores the result file in the blob store and the digest in
the row. A replica that dies stops renewing; when the lease has run out the row is due again and another
replica starts the job over (``attempts`` counts the claims; a job claimed ``max_attempts`` times without
finishing is failed). Every write to the row after the claim is fenced by ``claimed_by``, so a replica that
lost its lease (paused, cut off) can no longer overwrite the new owner's progress or result.
"""

from __future__ import annotations

from cloud.jobs.records import (
    Actor,
    JobResult,
    actor_of,
    enqueue,
    get_job,
    list_jobs,
    result_bytes,
)
from cloud.jobs.runner import Handler, JobContext, JobRunner

__all__ = [
    "Actor",
    "Handler",
    "JobContext",
    "JobResult",
    "JobRunner",
    "actor_of",
    "enqueue",
    "get_job",
    "list_jobs",
    "result_bytes",
]
