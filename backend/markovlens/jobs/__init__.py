"""Jobs: submit, claim/lease/heartbeat, reaper, Huey transport, worker, child runner.

Life of a job (the ``jobs`` row is the truth; the queue only carries its id)::

    submit_job ──> queued ──claim (atomic UPDATE, attempts+1)──> running ──> succeeded
                     ▲  │                                          │  ├──> failed (child error,
                     │  └─cancel_job──> cancelled <──cancel flag───┤  │     crash, exit code)
                     │                                             │  └──> cancelled
                     └──── reaper: lease expired, attempts < max ──┘
                           (attempts = max: failed "worker lost N times (lease expired)")

Modules: ``service`` (what the API and CLI call), ``schemas`` (shared pydantic I/O),
``queue`` (Huey per named queue), ``claim`` (conditional UPDATEs), ``reaper``, ``runner``
(parent side, in a consumer thread), ``child`` (spawned process), ``worker`` (threads,
``run_worker``, ``start_embedded``).
"""
