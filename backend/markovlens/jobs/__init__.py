"""Jobs: submit, claim/lease/heartbeat, reaper, Huey transport, worker, child runner."""
