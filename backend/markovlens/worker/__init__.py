"""The worker runtime: claim/lease/heartbeat, reaper, Huey transport, runner, child process.

Life of a job (the ``jobs`` row is the truth; the queue only carries its id)::

    submit_job ──> queued ──claim (atomic UPDATE, attempts+1)──> running ──> succeeded
                     ▲  │                                          │  ├──> failed (child error,
                     │  └─cancel_job──> cancelled <──cancel flag───┤  │     crash, exit code)
                     │                                             │  └──> cancelled
                     └──── reaper: lease expired, attempts < max ──┘
                           (attempts = max: failed "worker lost N times (lease expired)")

Submission and the catalog reads are the service layer's (``markovlens.service``). Modules
here: ``queue`` (Huey per named queue), ``routing`` (device classes, which queue a job goes
to), ``claim`` (conditional UPDATEs), ``reaper``, ``runner`` (parent side, in a consumer
thread), ``child`` (spawned process, runs ``service.workflow.run_sources``), ``presence`` (the
worker's row in the ``workers`` table), ``worker`` (threads, ``run_worker``,
``start_embedded``).
"""
